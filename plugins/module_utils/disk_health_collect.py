# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collector core for disk health: enumerate disks, SMART on each, opt-in read-only badblocks, findings.

Runs through a CollectHost (collect_host.py): the disk_health_info module passes its ModuleHost, tests a host that
answers with recorded tool outputs. The parsers are smartctl.py, lsblk.py and badblocks.py.
"""

from __future__ import annotations

import os

from .badblocks import parse_badblocks
from .collect_host import CollectError
from .lsblk import LsblkParseError, parse_lsblk_disks, skip_device
from .smartctl import SmartctlParseError, decode_exit_status, parse_smartctl, verdict_severity

VIRTUAL_PREFIXES = ("vd", "xvd")
LSBLK_ARGV = ["--json", "--nodeps", "-o", "NAME,TYPE,TRAN,MODEL,SERIAL"]


def dev_path(name):
    return name if name.startswith("/") else "/dev/" + name


def _short(dev):
    return os.path.basename(dev)


def enumerate_disks(host, sysfs_block, use_lsblk):
    """Physical disks as /dev paths, how they were found (lsblk, sysfs, none), and a note when lsblk failed."""
    lsblk = host.which("lsblk") if use_lsblk else None
    note = None
    if lsblk:
        rc, out, err = host.run([lsblk] + LSBLK_ARGV)
        if rc == 0:
            try:
                return [dev_path(n) for n in parse_lsblk_disks(out)], "lsblk", None
            except LsblkParseError as exc:
                note = "lsblk JSON unreadable (%s); used %s" % (exc, sysfs_block)
        else:
            note = "lsblk exited %d (%s); used %s" % (rc, (err or "").strip()[:200], sysfs_block)
    try:
        names = host.listdir(sysfs_block)
    except OSError as exc:
        return [], "none", "cannot list %s: %s" % (sysfs_block, exc)
    # real disks have a device link; purely virtual block devices do not
    disks = [dev_path(n) for n in names
             if not skip_device(n) and host.exists(os.path.join(sysfs_block, n, "device"))]
    return disks, "sysfs", note


def is_virtual(host, sysfs_block, dev):
    name = _short(dev)
    if name.startswith(VIRTUAL_PREFIXES):
        return True
    driver = os.path.join(sysfs_block, name, "device", "driver")
    try:
        return "virtio" in os.path.basename(host.realpath(driver))
    except OSError:
        return False


def device_blocks(host, sysfs_block, dev, block_size):
    """Device size in blocks of block_size (None when unknown)."""
    try:
        sectors = int(host.read_text(os.path.join(sysfs_block, _short(dev), "size")).strip())
    except (OSError, ValueError):
        return None
    return sectors * 512 // block_size


def smart_report(host, smartctl, dev, sysfs_block, notes):
    """One disk's entry: smartctl's decoded exit status and parsed report, or why it is unreadable."""
    entry = {"device": dev, "virtual": is_virtual(host, sysfs_block, dev)}
    if not smartctl:
        entry.update({"verdict": "unreadable", "smartctl_rc": None,
                      "reasons": [{"code": "smartctl_missing", "severity": "warning",
                                   "message": "smartctl (smartmontools) is not installed"}]})
        return entry
    rc, out, err = host.run([smartctl, "--json", "-x", dev])
    entry["smartctl_rc"] = rc
    try:
        entry["exit_status"] = decode_exit_status(rc)
    except SmartctlParseError as exc:
        entry["exit_status"] = None
        notes.append("%s: %s" % (dev, exc))
    try:
        report = parse_smartctl(out, rc=rc if 0 <= rc <= 255 else None)
        report.pop("device", None)
        entry.update(report)
        if report["verdict"] == "unreadable" and entry["virtual"]:
            entry["reasons"].append({"code": "virtual_disk", "severity": "info",
                                     "message": "virtual disk: the hypervisor offers no SMART data"})
    except SmartctlParseError as exc:
        entry.update({"verdict": "unreadable", "reasons": [{
            "code": "unparsable_output", "severity": "warning",
            "message": "smartctl output unreadable (rc %s): %s; stderr: %s" % (rc, exc, (err or "").strip()[:200])}]})
    return entry


def smart_finding(entry):
    """The finding for a disk that is not healthy (None when healthy)."""
    verdict = entry["verdict"]
    if verdict == "healthy":
        return None
    severity = verdict_severity(entry)
    if verdict == "unreadable" and entry["virtual"]:
        severity = "info"
    dev = _short(entry["device"])
    msg = "%s: %s - %s" % (dev, verdict,
                           "; ".join(r["message"] for r in entry["reasons"] if r["severity"] != "info")
                           or "; ".join(r["message"] for r in entry["reasons"]))
    return {"category": "storage_device_error", "severity": severity, "source": "smartctl",
            "signature": "smartctl.%s" % verdict, "device": dev, "message": msg,
            "verdict": verdict, "reasons": entry["reasons"]}


def badblocks_scan(host, dev, sysfs_block, block_size, max_blocks, timeout, check_mode, notes, findings):
    """One opt-in read-only scan (never -w or -n), bounded by block count and, where timeout(1) exists, time."""
    res = {"device": dev, "ran": False, "mode": "read-only"}
    bb_bin = host.which("badblocks")
    if check_mode:
        res["reason"] = "check mode: scan not run"
        return res
    if not bb_bin:
        res["reason"] = "badblocks (e2fsprogs) is not installed"
        return res
    total = device_blocks(host, sysfs_block, dev, block_size)
    count = max_blocks if total is None else min(total, max_blocks)
    if count < 1:
        res["reason"] = "device is smaller than one block"
        return res
    # badblocks DEVICE LAST_BLOCK FIRST_BLOCK; no -w/-n: read-only
    argv = [bb_bin, "-sv", "-b", str(block_size), dev, str(count - 1), "0"]
    timeout_bin = host.which("timeout")
    if timeout_bin:
        argv = [timeout_bin, str(timeout)] + argv
    else:
        notes.append("timeout(1) not found: badblocks on %s bounded by block count only" % dev)
    rc, out, err = host.run(argv)
    bad, summary = parse_badblocks(out, err)
    res.update({"ran": True, "rc": rc, "command": argv, "blocks_checked": count,
                "block_size": block_size, "bad_blocks": bad[:1000], "bad_block_count": len(bad),
                "summary": summary, "timed_out": bool(timeout_bin) and rc == 124,
                "completed": summary is not None and rc == 0})
    if rc not in (0, 124) and summary is None:
        res["reason"] = "badblocks exited %d: %s" % (rc, (err or "").strip()[-300:])
    if bad:
        findings.append({"category": "storage_device_error", "severity": "error",
                         "source": "badblocks", "signature": "badblocks.read_errors",
                         "device": _short(dev), "sector": bad[0] * block_size // 512,
                         "message": "%s: %d unreadable blocks of %d bytes in the first %d (first: %d)"
                                    % (_short(dev), len(bad), block_size, count, bad[0])})
    elif res["timed_out"]:
        notes.append("badblocks on %s stopped after %d s" % (dev, timeout))
    return res


def collect_disk_health(host, devices=(), sysfs_block="/sys/block", use_lsblk=True, badblocks_devices=(),
                        badblocks_max_blocks=262144, badblocks_block_size=4096, badblocks_timeout=600,
                        check_mode=False):
    """Everything disk_health_info returns (smartctl_available, enumerated_by, disks, badblocks, findings, notes).

    Raises CollectError for bad arguments (a bound below 1, a badblocks device that is not a checked disk).
    """
    bounds = (("badblocks_max_blocks", badblocks_max_blocks), ("badblocks_block_size", badblocks_block_size),
              ("badblocks_timeout", badblocks_timeout))
    for key, value in bounds:
        if value < 1:
            raise CollectError("%s must be at least 1" % key)
    notes = []
    if devices:
        disks = [dev_path(d) for d in devices]
        how = "devices option"
    else:
        disks, how, note = enumerate_disks(host, sysfs_block, use_lsblk)
        if note:
            notes.append(note)
    wanted_bb = [dev_path(d) for d in badblocks_devices]
    unknown = [d for d in wanted_bb if d not in disks]
    if unknown:
        raise CollectError("badblocks_devices must be among the disks checked; not found: %s" % ", ".join(unknown),
                           disks=disks)

    smartctl = host.which("smartctl")
    findings = []
    reports = []
    for dev in disks:
        entry = smart_report(host, smartctl, dev, sysfs_block, notes)
        reports.append(entry)
        finding = smart_finding(entry)
        if finding:
            findings.append(finding)
    badblocks = [badblocks_scan(host, dev, sysfs_block, badblocks_block_size, badblocks_max_blocks,
                                badblocks_timeout, check_mode, notes, findings) for dev in wanted_bb]
    if not smartctl:
        findings.insert(0, {"category": "storage_device_error", "severity": "warning", "source": "smartctl",
                            "signature": "smartctl.missing",
                            "message": "smartctl is not installed: health of %d disks unknown" % len(disks)})
    return {"smartctl_available": bool(smartctl), "enumerated_by": how, "disks": reports, "badblocks": badblocks,
            "findings": findings, "notes": notes}
