#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: disk_health_info
short_description: SMART health of every disk (SATA, SAS, NVMe), with an optional read-only badblocks scan
description:
  - Enumerates the host's disks (C(lsblk --json), or C(/sys/block) when lsblk is missing) and runs
    C(smartctl --json -x) on each. smartctl's exit-status bitmask is decoded, never treated as a
    plain failure.
  - Reports the attributes that matter (reallocated / pending / offline-uncorrectable sectors,
    interface CRC errors, NVMe media errors, critical warning, percentage used, error log
    entries, SAS grown defects and uncorrected errors, the self-test log) and a verdict per disk.
  - A disk that cannot be read is a finding, never a silence.
  - Optionally runs C(badblocks -sv) - read-only, bounded by a block count and a time limit - on
    the devices listed in O(badblocks_devices) only. Never a write mode. Not run in check mode.
version_added: "0.1.0"
author:
  - pteguard maintainers (@pteguard)
options:
  devices:
    description: Disks to check (C(/dev/sda), C(nvme0n1)); default every physical disk found.
    type: list
    elements: str
    default: []
  sysfs_block:
    description: The sysfs block directory (used to enumerate disks without lsblk and to spot virtual disks).
    type: path
    default: /sys/block
  use_lsblk:
    description: Enumerate disks with lsblk when it exists.
    type: bool
    default: true
  badblocks_devices:
    description:
      - Devices on which to run a read-only C(badblocks -sv) scan (opt-in, one by one).
      - Each must be one of the disks checked.
    type: list
    elements: str
    default: []
  badblocks_max_blocks:
    description: Blocks read per device, from block 0 (bounds the scan).
    type: int
    default: 262144
  badblocks_block_size:
    description: badblocks block size in bytes.
    type: int
    default: 4096
  badblocks_timeout:
    description: Seconds after which a scan is stopped (needs C(timeout) from coreutils).
    type: int
    default: 600
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - badblocks runs in its default read-only mode; the options C(-w) and C(-n) are never used.
"""

EXAMPLES = r"""
- name: Disk health | SMART on every disk
  pteguard.remediation.disk_health_info:
  register: pteguard_disk_health

- name: Disk health | SMART plus a bounded read-only scan of the suspect disk
  pteguard.remediation.disk_health_info:
    badblocks_devices: [/dev/sdb]
    badblocks_max_blocks: 65536
"""

RETURN = r"""
smartctl_available:
  description: Whether smartctl was found.
  returned: always
  type: bool
  sample: true
disks:
  description: One entry per disk with the parsed smartctl report (verdict, reasons, counters, exit status).
  returned: always
  type: list
  elements: dict
  sample:
    - {device: /dev/sda, verdict: healthy, reasons: [], model: "ST500LM021-1KJ152", smartctl_rc: 0}
badblocks:
  description: Results of the opt-in read-only scans.
  returned: always
  type: list
  elements: dict
  sample: [{device: /dev/sdb, ran: true, bad_blocks: [2048], bad_block_count: 1, blocks_checked: 65536}]
findings:
  description: Findings in the kernel-log parser's form (category storage_device_error, severity, device, message).
  returned: always
  type: list
  elements: dict
  sample: [{category: storage_device_error, severity: critical, device: /dev/sdb, message: "sdb: failing ..."}]
"""

import json
import os
import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.smartctl import (
    SmartctlParseError, decode_exit_status, parse_smartctl, verdict_severity)

ENV = {"LC_ALL": "C"}
SKIP_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd", "zd", "drbd", "rbd")
VIRTUAL_PREFIXES = ("vd", "xvd")


def _dev_path(name):
    return name if name.startswith("/") else "/dev/" + name


def _short(dev):
    return os.path.basename(dev)


def _skip(name):
    return name.startswith(SKIP_PREFIXES) or re.match(r"^nvme\d+n\d+p\d+$", name) is not None


def enumerate_disks(module, sysfs_block, use_lsblk):
    """Physical disks as /dev paths, and how they were found."""
    lsblk = module.get_bin_path("lsblk") if use_lsblk else None
    if lsblk:
        rc, out, err = module.run_command([lsblk, "--json", "--nodeps", "-o", "NAME,TYPE,TRAN,MODEL,SERIAL"],
                                          environ_update=ENV)
        if rc == 0:
            try:
                doc = json.loads(out)
                names = [d.get("name") for d in doc.get("blockdevices") or []
                         if d.get("type") == "disk" and d.get("name")]
                return [_dev_path(n) for n in names if not _skip(n)], "lsblk", None
            except (ValueError, AttributeError) as exc:
                note = "lsblk JSON unreadable (%s); used %s" % (exc, sysfs_block)
        else:
            note = "lsblk exited %d (%s); used %s" % (rc, (err or "").strip()[:200], sysfs_block)
    else:
        note = None
    try:
        names = sorted(os.listdir(sysfs_block))
    except OSError as exc:
        return [], "none", "cannot list %s: %s" % (sysfs_block, exc)
    disks = []
    for n in names:
        if _skip(n):
            continue
        # real disks have a device link; purely virtual block devices do not
        if not os.path.exists(os.path.join(sysfs_block, n, "device")):
            continue
        disks.append(_dev_path(n))
    return disks, "sysfs", note


def is_virtual(sysfs_block, dev):
    name = _short(dev)
    if name.startswith(VIRTUAL_PREFIXES):
        return True
    driver = os.path.join(sysfs_block, name, "device", "driver")
    try:
        return "virtio" in os.path.basename(os.path.realpath(driver))
    except OSError:
        return False


def device_blocks(sysfs_block, dev, block_size):
    """Device size in blocks of block_size (None when unknown)."""
    try:
        with open(os.path.join(sysfs_block, _short(dev), "size")) as handle:
            sectors = int(handle.read().strip())
    except (OSError, ValueError):
        return None
    return sectors * 512 // block_size


def parse_badblocks(out, err):
    bad = []
    for line in (out or "").splitlines():
        line = line.strip()
        if re.match(r"^\d+$", line):
            bad.append(int(line))
    m = re.search(r"Pass completed, (\d+) bad blocks found\. \((\d+)/(\d+)/(\d+) errors\)", err or "")
    summary = None
    if m:
        summary = {"bad_blocks": int(m.group(1)), "read_errors": int(m.group(2)),
                   "write_errors": int(m.group(3)), "corruption_errors": int(m.group(4))}
    return bad, summary


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type="list", elements="str", default=[]),
            sysfs_block=dict(type="path", default="/sys/block"),
            use_lsblk=dict(type="bool", default=True),
            badblocks_devices=dict(type="list", elements="str", default=[]),
            badblocks_max_blocks=dict(type="int", default=262144),
            badblocks_block_size=dict(type="int", default=4096),
            badblocks_timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    p = module.params
    for key in ("badblocks_max_blocks", "badblocks_block_size", "badblocks_timeout"):
        if p[key] < 1:
            module.fail_json(msg="%s must be at least 1" % key)
    notes = []
    if p["devices"]:
        disks = [_dev_path(d) for d in p["devices"]]
        how = "devices option"
    else:
        disks, how, note = enumerate_disks(module, p["sysfs_block"], p["use_lsblk"])
        if note:
            notes.append(note)
    wanted_bb = [_dev_path(d) for d in p["badblocks_devices"]]
    unknown = [d for d in wanted_bb if d not in disks]
    if unknown:
        module.fail_json(msg="badblocks_devices must be among the disks checked; not found: %s" % ", ".join(unknown),
                         disks=disks)

    smartctl = module.get_bin_path("smartctl")
    findings = []
    reports = []
    for dev in disks:
        entry = {"device": dev, "virtual": is_virtual(p["sysfs_block"], dev)}
        if not smartctl:
            entry.update({"verdict": "unreadable", "smartctl_rc": None,
                          "reasons": [{"code": "smartctl_missing", "severity": "warning",
                                       "message": "smartctl (smartmontools) is not installed"}]})
        else:
            rc, out, err = module.run_command([smartctl, "--json", "-x", dev], environ_update=ENV)
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
                    "message": "smartctl output unreadable (rc %s): %s; stderr: %s"
                               % (rc, exc, (err or "").strip()[:200])}]})
        reports.append(entry)
        verdict = entry["verdict"]
        if verdict == "healthy":
            continue
        severity = verdict_severity(entry)
        if verdict == "unreadable" and entry["virtual"]:
            severity = "info"
        msg = "%s: %s - %s" % (_short(dev), verdict,
                               "; ".join(r["message"] for r in entry["reasons"] if r["severity"] != "info")
                               or "; ".join(r["message"] for r in entry["reasons"]))
        findings.append({"category": "storage_device_error", "severity": severity, "source": "smartctl",
                         "signature": "smartctl.%s" % verdict, "device": _short(dev), "message": msg,
                         "verdict": verdict, "reasons": entry["reasons"]})

    badblocks = []
    if wanted_bb:
        bb_bin = module.get_bin_path("badblocks")
        timeout_bin = module.get_bin_path("timeout")
        for dev in wanted_bb:
            res = {"device": dev, "ran": False, "mode": "read-only"}
            if module.check_mode:
                res["reason"] = "check mode: scan not run"
            elif not bb_bin:
                res["reason"] = "badblocks (e2fsprogs) is not installed"
            else:
                bs = p["badblocks_block_size"]
                total = device_blocks(p["sysfs_block"], dev, bs)
                count = p["badblocks_max_blocks"] if total is None else min(total, p["badblocks_max_blocks"])
                if count < 1:
                    res["reason"] = "device is smaller than one block"
                else:
                    # badblocks DEVICE LAST_BLOCK FIRST_BLOCK; no -w/-n: read-only
                    argv = [bb_bin, "-sv", "-b", str(bs), dev, str(count - 1), "0"]
                    if timeout_bin:
                        argv = [timeout_bin, str(p["badblocks_timeout"])] + argv
                    else:
                        notes.append("timeout(1) not found: badblocks on %s bounded by block count only" % dev)
                    rc, out, err = module.run_command(argv, environ_update=ENV)
                    bad, summary = parse_badblocks(out, err)
                    res.update({"ran": True, "rc": rc, "command": argv, "blocks_checked": count,
                                "block_size": bs, "bad_blocks": bad[:1000], "bad_block_count": len(bad),
                                "summary": summary, "timed_out": bool(timeout_bin) and rc == 124,
                                "completed": summary is not None and rc == 0})
                    if rc not in (0, 124) and summary is None:
                        res["reason"] = "badblocks exited %d: %s" % (rc, (err or "").strip()[-300:])
                    if bad:
                        findings.append({"category": "storage_device_error", "severity": "error",
                                         "source": "badblocks", "signature": "badblocks.read_errors",
                                         "device": _short(dev), "sector": bad[0] * bs // 512,
                                         "message": "%s: %d unreadable blocks of %d bytes in the first %d (first: %d)"
                                                    % (_short(dev), len(bad), bs, count, bad[0])})
                    elif res["timed_out"]:
                        notes.append("badblocks on %s stopped after %d s" % (dev, p["badblocks_timeout"]))
            badblocks.append(res)

    if not smartctl:
        findings.insert(0, {"category": "storage_device_error", "severity": "warning", "source": "smartctl",
                            "signature": "smartctl.missing",
                            "message": "smartctl is not installed: health of %d disks unknown" % len(disks)})
    module.exit_json(changed=False, smartctl_available=bool(smartctl), enumerated_by=how, disks=reports,
                     badblocks=badblocks, findings=findings, notes=notes)


def main():
    run_module()


if __name__ == "__main__":
    main()
