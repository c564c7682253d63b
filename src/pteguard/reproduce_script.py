"""A shell script per failed step that reruns it by hand: the exact ansible-playbook command, inventory, limit and
extra vars, every word quoted with shlex.quote (inventory data never becomes shell syntax)."""

from __future__ import annotations

import json
import os
import shlex
import sys

from pteguard import atomic_file

_ENV = ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_HOST_KEY_CHECKING", "ANSIBLE_TIMEOUT",
        "ANSIBLE_TASK_TIMEOUT", "ANSIBLE_PIPELINING")


def argv(playbook, inventories, host, extravars):
    words = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook")]
    for inventory in inventories:
        words.extend(["-i", os.path.abspath(inventory)])
    words.extend(["--limit", host])
    if extravars:
        words.extend(["-e", json.dumps(extravars, sort_keys=True)])
    words.append(playbook)
    return words


def write(folder, name, run_id, change_id, host, step, playbook, inventories, extravars, env, message):
    os.makedirs(folder, exist_ok=True)
    lines = ["#!/bin/sh",
             "# Reruns step %s on host %s as pteguard run %s (change %s) ran it." % (
                 step, shlex.quote(host), run_id, change_id),
             "# It failed with: %s" % " ".join(str(message or "").split())[:300],
             "set -eu"]
    lines.extend("export %s=%s" % (key, shlex.quote(env[key])) for key in _ENV if env.get(key))
    lines.append("exec " + " ".join(shlex.quote(word) for word in argv(playbook, inventories, host, extravars)))
    path = os.path.join(folder, name)
    atomic_file.write(path, "\n".join(lines) + "\n", mode=0o750)
    return path
