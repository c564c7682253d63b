#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stress_run
short_description: Reproduce an I/O or memory fault under a bounded load while watching the kernel log (fio, dd, stress-ng)
version_added: "0.3.0"
description:
  - Runs fio (C(--output-format=json), parsed by module_utils/fio_json.py; dd where fio is absent) against a block
    device or the block device under a directory, in slices, and reads the kernel log after each slice. The run
    stops at the first new kernel error finding or the first I/O error the tool sees, and the kernel findings
    printed during the run (device, sector, error class; the kernel-log parser's own records) are the result.
  - Read-only by default (fio's own C(--readonly) too). C(write-scratch) writes only a scratch file in a directory,
    after checking its filesystem keeps O(scratch_min_free_mb) free beyond the file, and removes the file.
    C(write-device) writes to a block device only when the device is listed in O(destructive_devices) for this host
    and O(allow_device_write) is true, and the device is not mounted or used as swap; otherwise it refuses before
    anything runs.
  - Bounded by O(size_mb) and O(max_seconds). Errors fio reports itself (EIO, or ENODATA, which is what Linux returns
    for a medium error; with the offset of its io_u error line) are tied to the kernel's findings for the same device
    and sector.
  - C(memory) mode loads RAM instead with C(stress-ng --vm N --vm-bytes SIZE --verify) (parsed by
    module_utils/stress_ng.py), sized from MemAvailable with a margin (the sizing memtester_run uses, so it never
    pushes the host into the OOM killer) and run in time slices with the kernel log read after each. It stops at
    the first new kernel memory error (a corrected one too) or the first verification failure stress-ng reports.
  - A run whose kernel log cannot be read is refused (O(kernel_log_required)), because a load without the kernel's
    view can never show a host clean.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Checks the target, the opt-ins and the free space, says what it would run, and runs nothing.
    support: full
  diff_mode:
    description: Nothing is kept on the host (the scratch file is removed).
    support: none
options:
  target:
    description:
      - A block device (C(/dev/sda)) or a directory. A directory is read through the block device under it; in
        C(write-scratch) mode the scratch file goes into it. Required by every mode but C(memory), which ignores it.
    type: path
  mode:
    description:
      - C(read) (default), C(write-scratch) (a scratch file in O(target)), C(write-device) (opt-in only), C(memory)
        (a verified RAM load with stress-ng; writes no file and no device).
    type: str
    choices: [read, write-scratch, write-device, memory]
    default: read
  size_mb:
    description:
      - MiB of I/O at most (cut to the device's size). In C(memory) mode the MiB of RAM loaded by all workers
        together, cut to O(memory_available_percent) of MemAvailable minus O(memory_margin_mb).
    type: int
    default: 256
  max_seconds:
    description: Wall-clock limit of the whole run; slices not started by then are not run.
    type: int
    default: 120
  slices:
    description:
      - Pieces the run is cut into; the kernel log is read after each one (bounded polling). In C(memory) mode the
        pieces are of time (O(max_seconds) / O(slices), at least 1 s each).
    type: int
    default: 16
  block_size_kb:
    description: I/O size in KiB.
    type: int
    default: 64
  direct:
    description: O_DIRECT I/O (bypass the page cache). Unset means on for block devices, off for scratch files.
    type: bool
  tool:
    description:
      - C(auto) uses fio and falls back to dd when fio is not installed; C(fio) or C(dd) insist. C(memory) mode
        always uses stress-ng.
    type: str
    choices: [auto, fio, dd]
    default: auto
  scratch_min_free_mb:
    description: MiB that must stay free on the scratch file's filesystem beyond the file; less refuses the run.
    type: int
    default: 1024
  destructive_devices:
    description: Block devices this host allows destructive write tests on (host variable). Compared by real path.
    type: list
    elements: path
    default: []
  allow_device_write:
    description: The explicit opt-in for C(write-device), together with O(destructive_devices).
    type: bool
    default: false
  kernel_log_required:
    description:
      - Refuse to run when neither dmesg nor the journal's kernel messages can be read. When false the run goes
        ahead, and a run without tool errors ends in C(error), never C(not_reproduced).
    type: bool
    default: true
  max_findings:
    description: Kernel findings kept in the result.
    type: int
    default: 50
  memory_workers:
    description: C(memory) mode, stress-ng vm workers (C(--vm N)); O(size_mb) is shared among them.
    type: int
    default: 1
  memory_available_percent:
    description: C(memory) mode, the share of MemAvailable that may be loaded at most (1..90).
    type: int
    default: 50
  memory_margin_mb:
    description: C(memory) mode, MiB kept free below that share, so the load never reaches the OOM killer.
    type: int
    default: 256
  interrupted_boot_id:
    description:
      - The boot id (C(/proc/sys/kernel/random/boot_id)) taken before a run the host did not answer after. When
        set, nothing is loaded; the module reports how that run ended, read from the boot the host is in now
        (C(journalctl -b -1) and the pstore records, judged by module_utils/boot_end.py, and the kernel findings of
        that boot's end). An unclean end of the boot that ran the load is C(reproduced) (an C(unexpected_reboot)
        finding, with the previous boot's freeze or panic lines); an orderly shutdown, an unknown end, or the same
        boot id (the connection broke, the host did not reboot) is C(error), with the reason.
    type: str
"""

EXAMPLES = r"""
- name: Stress | Read the disk the diagnosis names for at most 60 s
  pteguard.remediation.stress_run:
    target: /dev/sdb
    size_mb: 512
    max_seconds: 60
  register: stress_run_result

- name: Stress | Load and verify 512 MiB of RAM for at most 5 minutes, stopping at the first new memory error
  pteguard.remediation.stress_run:
    mode: memory
    size_mb: 512
    max_seconds: 300

- name: Stress | Write and verify a scratch file under /var/tmp
  pteguard.remediation.stress_run:
    target: /var/tmp
    mode: write-scratch
    size_mb: 128
"""

RETURN = r"""
reproduction:
  description:
    - The result. C(status) is C(reproduced) (a new kernel error finding for the target, or an I/O error the tool
      saw), C(not_reproduced) (the whole run finished, the kernel log was read, nothing new), C(refused) (a safety
      check said no before anything ran), C(error) (bad input, a tool failure, or an unread kernel log), or
      C(planned) in check mode.
    - C(findings) are kernel-log findings (the shape kernel_log_info returns) that appeared during the run, each
      with C(matches_target); C(io_errors) the tool's own errors with C(errno), C(offset), C(sector) and the
      C(kernel_lines) of the same device.
    - In C(memory) mode C(status) is C(reproduced) when stress-ng's verification failed (C(verify_failures), its
      C(fail) lines, or exit status 2) or a new kernel memory error appeared; C(memory) holds the sizing
      (C(size_mb), C(available_mb), C(limit_mb), C(why)), C(workers), C(bytes_per_worker), C(bogo_ops) and C(signals)
      (unexpected signals stress-ng's workers got; stress-ng does not count them as failures).
  returned: always
  type: dict
  sample:
    status: reproduced
    tool: fio
    mode: read
    target: /dev/sda
    device: sda
    seconds: 1.4
    bytes: 1048576
    stopped_early: true
    slices_run: 1
    slices_planned: 16
    kernel_log: {source: dmesg, watched: true}
    findings: [{category: block_io_error, severity: error, device: sda, sector: 2048, error_class: media,
                message: "critical medium error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2",
                matches_target: true}]
    io_errors: [{tool: fio, errno: 61, error: ENODATA, op: read, offset: 1048576, sector: 2048, same_sector: true,
                 kernel_lines: ["critical medium error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2"]}]
    message: "reproduced under a read load on sda: media error at sector 2048 of sda; fio: ENODATA at offset 1048576"
    plan: {size_bytes: 67108864, slice_bytes: 4194304, block_size: 65536, direct: true, argv: ["fio", "..."]}
"""

import os
import stat
import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.boot_end import previous_boot_end
from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.fio_json import (
    IO_ERRNOS, FioParseError, dd_error_offset, errno_name, parse_dd, parse_fio)
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_log_collect import collect_kernel_log
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_lines
from ansible_collections.pteguard.remediation.plugins.module_utils.memtester import (
    MEMORY_CATEGORIES, evidence_line, plan_size_mb)
from ansible_collections.pteguard.remediation.plugins.module_utils.stress_ng import (
    StressNgParseError, exit_reason, parse_stress_ng, verify_failed)

STOP_SEVERITIES = ("error", "critical")
JOURNAL_SETTLE = (6, 0.5)  # reads x seconds: journald picks kernel lines up from /dev/kmsg a moment later
SECTOR = 512
STORAGE_CATEGORIES = ("block_io_error", "storage_device_error")
MIB = 1048576
MEMINFO = "/proc/meminfo"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
PSTORE_DIRS = ("/sys/fs/pstore", "/var/lib/systemd/pstore")
PREVIOUS_BOOT_LINES = 5000


class Refused(Exception):
    """A check said no before anything ran: status refused."""


class BadInput(Exception):
    """The target or the options cannot be used: status error."""


def disk_of(name):
    """The whole disk a partition belongs to (sda for sda1, nvme0n1 for nvme0n1p2), and the partition's start."""
    base = "/sys/class/block/%s" % name
    start = 0
    if os.path.exists(base + "/partition"):
        try:
            with open(base + "/start") as handle:
                start = int(handle.read().strip()) * SECTOR
        except (OSError, ValueError):
            start = 0
        return os.path.basename(os.path.dirname(os.path.realpath(base))), start
    return name, 0


def device_bytes(name):
    try:
        with open("/sys/class/block/%s/size" % name) as handle:
            return int(handle.read().strip()) * SECTOR
    except (OSError, ValueError):
        return None


def backing_device(directory):
    """/dev/NAME of the block device a directory's filesystem sits on, or None (tmpfs, overlay, NFS...)."""
    st_dev = os.stat(directory).st_dev
    link = "/sys/dev/block/%d:%d" % (os.major(st_dev), os.minor(st_dev))
    if not os.path.exists(link):
        return None
    path = "/dev/" + os.path.basename(os.path.realpath(link))
    return path if os.path.exists(path) else None


def in_use(device):
    """Why a block device must not be written (mounted, swap, held by device-mapper/md), or None."""
    names = [device]
    name = os.path.basename(device)
    holders = []
    for part in [name] + sorted(p for p in _listdir("/sys/class/block/%s" % name) if p.startswith(name)):
        names.append("/dev/" + part)
        holders += ["%s (held by %s)" % (part, h) for h in _listdir("/sys/class/block/%s/holders" % part)]
    for path, what in (("/proc/self/mounts", "mounted"), ("/proc/swaps", "used as swap")):
        try:
            with open(path) as handle:
                for line in handle:
                    source = line.split()[0] if line.strip() else ""
                    if source.startswith("/") and os.path.realpath(source) in names:
                        return "%s is %s" % (source, what)
        except OSError:
            continue
    return holders[0] if holders else None


def _listdir(path):
    try:
        return os.listdir(path)
    except OSError:
        return []


def matches(finding_device, name, disk):
    if not finding_device:
        return False
    if finding_device in (name, disk):
        return True
    rest = finding_device[len(disk):] if finding_device.startswith(disk) else None
    return bool(rest) and rest.lstrip("p").isdigit()


class KernelWatch(object):
    """New kernel-log findings since start(): dmesg (immediate) or, where dmesg is closed, the journal's cursor.

    The parsing is the collection's own: scan_lines on dmesg's new lines, collect_kernel_log for the journal.
    """

    def __init__(self, host, max_findings):
        self.host = host
        self.max_findings = max_findings
        self.source = None
        self.reason = None
        self.anchor = None
        self.cursor = None

    def start(self):
        dmesg = self.host.which("dmesg")
        reasons = []
        if dmesg:
            rc, out, err = self.host.run([dmesg], binary=True)
            lines = out.splitlines() if rc == 0 else []
            if lines:
                self.source, self.anchor = "dmesg", lines[-1]
                return True
            # a running kernel always has boot messages: empty output is a container's private /dev/kmsg
            reasons.append("dmesg printed nothing" if rc == 0 else
                           "dmesg exited with %d: %s" % (rc, (err or "").strip()[-200:]))
        else:
            reasons.append("dmesg is not installed")
        journalctl = self.host.which("journalctl")
        if journalctl:
            rc, out, _err = self.host.run([journalctl, "-k", "-b", "0", "-n", "1", "-o", "json", "--no-pager",
                                           "-q", "--show-cursor"])
            for line in (out or "").splitlines():
                if line.startswith("-- cursor: "):
                    self.cursor = line[len("-- cursor: "):].strip()
            if rc == 0 and self.cursor:
                self.source = "journal"
                return True
            reasons.append("the journal holds no kernel messages for this boot")
        else:
            reasons.append("journalctl is not installed")
        self.reason = "; ".join(reasons)
        return False

    def findings(self):
        """Every finding printed since start() (each read starts from the same point, so none is lost)."""
        if self.source == "dmesg":
            rc, out, _err = self.host.run([self.host.which("dmesg")], binary=True)
            if rc != 0:
                return []
            lines = out.splitlines()
            new = lines
            if self.anchor is not None:
                for index in range(len(lines) - 1, -1, -1):
                    if lines[index] == self.anchor:
                        new = lines[index + 1:]
                        break
            found = scan_lines(new, max_findings=self.max_findings)["findings"]
        elif self.source == "journal":
            try:
                found = collect_kernel_log(self.host, sources=["journal"], since=self.cursor,
                                           max_findings=self.max_findings)["findings"]
            except CollectError:
                return []
        else:
            return []
        for finding in found:
            finding["source"] = self.source
        return found


class StressRun(object):
    def __init__(self, module, host):
        self.module = module
        self.host = host
        self.p = module.params
        self.result = {"status": None, "tool": None, "mode": self.p["mode"], "target": self.p["target"],
                       "device": None, "seconds": 0.0, "bytes": 0, "stopped_early": False, "findings": [],
                       "io_errors": [], "message": "", "slices_run": 0, "slices_planned": 0,
                       "kernel_log": {"source": None, "watched": False}, "plan": None}
        self.scratch = None

    # --- checks before anything runs -------------------------------------------------
    def check_options(self):
        p = self.p
        for name, low, high in (("size_mb", 1, 1 << 20), ("max_seconds", 1, 86400), ("slices", 1, 1024),
                                ("block_size_kb", 1, 65536), ("scratch_min_free_mb", 0, 1 << 30),
                                ("max_findings", 1, 10000), ("memory_workers", 1, 1024),
                                ("memory_available_percent", 1, 90), ("memory_margin_mb", 0, 1 << 20)):
            if not low <= p[name] <= high:
                raise BadInput("%s must be %d..%d (got %d)" % (name, low, high, p[name]))
        if p["mode"] != "memory" and not p["target"] and not p["interrupted_boot_id"]:
            raise BadInput("target is required for mode %s: nothing was run" % p["mode"])

    def resolve_target(self):
        target = self.p["target"]
        mode = self.p["mode"]
        try:
            info = os.stat(target)
        except OSError as exc:
            raise BadInput("target %s does not exist or cannot be read (%s): nothing was run"
                           % (target, exc.strerror or exc))
        if stat.S_ISBLK(info.st_mode):
            device = os.path.realpath(target)
            if mode == "write-scratch":
                raise BadInput("mode write-scratch needs a directory, and %s is a block device" % target)
            if mode == "write-device":
                self.check_device_opt_in(device)
            return device, device
        if stat.S_ISDIR(info.st_mode):
            if mode == "write-device":
                raise BadInput("mode write-device needs a block device, and %s is a directory" % target)
            if mode == "write-scratch":
                return os.path.join(target, ".pteguard-stress-%d.tmp" % os.getpid()), backing_device(target)
            device = backing_device(target)
            if device is None:
                raise Refused("%s is on no block device (tmpfs, overlay or a network filesystem): a read load "
                              "needs one; use mode write-scratch to load that filesystem" % target)
            return device, device
        raise BadInput("target %s is neither a block device nor a directory" % target)

    def check_device_opt_in(self, device):
        listed = [os.path.realpath(d) for d in self.p["destructive_devices"]]
        if device not in listed:
            raise Refused("%s is not listed in destructive_devices for this host: a write test there was refused "
                          "and nothing ran" % device)
        if not self.p["allow_device_write"]:
            raise Refused("writing to %s needs allow_device_write: true for this host: refused, nothing ran" % device)
        busy = in_use(device)
        if busy:
            raise Refused("%s: a write test there was refused and nothing ran" % busy)

    def check_free_space(self, size):
        directory = self.p["target"]
        vfs = os.statvfs(directory)
        free = vfs.f_bavail * vfs.f_frsize
        need = size + self.p["scratch_min_free_mb"] * 1048576
        if free < need:
            raise Refused("%s has %d MiB free; the scratch file needs %d MiB and %d MiB must stay free: refused, "
                          "nothing was written" % (directory, free // 1048576, size // 1048576,
                                                   self.p["scratch_min_free_mb"]))

    def choose_tool(self):
        wanted = self.p["tool"]
        fio = self.host.which("fio") if wanted in ("auto", "fio") else None
        if fio:
            return "fio", fio
        if wanted == "fio":
            raise BadInput("fio is not installed on this host (package fio); tool: auto falls back to dd")
        dd = self.host.which("dd")
        if not dd:
            raise BadInput("neither fio nor dd is installed on this host: nothing was run")
        return "dd", dd

    # --- the run -------------------------------------------------------------------------
    def argv(self, tool, path, offset, length, block, direct, seconds):
        mode = self.p["mode"]
        if tool == "fio":
            argv = [path, "--name=pteguard-stress", "--filename=" + self.io_path, "--ioengine=psync",
                    "--bs=%d" % block, "--offset=%d" % offset, "--size=%d" % length,
                    "--runtime=%d" % max(1, int(seconds)), "--direct=%d" % (1 if direct else 0),
                    "--output-format=json"]
            if mode == "read":
                return argv + ["--readonly", "--rw=read"]
            return argv + ["--rw=write", "--verify=crc32c", "--do_verify=1", "--verify_fatal=1"]
        count = "count=%d" % (length // block)
        if mode == "read":
            return [path, "if=" + self.io_path, "of=/dev/null", "bs=%d" % block, "skip=%d" % (offset // block),
                    count] + (["iflag=direct"] if direct else [])
        return [path, "if=/dev/zero", "of=" + self.io_path, "bs=%d" % block, "seek=%d" % (offset // block), count,
                "conv=notrunc,fsync"] + (["oflag=direct"] if direct else [])

    def plan(self, tool, device):
        block = self.p["block_size_kb"] * 1024
        size = self.p["size_mb"] * 1048576
        if self.p["mode"] != "write-scratch":
            available = device_bytes(os.path.basename(self.io_path))
            if available is not None:
                size = min(size, available)
        size -= size % block
        if size < block:
            raise BadInput("%s holds less than one block of %d bytes" % (self.io_path, block))
        blocks = size // block
        slices = min(self.p["slices"], blocks)
        per = (blocks // slices) * block
        pieces = [(i * per, per) for i in range(slices)]
        last = size - slices * per
        if last:
            pieces[-1] = (pieces[-1][0], per + last)
        direct = self.p["direct"]
        if direct is None:
            direct = self.p["mode"] != "write-scratch"
        return {"size_bytes": size, "slice_bytes": per, "block_size": block, "direct": direct, "pieces": pieces}

    def run_slice(self, tool, path, plan, offset, length, seconds):
        argv = self.argv(tool, path, offset, length, plan["block_size"], plan["direct"], seconds)
        timeout = self.host.which("timeout")
        if timeout:
            # fio's --runtime bounds its I/O; this bounds a tool stuck on a dying device too
            argv = [timeout, "--kill-after=10", str(int(seconds) + 30)] + argv
        rc, out, err = self.host.run(argv)
        if tool == "fio":
            try:
                parsed = parse_fio(out, err)
            except FioParseError:
                raise BadInput("fio failed (rc=%d) and printed no JSON: %s" % (rc, _tail(err or out)))
            failed = [j for j in parsed["jobs"] if j["error"]]
            other = [j for j in failed if j["error"] not in IO_ERRNOS]
            if other or (rc != 0 and not failed):
                raise BadInput("fio failed (rc=%d%s): %s" % (
                    rc, ", %s" % other[0]["error_name"] if other else "", _tail(err)))
            errors = [{"errno": j["error"], "op": j["first_error_op"] or self.op, "offset": j["first_error_offset"]}
                      for j in failed]
            return sum(j["bytes"] for j in parsed["jobs"]), errors
        parsed = parse_dd(err)
        io_failed = [e for e in parsed["errors"] if e["errno"] in IO_ERRNOS and e["op"] in ("reading", "writing")]
        if rc != 0 and not io_failed:
            raise BadInput("dd failed (rc=%d): %s" % (rc, _tail(err)))
        skip = offset // plan["block_size"]
        errors = [{"errno": e["errno"], "op": self.op, "offset": dd_error_offset(parsed, plan["block_size"], skip)}
                  for e in io_failed]
        return parsed["bytes"] or 0, errors

    @property
    def op(self):
        return "read" if self.p["mode"] == "read" else "write"

    def start_watch(self):
        """The kernel-log watch, started before anything runs; refused when it cannot be read and must be."""
        watch = KernelWatch(self.host, self.p["max_findings"])
        watched = watch.start()
        self.result["kernel_log"] = {"source": watch.source, "watched": watched}
        if not watched:
            self.result["kernel_log"]["reason"] = watch.reason
            if self.p["kernel_log_required"]:
                raise Refused("the kernel log cannot be read (%s): a load whose kernel errors cannot be seen "
                              "proves nothing; nothing was run" % watch.reason)
        return watch

    def execute(self):
        res = self.result
        self.check_options()
        if self.p["interrupted_boot_id"]:
            return self.after_reboot()
        if self.p["mode"] == "memory":
            return self.execute_memory()
        self.io_path, device = self.resolve_target()
        tool, path = self.choose_tool()
        res.update(tool=tool, device=os.path.basename(device) if device else None)
        plan = self.plan(tool, device)
        if self.p["mode"] == "write-scratch":
            self.check_free_space(plan["size_bytes"])
        first = self.argv(tool, path, plan["pieces"][0][0], plan["pieces"][0][1], plan["block_size"],
                          plan["direct"], self.p["max_seconds"])
        res["plan"] = dict((k, v) for k, v in plan.items() if k != "pieces")
        res["plan"]["argv"] = first
        res["slices_planned"] = len(plan["pieces"])
        watch = self.start_watch()
        if self.module.check_mode:
            res.update(status="planned", message="check mode: would run %d slice(s) of %s, %d MiB in all, at most "
                       "%d s: %s" % (len(plan["pieces"]), tool, plan["size_bytes"] // 1048576,
                                     self.p["max_seconds"], " ".join(first)))
            return res
        if self.p["mode"] == "write-scratch":
            self.scratch = self.io_path
        self.load(tool, path, plan, watch, device)
        return res

    def load(self, tool, path, plan, watch, device):
        res = self.result
        name = os.path.basename(device) if device else None
        disk, part_start = disk_of(name) if name else (None, 0)
        started = time.time()
        deadline = started + self.p["max_seconds"]
        new = []
        errors = []
        for offset, length in plan["pieces"]:
            remaining = deadline - time.time()
            if remaining < 1:
                res["time_limit_reached"] = True
                break
            copied, slice_errors = self.run_slice(tool, path, plan, offset, length, remaining)
            res["bytes"] += copied
            res["slices_run"] += 1
            errors.extend(slice_errors)
            new = self.stop_findings(watch, slice_errors)
            if new or slice_errors:
                break
        res["seconds"] = round(time.time() - started, 2)
        res["stopped_early"] = res["slices_run"] < len(plan["pieces"]) and not res.get("time_limit_reached")
        found = watch.findings() if watch.source else []
        for finding in found:
            # a finding without a device (an oops, a lockup) under this load counts; another disk's does not
            finding["matches_target"] = matches(finding.get("device"), name, disk) or (
                not finding.get("device") and finding.get("category") not in STORAGE_CATEGORIES)
        res["findings"] = found
        res["io_errors"] = [self.io_error(tool, e, found, name, disk, part_start) for e in errors]
        self.verdict(found, name)

    def stop_findings(self, watch, slice_errors):
        """New error findings; after a tool error, give the journal a moment to pick up the kernel's lines."""
        tries, pause = JOURNAL_SETTLE if (slice_errors and watch.source == "journal") else (1, 0)
        for attempt in range(tries):
            found = [f for f in watch.findings() if self.stops(f)]
            if found or attempt == tries - 1:
                return found
            time.sleep(pause)
        return []

    def stops(self, finding):
        """A finding that ends the run: an error, or in memory mode any memory error (a corrected one too)."""
        return finding.get("severity") in STOP_SEVERITIES or (
            self.p["mode"] == "memory" and finding.get("category") in MEMORY_CATEGORIES)

    # --- a run the host did not come back from --------------------------------------------
    def after_reboot(self):
        """How the boot that ran the load ended, read from the boot the host is in now."""
        res = self.result
        res.update(kernel_log={"source": "journal_previous_boot", "watched": False}, stopped_early=True)
        before = self.p["interrupted_boot_id"].strip()
        try:
            now = self.host.read_text(BOOT_ID).strip()
        except OSError as exc:
            raise BadInput("cannot read %s (%s): whether the host rebooted is unknown" % (BOOT_ID, exc.strerror))
        res["boot"] = {"before": before, "now": now, "rebooted": now != before}
        if now == before:
            res.update(status="error", message="the connection to the host broke during the %s load, but the host "
                       "did not reboot (same boot id %s): the run's result is lost, nothing is shown" % (
                           self.p["mode"], now))
            return res
        journalctl = self.host.which("journalctl")
        if not journalctl:
            raise BadInput("the host rebooted during the %s load (boot id %s, now %s), and journalctl is not "
                           "installed to read how that boot ended" % (self.p["mode"], before, now))
        rc, out, err = self.host.run([journalctl, "-b", "-1", "-n", "300", "--no-pager", "-o", "short-iso"])
        pstore = []
        for top in PSTORE_DIRS:
            pstore += [os.path.join(top, name) for name in _listdir(top)]
        end = previous_boot_end("%s\n%s" % (out or "", err or ""), pstore, arch=os.uname()[4])
        res["previous_boot"] = dict((k, end[k]) for k in ("state", "reason", "marker", "last_line", "dying", "pstore"))
        found = list(end["findings"])
        rc, out, _err = self.host.run([journalctl, "-k", "-b", "-1", "-o", "short-iso-precise", "--no-pager", "-q",
                                       "-n", str(PREVIOUS_BOOT_LINES)], binary=True)
        if rc == 0:
            found += scan_lines(out.splitlines(), max_findings=self.p["max_findings"])["findings"]
            res["kernel_log"]["watched"] = True
        for finding in found:
            finding.setdefault("source", "journal_previous_boot")
            finding["matches_target"] = not finding.get("device") and finding.get("category") not in STORAGE_CATEGORIES
        res["findings"] = found[:self.p["max_findings"]]
        what = "the host rebooted during the %s load on %s (boot id %s, now %s)" % (
            self.p["mode"], self.p["target"] or "memory", before, now)
        if end["state"] == "unclean":
            kernel = [f for f in found[1:] if f.get("severity") in STOP_SEVERITIES]
            res.update(status="reproduced", message="reproduced: %s and that boot ended uncleanly: %s%s" % (
                what, end["reason"], "; its last kernel error: %s" % describe(kernel[-1]) if kernel else ""))
        elif end["state"] == "clean":
            res.update(status="error", message="%s, but that boot shut down in order (%s): an interruption, not a "
                       "reproduction" % (what, end["reason"]))
        else:
            res.update(status="error", message="%s; how that boot ended is unknown: %s" % (what, end["reason"]))
        return res

    # --- memory mode ---------------------------------------------------------------------
    def memory_plan(self, path):
        p = self.p
        try:
            meminfo = self.host.read_text(MEMINFO)
        except OSError as exc:
            raise BadInput("cannot read %s (%s): the memory load cannot be sized safely, nothing was run"
                           % (MEMINFO, exc.strerror or exc))
        workers = p["memory_workers"]
        sizing = plan_size_mb(meminfo, p["size_mb"], p["memory_available_percent"], p["memory_margin_mb"],
                              min_mb=4 * workers)
        if sizing["size_mb"] == 0:
            raise Refused("%s: the memory load was refused, nothing was run" % sizing["why"])
        per_worker = sizing["size_mb"] // workers
        slices = min(p["slices"], p["max_seconds"])
        seconds = p["max_seconds"] // slices
        return {"size_bytes": per_worker * workers * MIB, "workers": workers, "bytes_per_worker": per_worker * MIB,
                "slice_seconds": seconds, "slices": slices, "sizing": sizing,
                "argv": self.memory_argv(path, workers, per_worker, seconds)}

    @staticmethod
    def memory_argv(path, workers, per_worker_mb, seconds):
        return [path, "--vm", str(workers), "--vm-bytes", "%dM" % per_worker_mb, "--verify",
                "--timeout", "%ds" % seconds, "--metrics-brief"]

    def execute_memory(self):
        res = self.result
        res["target"] = "memory"
        path = self.host.which("stress-ng")
        if not path:
            raise BadInput("stress-ng is not installed on this host (package stress-ng): nothing was run")
        res["tool"] = "stress-ng"
        plan = self.memory_plan(path)
        res["plan"] = dict((k, v) for k, v in plan.items() if k != "sizing")
        res["slices_planned"] = plan["slices"]
        res["memory"] = dict(plan["sizing"], workers=plan["workers"], bytes_per_worker=plan["bytes_per_worker"],
                             bogo_ops=0, signals=[])
        res["verify_failures"] = []
        watch = self.start_watch()
        if self.module.check_mode:
            message = "check mode: would load %d MiB of RAM (%d worker(s)) with verify in %d slice(s) of %d s: %s" % (
                plan["size_bytes"] // MIB, plan["workers"], plan["slices"], plan["slice_seconds"], " ".join(plan["argv"]))
            res.update(status="planned", message=message)
            return res
        self.load_memory(path, plan, watch)
        return res

    def load_memory(self, path, plan, watch):
        res = self.result
        started = time.time()
        deadline = started + self.p["max_seconds"]
        timeout = self.host.which("timeout")
        for _index in range(plan["slices"]):
            remaining = int(deadline - time.time())
            if remaining < 1:
                res["time_limit_reached"] = True
                break
            seconds = min(plan["slice_seconds"], remaining)
            argv = self.memory_argv(path, plan["workers"], plan["bytes_per_worker"] // MIB, seconds)
            if timeout:
                # stress-ng's --timeout bounds its load; this bounds a worker stuck in the kernel too
                argv = [timeout, "--signal=INT", "--kill-after=10", str(seconds + 30)] + argv
            rc, out, err = self.host.run(argv)
            text = "%s\n%s" % (out or "", err or "")
            try:
                parsed = parse_stress_ng(text)
            except StressNgParseError:
                parsed = None
            failed = verify_failed(parsed, rc)
            res["slices_run"] += 1
            res["bytes"] += plan["size_bytes"]
            if parsed:
                res["memory"]["bogo_ops"] += sum(m["bogo_ops"] for m in parsed["metrics"].values())
                res["verify_failures"].extend(parsed["failures"])
                # a worker's unexpected signal (SIGILL under an emulator) is no verification failure, but is said
                res["memory"]["signals"].extend(parsed["signals"])
            if failed and not res["verify_failures"]:
                res["verify_failures"].append("stress-ng exited %d: %s" % (rc, exit_reason(rc)))
            new = self.stop_findings(watch, failed)
            if new or failed:
                break
            if rc != 0 or parsed is None:
                # a worker killed by the kernel (SIGBUS on a poisoned page) shows in the log, read above
                why = (parsed["errors"][:1] if parsed else []) or [_tail(text)]
                raise BadInput("stress-ng failed (rc=%d, %s): %s" % (rc, exit_reason(rc), why[0]))
        res["seconds"] = round(time.time() - started, 2)
        res["stopped_early"] = res["slices_run"] < plan["slices"] and not res.get("time_limit_reached")
        found = watch.findings() if watch.source else []
        for finding in found:
            finding["matches_target"] = finding.get("category") in MEMORY_CATEGORIES or (
                not finding.get("device") and finding.get("category") not in STORAGE_CATEGORIES)
        res["findings"] = found
        self.memory_verdict(found)

    def memory_verdict(self, found):
        res = self.result
        ours = [f for f in found if self.stops(f) and f["matches_target"]]
        load = "%d MiB of RAM, %d worker(s)" % (res["plan"]["size_bytes"] // MIB, res["plan"]["workers"])
        if ours or res["verify_failures"]:
            res["status"] = "reproduced"
            what = [evidence_line(f) for f in ours[:1]] + ["stress-ng: %s" % v for v in res["verify_failures"][:1]]
            res["message"] = "reproduced under a memory load (%s): %s" % (load, "; ".join(what))
            if not res["kernel_log"]["watched"]:
                res["message"] += " (the kernel log could not be read: %s)" % res["kernel_log"].get("reason")
        elif not res["kernel_log"]["watched"]:
            res["status"] = "error"
            res["message"] = ("stress-ng verified %s in %.1f s without a failure, but the kernel log could not be "
                              "read (%s): not shown clean" % (load, res["seconds"], res["kernel_log"].get("reason")))
        else:
            res["status"] = "not_reproduced"
            res["message"] = "no new kernel memory error and no verification failure in %.1f s of %s%s" % (
                res["seconds"], load, " (stopped at the time limit)" if res.get("time_limit_reached") else "")
        others = [f for f in found if f.get("severity") in STOP_SEVERITIES and not f["matches_target"]]
        if others:
            res["message"] += "; %d new kernel error(s) elsewhere, first: %s" % (len(others), describe(others[0]))

    def io_error(self, tool, error, found, name, disk, part_start):
        offset = error.get("offset")
        sector = (offset + part_start) // SECTOR if offset is not None else None
        mine = [f for f in found if matches(f.get("device"), name, disk)]
        same = [f for f in mine if sector is not None and f.get("sector") is not None
                and f["sector"] <= sector < f["sector"] + max(1, self.p["block_size_kb"] * 1024 // SECTOR)]
        return {"tool": tool, "errno": error.get("errno"), "error": errno_name(error.get("errno")),
                "op": error.get("op"), "offset": offset, "sector": sector, "same_sector": bool(same),
                "kernel_lines": [f.get("message") for f in (same or mine)][:10]}

    def verdict(self, found, name):
        res = self.result
        errors = [f for f in found if f.get("severity") in STOP_SEVERITIES]
        ours = [f for f in errors if f["matches_target"]]
        where = name or res["target"]
        if ours or res["io_errors"]:
            res["status"] = "reproduced"
            # the SCSI sense lines come first; the block layer's line is the one with the sector
            what = [describe(f) for f in sorted(ours, key=lambda f: f.get("sector") is None)[:1]]
            what += ["%s: %s at offset %s" % (res["tool"], io["error"], io["offset"]) for io in res["io_errors"][:1]]
            res["message"] = "reproduced under a %s load on %s: %s" % (self.op, where, "; ".join(what))
            if not res["kernel_log"]["watched"]:
                res["message"] += " (the kernel log could not be read: %s)" % res["kernel_log"].get("reason")
        elif not res["kernel_log"]["watched"]:
            res["status"] = "error"
            res["message"] = ("the run finished without I/O errors, but the kernel log could not be read (%s): "
                              "not shown clean" % res["kernel_log"].get("reason"))
        else:
            res["status"] = "not_reproduced"
            res["message"] = "no new kernel error and no I/O error in %d MiB of %s load on %s in %.1f s%s" % (
                res["bytes"] // 1048576, self.op, where, res["seconds"],
                " (stopped at the time limit)" if res.get("time_limit_reached") else "")
        if errors and not ours:
            res["message"] += "; %d new kernel error(s) elsewhere, first: %s" % (len(errors), describe(errors[0]))

    def cleanup(self):
        if self.scratch and os.path.exists(self.scratch):
            os.unlink(self.scratch)


def describe(finding):
    """'media error at sector 2048 of sda' from a kernel finding."""
    kind = "%s error" % finding["error_class"] if finding.get("error_class") else finding.get("category")
    sector = " at sector %s" % finding["sector"] if finding.get("sector") is not None else ""
    return "%s%s of %s" % (kind, sector, finding.get("device") or "the kernel")


def _tail(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1][-300:] if lines else "no message"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type="path"),
            mode=dict(type="str", default="read", choices=["read", "write-scratch", "write-device", "memory"]),
            size_mb=dict(type="int", default=256),
            max_seconds=dict(type="int", default=120),
            slices=dict(type="int", default=16),
            block_size_kb=dict(type="int", default=64),
            direct=dict(type="bool"),
            tool=dict(type="str", default="auto", choices=["auto", "fio", "dd"]),
            scratch_min_free_mb=dict(type="int", default=1024),
            destructive_devices=dict(type="list", elements="path", default=[]),
            allow_device_write=dict(type="bool", default=False),
            kernel_log_required=dict(type="bool", default=True),
            max_findings=dict(type="int", default=50),
            memory_workers=dict(type="int", default=1),
            memory_available_percent=dict(type="int", default=50),
            memory_margin_mb=dict(type="int", default=256),
            interrupted_boot_id=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    run = StressRun(module, ModuleHost(module))
    try:
        result = run.execute()
    except (Refused, BadInput) as exc:
        run.result.update(status="refused" if isinstance(exc, Refused) else "error", message=str(exc))
        module.fail_json(msg=str(exc), reproduction=run.result, changed=False)
    finally:
        run.cleanup()
    # a memory load leaves nothing behind on the host; the write modes changed the scratch file or the device
    writes = module.params["mode"] not in ("read", "memory") and not module.params["interrupted_boot_id"]
    module.exit_json(changed=writes and not module.check_mode and result["slices_run"] > 0,
                     reproduction=result)


if __name__ == "__main__":
    main()
