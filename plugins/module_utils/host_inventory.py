# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host has in common with others, for the fleet correlation: tainting modules with their versions, the
BIOS/firmware, and the DIMMs (slot, bank, size, manufacturer, serial, part number), read cheaply and read-only.

- /proc/modules: the loaded modules that taint the kernel (the "(OE)" column), each with /sys/module/NAME/version
  and srcversion, since "module X 1.2" is what a fleet shares, not the name alone;
- /sys/class/dmi/id: bios_vendor, bios_version, bios_date, board and product (world-readable; serials are not);
- ``dmidecode -t 17`` for the DIMMs. It needs root: without it, or without dmidecode, ``dimms`` is None and
  ``dimms_note`` says why. Nothing here ever fails the host.

Pure Python, no Ansible import; 3.6-compatible syntax (runs on the target's python3).
"""

from __future__ import annotations

import os

from .dmidecode import DmidecodeError, memory_devices, unreadable_reason

DMI_ID = "/sys/class/dmi/id"
DMI_FIELDS = ("bios_vendor", "bios_version", "bios_date", "board_vendor", "board_name", "product_name",
              "sys_vendor")
MAX_MODULES = 200


def _read(host, path, limit=4096):
    try:
        return host.read_text(path, limit=limit).strip()
    except (IOError, OSError):
        return None


def parse_proc_modules(text):
    """(name, taint flags) of every module line of /proc/modules whose last column is a taint list like '(OE)'."""
    found = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[-1].startswith("(") and fields[-1].endswith(")"):
            found.append((fields[0], fields[-1][1:-1]))
    return found


def tainting_modules(host, proc="/proc", sys_module="/sys/module"):
    """Loaded modules that taint the kernel, with version and srcversion where the module declares them."""
    text = _read(host, os.path.join(proc, "modules"), limit=1024 * 1024)
    if text is None:
        return None
    modules = []
    for name, flags in parse_proc_modules(text)[:MAX_MODULES]:
        entry = {"name": name, "taint": flags}
        for key in ("version", "srcversion"):
            value = _read(host, os.path.join(sys_module, name, key), limit=256)
            if value:
                entry[key] = value
        modules.append(entry)
    return modules


def firmware(host, dmi_id=DMI_ID):
    """The BIOS and board identity from sysfs; None when the machine has no DMI table (arm64 without SMBIOS, ...)."""
    values = {key: _read(host, os.path.join(dmi_id, key), limit=256) for key in DMI_FIELDS}
    if not any(values.values()):
        return None
    return {key: value for key, value in values.items() if value}


def dimms(host):
    """(dimm list, slots, note): the DIMMs from ``dmidecode -t 17``; the list is None and the note says why when
    dmidecode is absent, needs root, or prints something else."""
    binary = host.which("dmidecode")
    if not binary:
        return None, None, "dmidecode is not installed"
    rc, out, err = host.run([binary, "-t", "17"])
    reason = unreadable_reason(rc, out, err)
    if reason:
        return None, None, reason
    try:
        parsed = memory_devices(out)
    except DmidecodeError as exc:
        if "Memory Device" not in (out or "") and "SMBIOS" in (out or ""):
            return [], 0, "the SMBIOS table lists no memory device"
        return None, None, "dmidecode output not understood: %s" % exc
    return parsed["dimms"], parsed["slots"], None


def collect_inventory(host):
    """{modules, firmware, dimms, dimm_slots, notes}: each part None when it could not be read, and said so."""
    notes = []
    modules = tainting_modules(host)
    if modules is None:
        notes.append("/proc/modules unreadable: tainting modules unknown")
    fw = firmware(host)
    if fw is None:
        notes.append("no DMI identity in %s: BIOS version unknown" % DMI_ID)
    dimm_list, slots, note = dimms(host)
    if note:
        notes.append("DIMMs: %s" % note)
    return {"modules": modules, "firmware": fw, "dimms": dimm_list, "dimm_slots": slots, "notes": notes}
