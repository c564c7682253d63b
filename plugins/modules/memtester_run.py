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
  - Takes a kernel-log cursor first (the journal's, else a count of the memory errors dmesg shows). The parser is
    module_utils/kernel_log_collect.py, the same as M(pteguard.remediation.kernel_log_info)'s.
  - Starts C(memtester SIZE LOOPS) as a transient systemd service (C(systemd-run), C(RuntimeMaxSec) as a safety net
    should the module die) and reads the kernel log every O(poll_seconds) while it runs. At the first new corrected
    or uncorrected memory error (machine check, EDAC, memory failure) it stops memtester and the verdict is
    C(failed) with that finding as evidence. At O(max_seconds) it stops memtester and the run is incomplete.
  - Without systemd (C(systemd-run) missing or no systemd running) memtester runs under C(timeout) and the kernel log
    is read once afterwards (no early stop), and the window in RV(kernel_log) says so.
  - Parses memtester's output (module_utils/memtester.py) and returns the verdict (passed, failed with the failing
    offsets or kernel findings, incomplete with why). Leaves nothing behind (the service and its output file are
    removed). In check mode it only plans the run and says what it would do.
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
  watch_kernel_log:
    description: Read the kernel log while memtester runs and stop at the first new memory error.
    type: bool
    default: true
  poll_seconds:
    description: Seconds between two reads of the kernel log (and of memtester's state).
    type: int
    default: 5
  kernel_categories:
    description: Kernel-log finding categories that count as a memory error.
    type: list
    elements: str
    default: [memory_error_corrected, memory_error_uncorrected, memory_page_offlined, bad_page_state,
              machine_check_other]
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
memtester_rc:
  description:
    - memtester's exit status (a bit mask), 128 plus the signal when it was stopped (time limit, kernel error), or
      null when it did not run. Not named C(rc), which Ansible would take for the task's own failure.
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
kernel_log:
  description:
    - C(window) how new kernel messages were told apart (journal cursor, dmesg count, after the run, none, or
      not watched), C(polls) how many reads were made during the run, C(findings) the new memory findings (category,
      message, mce_status, address...), C(stopped_early) whether one of them stopped memtester, C(reason) when the
      kernel log could not be read.
  returned: always
  type: dict
  sample: {"window": "journal cursor", "polls": 7, "stopped_early": true, "reason": null,
           "findings": [{"category": "memory_error_corrected", "severity": "warning", "mce_status": "0x9c00004000010090",
                         "message": "mce: [Hardware Error]: CPU 0: Machine Check: 0 Bank 7: 9c00004000010090"}]}
launcher:
  description: How memtester was started (systemd-run, or timeout without systemd), or null when it was not.
  returned: always
  type: str
"""

import os
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.memtester import (
    MEMORY_CATEGORIES,
    KernelMemoryWatch,
    MemtesterParseError,
    apply_backspaces,
    parse_memtester,
    plan_size_mb,
    verdict,
)

TIMEOUT_RC = 124
STOP_GRACE = 15
# systemd's ExecMainCode values (waitid's si_code): exited, killed by a signal, dumped core
CLD_EXITED = 1


class SystemdRun(object):
    """memtester as a transient service: started, watched and stopped with systemd's own tools (argv lists)."""

    def __init__(self, module, systemd_run, systemctl, max_seconds):
        self.module = module
        self.systemd_run = systemd_run
        self.systemctl = systemctl
        self.unit = "pteguard-memtester-%d-%s" % (os.getpid(), os.urandom(3).hex())
        self.output = "/run/%s.log" % self.unit
        self.max_seconds = max_seconds

    def _run(self, argv):
        return self.module.run_command(argv, environ_update={"LC_ALL": "C"})

    def start(self, argv):
        """(started, error): error names why systemd cannot run it (None when started)."""
        rc, out, err = self._run([
            self.systemd_run, "--unit=" + self.unit, "--service-type=exec", "--quiet", "--setenv=LC_ALL=C",
            "--property=RemainAfterExit=yes", "--property=KillSignal=SIGINT",
            "--property=RuntimeMaxSec=%d" % (self.max_seconds + 60),
            "--property=StandardOutput=file:" + self.output, "--"] + argv)
        if rc != 0:
            return False, (err or out).strip().splitlines()[-1:] or ["systemd-run exited with %d" % rc]
        return True, None

    def state(self):
        """(running, rc): rc like a shell's (exit status, or 128+signal), None while running."""
        rc, out, err = self._run([self.systemctl, "show", self.unit, "--property=SubState,ExecMainCode,ExecMainStatus"])
        if rc != 0:
            self.module.fail_json(msg="systemctl show %s failed (rc=%d): %s" % (self.unit, rc, (err or out).strip()))
        props = dict(line.partition("=")[::2] for line in out.splitlines())
        if props.get("SubState") in ("running", "start", "start-pre", "start-post"):
            return True, None
        code, status = int(props.get("ExecMainCode") or 0), int(props.get("ExecMainStatus") or 0)
        return False, status if code == CLD_EXITED else 128 + status

    def stop(self):
        """SIGINT (memtester frees its buffer), SIGKILL after a grace period; the rc it ended with."""
        self._run([self.systemctl, "kill", "--signal=SIGINT", self.unit])
        deadline = time.monotonic() + STOP_GRACE
        while time.monotonic() < deadline:
            running, rc = self.state()
            if not running:
                return rc
            time.sleep(0.5)
        self._run([self.systemctl, "kill", "--signal=SIGKILL", self.unit])
        time.sleep(1)
        return self.state()[1]

    def collect(self):
        """memtester's output, and the service and its file gone."""
        try:
            with open(self.output, "rb") as fh:
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            text = ""
        self._run([self.systemctl, "stop", self.unit])
        self._run([self.systemctl, "reset-failed", self.unit])
        try:
            os.unlink(self.output)
        except OSError:
            pass
        return text


def run_watched(module, launcher, argv, watch):
    """Run memtester under systemd, reading the kernel log every poll; (rc, text, timed_out, findings, early)."""
    p = module.params
    deadline = time.monotonic() + p["max_seconds"]
    rc, timed_out, findings, early = None, False, [], False
    try:
        while True:
            time.sleep(min(p["poll_seconds"], max(0.2, deadline - time.monotonic())))
            running, rc = launcher.state()
            findings = watch.poll()
            if findings and running:
                rc, early = launcher.stop(), True
                break
            if not running:
                break
            if time.monotonic() >= deadline:
                rc, timed_out = launcher.stop(), True
                break
    except CollectError as exc:
        launcher.stop()
        launcher.collect()
        module.fail_json(msg="reading the kernel log during the test failed: %s" % exc)
    return rc, launcher.collect(), timed_out, findings, early


def run_blocking(module, timeout_bin, argv, watch):
    """Without systemd: memtester under timeout, the kernel log read once after it."""
    p = module.params
    # SIGINT first so memtester frees its locked buffer; KILL 10 s later if it does not stop
    rc, out, err = module.run_command([timeout_bin, "--signal=INT", "--kill-after=10", str(p["max_seconds"])] + argv,
                                      environ_update={"LC_ALL": "C"})
    timed_out = rc in (TIMEOUT_RC, 137)
    try:
        findings = watch.poll()
    except CollectError as exc:
        module.fail_json(msg="reading the kernel log after the test failed: %s" % exc)
    return (None if timed_out else rc), out + err, timed_out, findings


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
            watch_kernel_log=dict(type="bool", default=True),
            poll_seconds=dict(type="int", default=5),
            kernel_categories=dict(type="list", elements="str", default=list(MEMORY_CATEGORIES)),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for name in ("loops", "max_seconds", "min_mb", "poll_seconds"):
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
    kernel_log = {"window": "not watched", "polls": 0, "findings": [], "stopped_early": False, "reason": None}
    result = dict(changed=False, plan=plan, ran=False, memtester_rc=None, timed_out=False, parsed=None, output_tail="",
                  kernel_log=kernel_log, launcher=None)
    if plan["size_mb"] == 0:
        result["verdict"] = {"result": "incomplete", "reasons": [plan["why"]], "addresses": []}
        module.exit_json(**result)
    if module.check_mode:
        result["verdict"] = {"result": "incomplete", "addresses": [],
                             "reasons": ["check mode: would run memtester %dM %d (at most %ds)"
                                         % (plan["size_mb"], p["loops"], p["max_seconds"])]}
        module.exit_json(**result)

    watch = KernelMemoryWatch(ModuleHost(module), p["kernel_categories"])
    if p["watch_kernel_log"]:
        try:
            kernel_log["window"] = watch.start()
        except CollectError as exc:
            module.fail_json(msg="reading the kernel log before the test failed: %s" % exc)
        kernel_log["reason"] = watch.reason
    argv = [memtester, "%dM" % plan["size_mb"], str(p["loops"])]
    systemd_run, systemctl = module.get_bin_path("systemd-run"), module.get_bin_path("systemctl")
    if systemd_run and systemctl and os.path.isdir("/run/systemd/system"):
        launcher = SystemdRun(module, systemd_run, systemctl, p["max_seconds"])
        started, why = launcher.start(argv)
        if not started:
            module.fail_json(msg="systemd-run could not start memtester: %s" % " ".join(why))
        result["launcher"] = "systemd-run"
        rc, text, timed_out, findings, early = run_watched(module, launcher, argv, watch)
    else:
        result["launcher"] = "timeout"
        if p["watch_kernel_log"] and watch.window != "none":
            kernel_log["window"] = "after the run (%s; no systemd to run memtester beside the watch)" % watch.window
        rc, text, timed_out, findings = run_blocking(module, timeout_bin, argv, watch)
        early = False
    kernel_log.update(polls=watch.polls, findings=findings[:50], stopped_early=early)
    try:
        parsed = parse_memtester(text)
    except MemtesterParseError:
        if rc not in (0, None) and not early and not timed_out:
            module.fail_json(msg="memtester failed (rc=%s): %s" % (rc, text.strip()[-300:] or "no output"),
                             memtester_rc=rc)
        parsed = None
    outcome = verdict(parsed, None if (timed_out or early) else rc, timed_out and not early,
                      kernel_errors=[f["evidence"] for f in findings])
    if early:
        outcome["reasons"].insert(0, "memtester stopped at the first new kernel memory error: %s"
                                  % findings[0]["evidence"])
    if kernel_log["reason"]:
        outcome["reasons"].append(kernel_log["reason"])
    result.update(ran=True, memtester_rc=rc, timed_out=timed_out, parsed=parsed,
                  output_tail="\n".join(apply_backspaces(text.replace("\r", "")).splitlines()[-15:]),
                  verdict=outcome)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
