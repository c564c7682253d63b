# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host facts the diagnosis needs: memory size, physical address bits, CPU, architecture.

``host_facts_from_text`` takes the contents of /proc/meminfo and /proc/cpuinfo and the
``uname -m`` machine, so it is tested on real captures; ``read_host_facts`` reads them once
through a CollectHost (collect_host.py), so a module, the CLI and a recorded test host share
it. When /proc/cpuinfo has no ``address sizes`` line (arm64, riscv64 and others never print
one), the physical address width is an assumption per architecture, and the result says so
in ``phys_bits_source`` and ``assumptions``.

Pure Python, no Ansible import; Python 3.6-compatible syntax (runs on targets).
"""

from __future__ import annotations

import os
import re

from .collect_host import CollectHost

# Physical address bits assumed when /proc/cpuinfo does not print them, and why.
ASSUMED_PHYS_BITS = {
    "x86_64": (46, "x86_64 without an 'address sizes' line: 46 bits, the common server MAXPHYADDR "
                   "(desktop parts have 39-48, 5-level paging servers 52)"),
    "aarch64": (48, "arm64 /proc/cpuinfo has no address sizes: 48 bits, the output address of the "
                    "4 KiB-granule layout the decoder implements (ARMv8.2 LPA allows 52 with 64 KiB pages)"),
}
ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}

_ADDRESS_SIZES = re.compile(r"^address sizes\s*:\s*(\d+) bits physical,\s*(\d+) bits virtual", re.M)
_CPU_KEYS = (("vendor_id", "cpu_vendor"), ("model name", "cpu_model"), ("CPU implementer", "cpu_implementer"),
             ("CPU part", "cpu_part"), ("cpu family", "cpu_family"), ("model", "cpu_model_number"))


class HostFactsError(ValueError):
    """A host-facts input has the wrong shape."""


def parse_meminfo_total(text):
    """MemTotal of /proc/meminfo in bytes, or None when the line is absent."""
    if not isinstance(text, str):
        raise HostFactsError("meminfo must be text")
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            if len(parts) < 2 or not parts[1].isdigit():
                raise HostFactsError("unreadable MemTotal line: %r" % line[:80])
            unit = parts[2].lower() if len(parts) > 2 else "kb"
            if unit != "kb":
                raise HostFactsError("MemTotal in an unknown unit: %r" % line[:80])
            return int(parts[1]) * 1024
    return None


def parse_cpuinfo(text):
    """Address sizes and CPU identity from /proc/cpuinfo (the first processor's block)."""
    if not isinstance(text, str):
        raise HostFactsError("cpuinfo must be text")
    out = {"phys_bits": None, "virt_bits": None, "processors": 0}
    match = _ADDRESS_SIZES.search(text)
    if match:
        out["phys_bits"], out["virt_bits"] = int(match.group(1)), int(match.group(2))
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key == "processor":
            out["processors"] += 1
        for name, field in _CPU_KEYS:
            if key == name and field not in out:
                out[field] = value.strip()
    return out


def host_facts_from_text(meminfo, cpuinfo, machine):
    """memory_bytes, max_phys_bits (with its source), arch and CPU identity from file contents.

    meminfo and cpuinfo may be None (unreadable): the fact is then None or assumed, and said so.
    """
    arch = ARCH_ALIASES.get(machine, machine) if machine else None
    facts = {"arch": arch, "memory_bytes": None, "max_phys_bits": None, "virt_bits": None,
             "phys_bits_source": None, "assumptions": []}
    if meminfo is None:
        facts["assumptions"].append("/proc/meminfo unreadable: installed memory unknown")
    else:
        facts["memory_bytes"] = parse_meminfo_total(meminfo)
        if facts["memory_bytes"] is None:
            facts["assumptions"].append("/proc/meminfo has no MemTotal: installed memory unknown")
    cpu = parse_cpuinfo(cpuinfo) if cpuinfo is not None else {}
    for key in ("cpu_vendor", "cpu_model", "cpu_implementer", "cpu_part"):
        if cpu.get(key):
            facts[key] = cpu[key]
    if cpu.get("phys_bits"):
        facts["max_phys_bits"] = cpu["phys_bits"]
        facts["virt_bits"] = cpu["virt_bits"]
        facts["phys_bits_source"] = "/proc/cpuinfo"
    elif arch in ASSUMED_PHYS_BITS:
        facts["max_phys_bits"], why = ASSUMED_PHYS_BITS[arch]
        facts["phys_bits_source"] = "assumed"
        facts["assumptions"].append(why if cpuinfo is not None else "/proc/cpuinfo unreadable; " + why)
    else:
        facts["assumptions"].append("no address sizes in /proc/cpuinfo and no assumption for %s" % arch)
    return facts


def _read(host, path):
    try:
        return host.read_text(path)
    except (IOError, OSError):
        return None


def read_host_facts(host=None, proc="/proc"):
    """host_facts_from_text on a host's /proc/meminfo, /proc/cpuinfo and uname machine, read through a CollectHost
    (collect_host.py; the default reads this machine's files). A fact whose file cannot be read is None or assumed,
    and ``assumptions`` says so; malformed text raises HostFactsError."""
    host = host or CollectHost()
    return host_facts_from_text(_read(host, os.path.join(proc, "meminfo")), _read(host, os.path.join(proc, "cpuinfo")),
                                host.uname()[4])


def host_facts_or_note(host=None):
    """read_host_facts, or the facts left unknown with the reason when a file is malformed (never raises)."""
    try:
        return read_host_facts(host)
    except HostFactsError as exc:
        return {"assumptions": ["host facts unreadable: %s" % exc]}
