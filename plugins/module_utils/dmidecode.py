# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The memory devices (SMBIOS type 17) of ``dmidecode`` text: slot, bank, size, manufacturer, serial, part number.

Takes the output of ``dmidecode -t 17`` or of a full ``dmidecode`` (other types are skipped), from dmidecode 2.x
(``Size: 16384 MB``) to 3.x (``Size: 16 GB``, the ``Memory Technology`` lines of SMBIOS 3.2). An empty slot is
``Size: No Module Installed``; firmware fills its other fields with placeholders ("Dimm1_PartNum", "NO DIMM"), so
they are never read as a part. "Not Specified", "Unknown", "--" (hw-probe's redaction) and friends become None:
an RMA note must not quote a placeholder as a serial number.

Pure Python, no Ansible import; 3.6-compatible syntax (runs on the target's python3).
"""

from __future__ import annotations

import re

_HANDLE = re.compile(r"^Handle 0x([0-9A-Fa-f]+), DMI type (\d+),")
_SIZE = re.compile(r"^(\d+)\s*(bytes|kB|KB|MB|GB|TB)$")
_UNITS = {"bytes": 1, "kB": 1 << 10, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
_PLACEHOLDERS = ("not specified", "unknown", "--", "not provided", "no dimm", "none", "", "to be filled by o.e.m.",
                 "default string", "0000000000000000", "00000000", "serial#", "partnum#")
FIELDS = (("Locator", "locator"), ("Bank Locator", "bank_locator"), ("Manufacturer", "manufacturer"),
          ("Serial Number", "serial"), ("Part Number", "part_number"), ("Type", "type"), ("Speed", "speed"),
          ("Asset Tag", "asset_tag"), ("Rank", "rank"))
NOT_ROOT = "dmidecode needs root to read the SMBIOS table"


class DmidecodeError(ValueError):
    """The text is not dmidecode output."""


def _value(text):
    text = text.strip()
    return None if text.lower() in _PLACEHOLDERS else text


def size_bytes(text):
    """'16 GB' / '16384 MB' -> bytes; None for an empty slot or an unknown size."""
    match = _SIZE.match((text or "").strip())
    return int(match.group(1)) * _UNITS[match.group(2)] if match else None


def structures(text):
    """(type, handle, {field: value}) for every structure in dmidecode text (list-valued fields are skipped)."""
    if not isinstance(text, str):
        raise DmidecodeError("dmidecode output must be text")
    found = []
    current = None
    for line in text.splitlines():
        match = _HANDLE.match(line.strip())
        if match:
            current = {}
            found.append((int(match.group(2)), "0x" + match.group(1).upper(), current))
            continue
        if current is None or not line.startswith("\t") or line.startswith("\t\t"):
            continue
        key, sep, value = line.strip().partition(":")
        if sep:
            current.setdefault(key.strip(), value)
    return found


def memory_devices(text):
    """{dimms: [...populated slots...], slots: N, empty_slots: N} from dmidecode text.

    Raises DmidecodeError when the text holds no SMBIOS structure at all (not dmidecode output)."""
    found = structures(text)
    if not found:
        raise DmidecodeError("no SMBIOS structure in the text (not dmidecode output)")
    dimms = []
    slots = 0
    for dmi_type, handle, fields in found:
        if dmi_type != 17:
            continue
        slots += 1
        raw_size = (fields.get("Size") or "").strip()
        if raw_size.lower().startswith("no module installed"):
            continue
        dimm = {"handle": handle, "size": raw_size or None, "size_bytes": size_bytes(raw_size)}
        for name, key in FIELDS:
            dimm[key] = _value(fields.get(name, ""))
        dimms.append(dimm)
    return {"dimms": dimms, "slots": slots, "empty_slots": slots - len(dimms)}


def unreadable_reason(rc, stdout, stderr):
    """Why a dmidecode run gave no table, in words; None when it did."""
    text = "%s\n%s" % (stdout or "", stderr or "")
    if "Permission denied" in text or "Operation not permitted" in text:
        return NOT_ROOT
    if "No SMBIOS nor DMI entry point found" in text:
        return "no SMBIOS table on this machine (dmidecode found no entry point)"
    if rc != 0:
        line = next((l.strip() for l in (stderr or "").splitlines() if l.strip()), "")
        return "dmidecode exited %d%s" % (rc, (": " + line[:200]) if line else "")
    return None
