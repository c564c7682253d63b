# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host state that points at hardware or drivers: /proc/meminfo HardwareCorrupted and the
/proc/sys/kernel/tainted bitmask.

Taint bits, letters and meanings follow the kernel's
Documentation/admin-guide/tainted-kernels.rst (table "Table for decoding tainted state").
Pure Python, no Ansible import; plain JSON-serialisable results.
"""

from __future__ import annotations

import re


from .taint import TAINT_BITS


class HostStateParseError(ValueError):
    """/proc/meminfo or a taint value could not be parsed."""


def decode_taint(value) -> dict:
    """Decode /proc/sys/kernel/tainted (int or its text) into flags, letters and hints."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if isinstance(value, str):
        text = value.strip()
        if not re.match(r"^\d+$", text):
            raise HostStateParseError("taint value is not a non-negative integer: %r" % text[:40])
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise HostStateParseError("taint value must be a non-negative integer, got %r" % (value,))
    flags = []
    known = 0
    for bit, letter, name, meaning, hint in TAINT_BITS:
        known |= 1 << bit
        if value >> bit & 1:
            flags.append({"bit": bit, "letter": letter, "name": name, "description": meaning, "hint": hint})
    unknown = [b for b in range(value.bit_length()) if value >> b & 1 and not known >> b & 1]
    return {
        "value": value,
        "tainted": value != 0,
        "letters": "".join(f["letter"] for f in flags),
        "names": [f["name"] for f in flags],
        "flags": flags,
        "unknown_bits": unknown,
        "hints": sorted(set(f["hint"] for f in flags if f["hint"])),
    }


def parse_meminfo(data) -> dict:
    """Parse /proc/meminfo into {key: kB} and pull out HardwareCorrupted."""
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise HostStateParseError("meminfo contains NUL bytes (binary data?)")
        data = data.decode("ascii", "replace")
    if not isinstance(data, str):
        raise HostStateParseError("meminfo must be text")
    values = {}
    for line in data.splitlines():
        m = re.match(r"^([A-Za-z0-9_()]+):\s+(\d+)(?:\s+kB)?\s*$", line)
        if m:
            values[m.group(1)] = int(m.group(2))
    if not values or ("MemTotal" not in values and "HardwareCorrupted" not in values):
        raise HostStateParseError("text does not look like /proc/meminfo")
    return {
        "mem_total_kb": values.get("MemTotal"),
        "hardware_corrupted_kb": values.get("HardwareCorrupted"),
        "values": values,
    }


def host_state_findings(meminfo=None, taint=None) -> list:
    """Findings for poisoned memory (HardwareCorrupted > 0) and hardware-related taint bits."""
    findings = []
    hc = (meminfo or {}).get("hardware_corrupted_kb")
    if hc:
        findings.append({"category": "memory_page_offlined", "severity": "error", "source": "meminfo",
                         "signature": "meminfo.hardware_corrupted",
                         "message": "HardwareCorrupted: %d kB of memory poisoned and taken out of use" % hc,
                         "count": hc})
    if taint:
        names = taint.get("names") or []
        if "machine_check" in names:
            findings.append({"category": "machine_check_other", "severity": "warning", "source": "taint",
                             "signature": "taint.M", "tainted": taint.get("letters"),
                             "message": "kernel tainted M: the processor reported a machine check"})
        if "bad_page" in names:
            findings.append({"category": "bad_page_state", "severity": "warning", "source": "taint",
                             "signature": "taint.B", "tainted": taint.get("letters"),
                             "message": "kernel tainted B: a bad page was referenced or had unexpected flags"})
    return findings
