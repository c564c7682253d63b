#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: stress_run
short_description: Reproduce an I/O fault under a bounded load while watching the kernel log (fio, or dd)
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
        C(write-scratch) mode the scratch file goes into it.
    type: path
    required: true
  mode:
    description: C(read) (default), C(write-scratch) (a scratch file in O(target)), C(write-device) (opt-in only).
    type: str
    choices: [read, write-scratch, write-device]
    default: read
  size_mb:
    description: MiB of I/O at most (cut to the device's size).
    type: int
    default: 256
  max_seconds:
    description: Wall-clock limit of the whole run; slices not started by then are not run.
    type: int
    default: 120
  slices:
    description: Pieces the run is cut into; the kernel log is read after each one (bounded polling).
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
    description: C(auto) uses fio and falls back to dd when fio is not installed; C(fio) or C(dd) insist.
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
"""

EXAMPLES = r"""
- name: Stress | Read the disk the diagnosis names for at most 60 s
  pteguard.remediation.stress_run:
    target: /dev/sdb
    size_mb: 512
    max_seconds: 60
  register: stress_run_result

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
from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.fio_json import (
    IO_ERRNOS, FioParseError, dd_error_offset, errno_name, parse_dd, parse_fio)
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_log_collect import collect_kernel_log
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_lines

STOP_SEVERITIES = ("error", "critical")
JOURNAL_SETTLE = (6, 0.5)  # reads x seconds: journald picks kernel lines up from /dev/kmsg a moment later
SECTOR = 512
STORAGE_CATEGORIES = ("block_io_error", "storage_device_error")


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
                                ("max_findings", 1, 10000)):
            if not low <= p[name] <= high:
                raise BadInput("%s must be %d..%d (got %d)" % (name, low, high, p[name]))

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

    def execute(self):
        res = self.result
        self.check_options()
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
        watch = KernelWatch(self.host, self.p["max_findings"])
        watched = watch.start()
        res["kernel_log"] = {"source": watch.source, "watched": watched}
        if not watched:
            res["kernel_log"]["reason"] = watch.reason
            if self.p["kernel_log_required"]:
                raise Refused("the kernel log cannot be read (%s): a load whose kernel errors cannot be seen "
                              "proves nothing; nothing was run" % watch.reason)
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
            found = [f for f in watch.findings() if f.get("severity") in STOP_SEVERITIES]
            if found or attempt == tries - 1:
                return found
            time.sleep(pause)
        return []

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
            target=dict(type="path", required=True),
            mode=dict(type="str", default="read", choices=["read", "write-scratch", "write-device"]),
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
    module.exit_json(changed=module.params["mode"] != "read" and not module.check_mode and result["slices_run"] > 0,
                     reproduction=result)


if __name__ == "__main__":
    main()
