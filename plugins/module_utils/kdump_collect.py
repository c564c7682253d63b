# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""kdump readiness and the dmesg of saved vmcores, read through a CollectHost.

Ready means: memory is reserved for the crash kernel (/sys/kernel/kexec_crash_size > 0, from a crashkernel=
boot parameter), a crash kernel is loaded (/sys/kernel/kexec_crash_loaded = 1, what kdump-tools / kdump.service
do at boot), and the dump directory exists with room for a dump. Each problem is said in words; nothing is
changed here. Saved dumps: Debian/Ubuntu kdump-tools write <dir>/<stamp>/dmesg.<stamp>, RHEL kdump writes
<dir>/<host-date>/vmcore-dmesg.txt; their text goes through the same kernel-log scanner as live logs.

Pure Python, no Ansible import; 3.6-compatible syntax.
"""

from __future__ import annotations

import os
import re

from .collect_host import CollectError
from .log_scan import scan_lines

SERVICES = ("kdump-tools.service", "kdump.service")
MAX_VMCORES = 20
MAX_DMESG_BYTES = 4 * 1024 * 1024
_DMESG_NAME = re.compile(r"^(?:dmesg\.\d+|vmcore-dmesg\.txt|dmesg\.txt)$")


def _read_int(host, path):
    try:
        return int(host.read_text(path, limit=64).strip())
    except (OSError, IOError, ValueError):
        return None


def crashkernel_state(host):
    """The crashkernel= parameter, the reserved size and whether a crash kernel is loaded."""
    try:
        cmdline = host.read_text("/proc/cmdline", limit=8192)
    except (OSError, IOError):
        cmdline = ""
    param = next((w for w in cmdline.split() if w.startswith("crashkernel=")), None)
    return {"cmdline_param": param, "reserved_bytes": _read_int(host, "/sys/kernel/kexec_crash_size"),
            "loaded": _read_int(host, "/sys/kernel/kexec_crash_loaded") == 1}


def service_state(host):
    """The kdump service systemd knows (Debian kdump-tools, RHEL kdump), or None."""
    systemctl = host.which("systemctl")
    if not systemctl:
        return None
    # one systemctl for both names (a subprocess per unit is a measurable share of the fleet's round trip); it
    # prints one block per unit, blank-line separated, in the order asked, each with its Id
    rc, out, _err = host.run([systemctl, "show", "--property=Id,LoadState,ActiveState,UnitFileState"]
                             + list(SERVICES))
    if rc != 0:
        return None
    for block in out.split("\n\n"):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("LoadState") == "loaded":
            return {"unit": props.get("Id"), "active": props.get("ActiveState"),
                    "enabled": props.get("UnitFileState")}
    return None


def free_bytes(host, path):
    """Bytes available on path's filesystem (statvfs, as df's Available), or None when it cannot be told."""
    try:
        return host.free_bytes(path)
    except (OSError, IOError):
        return None


def mem_total_bytes(host):
    try:
        text = host.read_text("/proc/meminfo", limit=65536)
    except (OSError, IOError):
        return None
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.M)
    return int(match.group(1)) * 1024 if match else None


def saved_dumps(host, dump_dir, max_vmcores=MAX_VMCORES):
    """The dmesg of every saved dump under dump_dir (newest first, bounded), scanned for findings."""
    try:
        entries = host.listdir(dump_dir)
    except (OSError, IOError):
        return []
    dumps = []
    for entry in sorted(entries, reverse=True)[:max_vmcores]:
        directory = os.path.join(dump_dir, entry)
        try:
            files = host.listdir(directory)
        except (OSError, IOError):
            continue
        names = [f for f in files if _DMESG_NAME.match(f)]
        cores = [f for f in files if f.startswith(("dump.", "vmcore")) and not _DMESG_NAME.match(f)]
        record = {"dir": directory, "vmcore": cores}
        if not names:
            record["note"] = "no dmesg file saved with this dump"
            dumps.append(record)
            continue
        path = os.path.join(directory, names[0])
        record["dmesg_file"] = path
        try:
            text = host.read_text(path, limit=MAX_DMESG_BYTES)
        except (OSError, IOError) as exc:
            record["error"] = "%s: %s" % (path, exc)
            dumps.append(record)
            continue
        scanned = scan_lines(text.splitlines())
        record["findings"] = scanned["findings"]
        record["summary"] = scanned["summary"]
        dumps.append(record)
    return dumps


def collect_kdump(host, dump_dir="/var/crash", max_vmcores=MAX_VMCORES):
    """kdump readiness (with the reasons when not ready) and the saved dumps' kernel findings."""
    if not dump_dir or not str(dump_dir).startswith("/"):
        raise CollectError("dump_dir must be an absolute path, got %r" % (dump_dir,))
    crash = crashkernel_state(host)
    service = service_state(host)
    exists = host.exists(dump_dir)
    free = free_bytes(host, dump_dir) if exists else None
    memory = mem_total_bytes(host)
    problems = []
    if not crash["reserved_bytes"]:
        problems.append("no memory reserved for a crash kernel (boot with crashkernel=, e.g. crashkernel=256M; "
                        "takes effect after a reboot)" if not crash["cmdline_param"] else
                        "crashkernel=%s is on the command line but nothing was reserved" % crash["cmdline_param"])
    if service is None:
        problems.append("no kdump service (Debian/Ubuntu: kdump-tools, RHEL: kexec-tools' kdump.service)")
    elif service["active"] != "active":
        problems.append("%s is %s" % (service["unit"], service["active"]))
    if crash["reserved_bytes"] and not crash["loaded"]:
        problems.append("no crash kernel loaded (kexec -p has not run)")
    if not exists:
        problems.append("dump directory %s does not exist" % dump_dir)
    elif free is not None and memory is not None and free < memory // 4:
        problems.append("only %d MiB free in %s for dumps of a %d MiB host (compressed dumps need roughly a "
                        "quarter of RAM or more)" % (free >> 20, dump_dir, memory >> 20))
    return {"ready": not problems, "problems": problems, "crashkernel": crash, "service": service,
            "dump_dir": {"path": dump_dir, "exists": exists, "free_bytes": free, "mem_total_bytes": memory},
            "dumps": saved_dumps(host, dump_dir, max_vmcores) if exists else []}
