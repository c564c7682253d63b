#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: memtester_run
short_description: Run memtester on a live host, bounded by free memory, time and loops, and parse its verdict
version_added: "0.1.0"
description:
  - Sizes the test from C(MemAvailable) in C(/proc/meminfo) (a share of it minus a fixed margin) so the host is never
    pushed into the OOM killer; a requested size above that limit is cut and the result says so.
  - Runs C(memtester SIZE LOOPS) under C(timeout) so it stops at O(max_seconds) whatever happens; parses its output
    (module_utils/memtester.py) and returns the verdict (passed, failed with the failing offsets, incomplete with why).
  - Leaves nothing behind on the host (the locked memory is released when memtester exits). In check mode it only
    plans the run and says what it would do.
  - Used by the P(pteguard.remediation.memory_test#role) role, which also reads the kernel log before and after.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Plans the run (size, loops, time) and does not start memtester.
    support: full
  diff_mode:
    description: Nothing on the host changes.
    support: none
options:
  size_mb:
    description: MiB to test; default is the whole safe limit. Cut to the limit when above it.
    type: int
  available_percent:
    description: Share of C(MemAvailable) the test may lock at most.
    type: int
    default: 50
  margin_mb:
    description: MiB kept free on top of the share, whatever the share allows.
    type: int
    default: 256
  min_mb:
    description: Smallest test worth running; below it the run is incomplete with the reason.
    type: int
    default: 4
  loops:
    description: memtester loops (each runs every test once over the whole buffer).
    type: int
    default: 1
  max_seconds:
    description: Wall-clock limit; memtester is interrupted at it and the run is incomplete.
    type: int
    default: 600
  memtester_path:
    description: The memtester binary; looked up in PATH when unset.
    type: path
  meminfo:
    description: Where to read the memory figures.
    type: path
    default: /proc/meminfo
"""

EXAMPLES = r"""
- name: Test up to 256 MiB of free memory once, at most 5 minutes
  pteguard.remediation.memtester_run:
    size_mb: 256
    loops: 1
    max_seconds: 300
  register: memory_test_memtester
"""

RETURN = r"""
plan:
  description: The size decided, MemAvailable and the safe limit in MiB, why the size was cut (or null), loops and time limit.
  returned: always
  type: dict
  sample: {"size_mb": 64, "available_mb": 812, "limit_mb": 150, "why": null, "loops": 1, "max_seconds": 300}
ran:
  description: Whether memtester was started (false in check mode or when no safe size was left).
  returned: always
  type: bool
rc:
  description: memtester's exit status (a bit mask) or null when it did not run; 124 means the time limit stopped it.
  returned: always
  type: int
timed_out:
  description: Whether the time limit stopped memtester.
  returned: always
  type: bool
parsed:
  description: memtester's output parsed (version, sizes, locked, loops, tests, failures, done), or null.
  returned: always
  type: dict
verdict:
  description: C(result) passed, failed or incomplete; C(reasons); C(addresses) of failing offsets.
  returned: always
  type: dict
  sample: {"result": "passed", "reasons": [], "addresses": []}
output_tail:
  description: The last lines of memtester's output (progress backspaces applied).
  returned: always
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.memtester import (
    MemtesterParseError,
    apply_backspaces,
    parse_memtester,
    plan_size_mb,
    verdict,
)

TIMEOUT_RC = 124


def main():
    module = AnsibleModule(
        argument_spec=dict(
            size_mb=dict(type="int"),
            available_percent=dict(type="int", default=50),
            margin_mb=dict(type="int", default=256),
            min_mb=dict(type="int", default=4),
            loops=dict(type="int", default=1),
            max_seconds=dict(type="int", default=600),
            memtester_path=dict(type="path"),
            meminfo=dict(type="path", default="/proc/meminfo"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for name in ("loops", "max_seconds", "min_mb"):
        if p[name] < 1:
            module.fail_json(msg="%s must be at least 1 (got %d)" % (name, p[name]))
    if not 1 <= p["available_percent"] <= 90:
        module.fail_json(msg="available_percent must be 1..90 (got %d)" % p["available_percent"])
    if p["size_mb"] is not None and p["size_mb"] < 1:
        module.fail_json(msg="size_mb must be at least 1 (got %d)" % p["size_mb"])
    memtester = p["memtester_path"] or module.get_bin_path("memtester")
    if not memtester:
        module.fail_json(msg="memtester is not installed on this host (package memtester)")
    timeout_bin = module.get_bin_path("timeout", required=True)
    try:
        with open(p["meminfo"]) as fh:
            meminfo = fh.read()
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (p["meminfo"], exc))
    plan = plan_size_mb(meminfo, p["size_mb"], p["available_percent"], p["margin_mb"], p["min_mb"])
    plan.update(loops=p["loops"], max_seconds=p["max_seconds"])
    result = dict(changed=False, plan=plan, ran=False, rc=None, timed_out=False, parsed=None, output_tail="")
    if plan["size_mb"] == 0:
        result["verdict"] = {"result": "incomplete", "reasons": [plan["why"]], "addresses": []}
        module.exit_json(**result)
    if module.check_mode:
        result["verdict"] = {"result": "incomplete", "addresses": [],
                             "reasons": ["check mode: would run memtester %dM %d (at most %ds)"
                                         % (plan["size_mb"], p["loops"], p["max_seconds"])]}
        module.exit_json(**result)
    # SIGINT first so memtester frees its locked buffer; KILL 10 s later if it does not stop
    argv = [timeout_bin, "--signal=INT", "--kill-after=10", str(p["max_seconds"]), memtester,
            "%dM" % plan["size_mb"], str(p["loops"])]
    rc, out, err = module.run_command(argv, environ_update={"LC_ALL": "C"})
    text = out + err
    timed_out = rc in (TIMEOUT_RC, 137)
    try:
        parsed = parse_memtester(text)
    except MemtesterParseError as exc:
        if rc not in (0, TIMEOUT_RC):
            module.fail_json(msg="memtester failed (rc=%d): %s" % (rc, (err or out).strip()[-300:]), rc=rc)
        parsed = None
        text = text or str(exc)
    result.update(ran=True, rc=rc, timed_out=timed_out, parsed=parsed,
                  output_tail="\n".join(apply_backspaces(text.replace("\r", "")).splitlines()[-15:]),
                  verdict=verdict(parsed, None if timed_out else rc, timed_out))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
