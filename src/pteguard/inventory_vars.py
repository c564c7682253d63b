"""The variables of each inventory host (host and group vars merged, as ansible-inventory resolves them).

The runner reads only the opt-in variables of its steps from them; nothing else is kept or written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pteguard import runner


def host_vars(inventories, env, names):
    """{host: {name: value}} for the variables `names` of every host; RunnerError when the inventory fails."""
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "--list"]
    for inventory in inventories:
        argv.extend(["-i", os.path.abspath(inventory)])
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=runner.INVENTORY_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise runner.RunnerError("could not read the inventory variables: %s" % exc)
    if proc.returncode != 0:
        raise runner.RunnerError(runner.inventory_error(proc.stderr) or "ansible-inventory failed (rc %d)"
                                 % proc.returncode)
    try:
        hostvars = (json.loads(proc.stdout).get("_meta") or {}).get("hostvars") or {}
    except (ValueError, AttributeError) as exc:
        raise runner.RunnerError("ansible-inventory printed no inventory: %s" % exc)
    return {host: {name: values[name] for name in names if name in values} for host, values in hostvars.items()}
