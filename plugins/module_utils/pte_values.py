# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decode page-table entry values that the kernel printed, and name what is wrong with them.

Inputs are the values the kernel-log parser extracts: ``pte``/``pmd`` of "Bad page map", the
``entry`` of "bad pte/pmd/pud", and the ``pgd``/``p4d``/``pud``/``pmd``/``pte`` of the x86
page-fault walk. Layouts:

- x86_64: Intel SDM vol. 3A ch. 4 (4-level/5-level paging) and Linux
  arch/x86/include/asm/pgtable_types.h (which bits Linux uses for software purposes and
  protection keys); swap entries per arch/x86/include/asm/pgtable_64.h of each era.
- arm64 (4 KiB granule, 48-bit output address): Arm ARM D8 (VMSAv8-64 descriptors) and Linux
  arch/arm64/include/asm/pgtable-hwdef.h / pgtable.h.

Each observation has ``code``, ``meaning`` and ``points_to``: ``hardware`` (a value one bit
away from a plausible entry - what a flipped DRAM cell or bus bit gives), ``software``
(pointer, poison or data-shaped values - what a stray write or DMA into a page-table page
gives) or ``unknown``. Pure Python, no Ansible import.
"""

from __future__ import annotations

from .addresses import classify_address, poison_kind

GIB = 1 << 30
# RAM is remapped above the PCI hole below 4 GiB, so the highest RAM address exceeds the RAM size by up to this much.
MMIO_HOLE_SLACK = 4 * GIB
# Without max_phys_bits or installed memory, entries are judged against this many physical address bits
# (the common server figure; desktop parts have 39-48, 5-level capable servers 52).
DEFAULT_PHYS_BITS = 46
# A swap offset of 2^32 pages (16 TiB of swap at 4 KiB) or more is not a real swap slot.
MAX_PLAUSIBLE_SWAP_OFFSET = 1 << 32

LEVELS = ("pgd", "p4d", "pud", "pmd", "pte")
MASK64 = (1 << 64) - 1

# x86_64 hardware flag bits (SDM table 4-19/4-20 names; Linux _PAGE_BIT_*).
X86_FLAGS = (
    (0, "present"), (1, "rw"), (2, "user"), (3, "pwt"), (4, "pcd"), (5, "accessed"), (6, "dirty"),
    (7, "pse_or_pat"), (8, "global"), (63, "nx"),
)
# Bits the hardware ignores and Linux uses (pgtable_types.h _PAGE_BIT_SOFTW1..5).
X86_SOFTWARE_BITS = ((9, "softw1"), (10, "softw2"), (11, "softw3"), (57, "softw5"), (58, "softw4"))
X86_PKEY_SHIFT = 59  # bits 62:59, protection key of a user leaf entry
X86_UNUSED_HIGH = tuple(range(52, 57))  # ignored by the CPU, never set by Linux

ARM64_FLAGS = (
    (0, "valid"), (1, "table_or_page"), (5, "ns"), (6, "ap_user"), (7, "ap_readonly"), (10, "af"),
    (11, "ng"), (51, "dbm"), (52, "contiguous"), (53, "pxn"), (54, "uxn"),
)
ARM64_SOFTWARE_BITS = ((55, "sw_dirty"), (56, "sw_special"), (57, "sw_devmap"), (58, "sw_prot_none"))


class PteValueError(ValueError):
    """A value that is not a page-table entry (not hex, wider than 64 bits)."""


def parse_value(text):
    """An entry value from an int, "0x..." or bare hex text."""
    if isinstance(text, bool):
        raise PteValueError("not an entry value: %r" % (text,))
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip().lower()
        if raw.startswith("0x"):
            raw = raw[2:]
        if not raw or len(raw) > 16:
            raise PteValueError("not a 64-bit hex value: %r" % (text,))
        try:
            value = int(raw, 16)
        except ValueError:
            raise PteValueError("not a hex value: %r" % (text,))
    if value < 0 or value > MASK64:
        raise PteValueError("value outside 64 bits: %r" % (text,))
    return value


def _bits(value, bits):
    return [b for b in bits if value >> b & 1]


def _obs(code, meaning, points_to, **extra):
    item = {"code": code, "meaning": meaning, "points_to": points_to}
    item.update(extra)
    return item


def memory_size_text(size_bytes):
    """A memory size as people read it: 981 MiB, 15.5 GiB (never "0 GiB" for a guest under 1 GiB)."""
    if size_bytes < GIB:
        return "%d MiB" % (size_bytes >> 20)
    return "%.1f GiB" % (size_bytes / float(GIB))


def _limits(max_phys_bits, installed_ram_bytes, phys_bits_source=None):
    """(physical address bits, highest plausible RAM address + 1, how the limit was chosen)."""
    bits = max_phys_bits if max_phys_bits else DEFAULT_PHYS_BITS
    top = 1 << bits
    if not max_phys_bits:
        basis = "assumed %d physical address bits (the host's were not given)" % bits
    elif phys_bits_source == "assumed":
        basis = "assumed %d physical address bits (the host does not report them)" % bits
    else:
        basis = "%d physical address bits (%s)" % (bits, phys_bits_source or "given")
    if installed_ram_bytes:
        top = min(top, installed_ram_bytes + MMIO_HOLE_SLACK)
        basis += "; installed memory %s (+4 GiB for the PCI hole remap)" % memory_size_text(installed_ram_bytes)
    else:
        basis += "; installed memory unknown (addresses checked against the address width only)"
    return bits, top, basis


# --- x86_64 ---------------------------------------------------------------------------------------

def _x86_layout(value, level):
    present = bool(value & 1)
    large = level in ("pmd", "pud") and bool(value >> 7 & 1)
    leaf = level == "pte" or large
    if large:
        shift = 21 if level == "pmd" else 30
        # bit 12 is PAT of a large page; bits shift-1:13 are reserved (must be zero)
        align_reserved = [b for b in range(13, shift) if value >> b & 1]
    else:
        shift = 12
        align_reserved = []
    addr = value & ((1 << 52) - 1) & ~((1 << shift) - 1)
    return present, large, leaf, shift, addr, align_reserved


def _x86_problems(value, level, phys_bits, ram_top, kernel_version=None, strict_table_flags=True):
    """What is implausible about a value as an x86_64 entry at this level (empty list: plausible)."""
    problems = []
    present, large, leaf, _shift, addr, align_reserved = _x86_layout(value, level)
    if not present:
        if value == 0:
            return problems
        layouts = _x86_swap_layouts(value)
        chosen = _pick_swap_layout(layouts, kernel_version)
        if all(s["offset"] >= MAX_PLAUSIBLE_SWAP_OFFSET for s in ([chosen] if chosen else layouts)):
            problems.append("not_present_not_swap")
        return problems
    reserved = [b for b in range(phys_bits, 52) if value >> b & 1]
    if reserved:
        problems.append("reserved_bits")
    if align_reserved:
        problems.append("large_page_reserved_bits")
    if _bits(value, X86_UNUSED_HIGH):
        problems.append("unused_high_bits")
    if addr >= ram_top and not reserved:
        problems.append("pfn_beyond_memory")
    if not leaf and strict_table_flags:
        low = value & 0x1FF & ~0x60  # accessed/dirty may be either
        if low not in (0x07, 0x03):
            problems.append("table_flags")
    if not leaf and _bits(value, range(59, 63)):
        problems.append("table_high_bits")
    return problems


def _x86_swap_modern(value):
    """>= 4.18 (L1TF): type in bits 63:59, offset stored inverted in bits 58:9."""
    return {"layout": ">=4.18", "type": value >> 59, "offset": ((~value << 5) & MASK64) >> 14}


def _x86_swap_layouts(value):
    return [
        _x86_swap_modern(value),
        {"layout": "4.7-4.17", "type": value >> 9 & 0x1F, "offset": value >> 14},
        {"layout": "<4.7", "type": value >> 1 & 0x1F, "offset": value >> 9},
    ]


def _kernel_tuple(kernel_version):
    if not kernel_version:
        return None
    parts = []
    for piece in str(kernel_version).split(".")[:2]:
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            return None
        parts.append(int(digits))
    return tuple(parts) if len(parts) == 2 else None


def _pick_swap_layout(layouts, kernel_version):
    kv = _kernel_tuple(kernel_version)
    if kv is None:
        return None
    for layout in layouts:
        name = layout["layout"]
        if name.startswith(">=") and kv >= (4, 18):
            return layout
        if name == "4.7-4.17" and (4, 7) <= kv < (4, 18):
            return layout
        if name == "<4.7" and kv < (4, 7):
            return layout
    return None


def _decode_x86(value, level, phys_bits, ram_top):
    present, large, leaf, shift, addr, align_reserved = _x86_layout(value, level)
    flags = [name for bit, name in X86_FLAGS if value >> bit & 1]
    if level != "pte":
        flags = [("pse" if n == "pse_or_pat" else n) for n in flags]
    elif "pse_or_pat" in flags:
        flags = [("pat" if n == "pse_or_pat" else n) for n in flags]
    decoded = {
        "present": present,
        "rw": bool(value >> 1 & 1),
        "user": bool(value >> 2 & 1),
        "pwt": bool(value >> 3 & 1),
        "pcd": bool(value >> 4 & 1),
        "accessed": bool(value >> 5 & 1),
        "dirty": bool(value >> 6 & 1),
        "pse_or_pat": bool(value >> 7 & 1),
        "global": bool(value >> 8 & 1),
        "nx": bool(value >> 63 & 1),
        "flags": flags,
        "software_bits": [name for bit, name in X86_SOFTWARE_BITS if value >> bit & 1],
        "kind": ("large_page_%s" % ("2M" if level == "pmd" else "1G") if large else
                 ("page" if leaf else "table")) if present else ("none" if value == 0 else "not_present"),
    }
    if present:
        decoded["protection_key"] = (value >> X86_PKEY_SHIFT) & 0xF if leaf else None
        decoded["physical_address"] = "0x%x" % addr
        decoded["pfn"] = "0x%x" % (addr >> 12)
        decoded["reserved_bits"] = [b for b in range(phys_bits, 52) if value >> b & 1] + align_reserved
        decoded["unused_high_bits"] = _bits(value, X86_UNUSED_HIGH)
        decoded["beyond_memory"] = addr >= ram_top
    return decoded


# --- arm64 -----------------------------------------------------------------------------------------

def _arm64_problems(value, level, phys_bits, ram_top, kernel_version=None, strict_table_flags=True):
    problems = []
    if not value & 1:
        if value == 0:
            return problems
        swap = _arm64_swap(value)
        if swap["offset"] >= MAX_PLAUSIBLE_SWAP_OFFSET:
            problems.append("not_present_not_swap")
        return problems
    table = bool(value >> 1 & 1) and level != "pte"
    if level == "pte" and not value >> 1 & 1:
        problems.append("reserved_descriptor_type")
    limit = min(phys_bits, 48)
    if [b for b in range(limit, 51) if value >> b & 1]:
        problems.append("reserved_bits")
    addr = value & ((1 << 48) - 1) & ~0xFFF
    if addr >= ram_top:
        problems.append("pfn_beyond_memory")
    if table and value & 0xFFC:
        problems.append("table_flags")
    return problems


def _arm64_swap(value):
    """>= 6.0: type in bits 7:3, offset in bits 57:8, bit 2 the anon-exclusive marker."""
    return {"layout": ">=6.0", "type": value >> 3 & 0x1F, "offset": value >> 8 & ((1 << 50) - 1),
            "exclusive": bool(value >> 2 & 1)}


def _decode_arm64(value, level, phys_bits, ram_top):
    valid = bool(value & 1)
    table = valid and bool(value >> 1 & 1) and level != "pte"
    addr = value & ((1 << 48) - 1) & ~0xFFF
    decoded = {
        "present": valid,
        "kind": ("table" if table else ("page" if level == "pte" else "block")) if valid else
                ("none" if value == 0 else "not_present"),
        "flags": [name for bit, name in ARM64_FLAGS if value >> bit & 1],
        "software_bits": [name for bit, name in ARM64_SOFTWARE_BITS if value >> bit & 1],
    }
    if valid:
        decoded.update({
            "attr_index": value >> 2 & 7,
            "user": bool(value >> 6 & 1) if not table else None,
            "rw": not bool(value >> 7 & 1) if not table else None,
            "accessed": bool(value >> 10 & 1) if not table else None,
            "nx": bool(value >> 54 & 1) if not table else None,
            "physical_address": "0x%x" % addr,
            "pfn": "0x%x" % (addr >> 12),
            "reserved_bits": [b for b in range(min(phys_bits, 48), 51) if value >> b & 1],
            "beyond_memory": addr >= ram_top,
        })
    return decoded


# --- shape checks shared by both ------------------------------------------------------------------

def _data_like(value):
    """Eight non-zero bytes that are all small integers or all printable ASCII: data, not an entry."""
    data = [(value >> (8 * i)) & 0xFF for i in range(8)]
    if 0 in data:
        return None
    if all(b < 0x20 for b in data):
        return "small_integers"
    if all(0x20 <= b < 0x7F for b in data):
        return "ascii_text"
    return None


def _pointer_like(value, arch):
    if arch == "x86_64" and value >> 47 == 0x1FFFF:
        return classify_address(value, "x86_64").get("region")
    if arch == "arm64" and value >> 48 == 0xFFFF:
        return classify_address(value, "arm64").get("region")
    return None


_PROBLEM_TEXT = {
    "reserved_bits": "physical-address bits above MAXPHYADDR are set; the CPU faults on such an entry",
    "large_page_reserved_bits": "a 2M/1G entry has bits set below its alignment; they are reserved",
    "unused_high_bits": "bits 56:52 are set; the CPU ignores them and Linux never sets them",
    "pfn_beyond_memory": "the physical address lies beyond installed memory",
    "table_flags": "a table entry's flags are not what Linux writes (present|rw[|user], accessed, dirty)",
    "table_high_bits": "a table entry has bits 62:59 set; Linux never sets them on a table entry",
    "not_present_not_swap": "a not-present entry whose swap offset is absurd: neither an entry nor a swap entry",
    "reserved_descriptor_type": "a level-3 descriptor of type 0b01, which is reserved",
}


def decode_entry(value, level="pte", arch="x86_64", installed_ram_bytes=None, max_phys_bits=None,
                 kernel_version=None, phys_bits_source=None):
    """Decode one entry and list observations about it.

    value: int or hex text; level: pgd|p4d|pud|pmd|pte; arch: x86_64|arm64 (others get the
    architecture-independent checks only); installed_ram_bytes, max_phys_bits: optional host facts
    that sharpen the PFN checks (phys_bits_source says where max_phys_bits came from: "/proc/cpuinfo",
    or "assumed" when the host does not report it); kernel_version picks the swap-entry layout.
    """
    v = parse_value(value)
    if level not in LEVELS:
        raise PteValueError("level must be one of %s, got %r" % ("/".join(LEVELS), level))
    if installed_ram_bytes is not None and (not isinstance(installed_ram_bytes, int) or installed_ram_bytes <= 0):
        raise PteValueError("installed_ram_bytes must be a positive integer")
    if max_phys_bits is not None and (not isinstance(max_phys_bits, int) or not 32 <= max_phys_bits <= 52):
        raise PteValueError("max_phys_bits must be an integer from 32 to 52")
    arch = {"amd64": "x86_64", "aarch64": "arm64"}.get(arch or "x86_64", arch or "x86_64")
    phys_bits, ram_top, basis = _limits(max_phys_bits, installed_ram_bytes, phys_bits_source)
    result = {"value": "0x%016x" % v, "level": level, "arch": arch, "limits": basis}
    observations = []
    if arch == "x86_64":
        result.update(_decode_x86(v, level, phys_bits, ram_top))
        problems_of = _x86_problems
    elif arch == "arm64":
        result.update(_decode_arm64(v, level, phys_bits, ram_top))
        problems_of = _arm64_problems
    else:
        problems_of = None
        result["decoded"] = False
        observations.append(_obs("arch_not_decoded", "no bit layout for %s: only shape checks ran" % arch,
                                 "unknown"))

    poison = poison_kind(v)
    pointer = _pointer_like(v, arch)
    data = _data_like(v)
    if poison:
        observations.append(_obs("poison_pattern", "the value is the kernel's %s poison pattern: freed or "
                                 "uninitialised memory was used as a page table" % poison, "software",
                                 poison=poison))
    elif pointer:
        observations.append(_obs("pointer_like", "the value is a kernel virtual address (%s region), not an "
                                 "entry: a pointer was written over the page table" % pointer, "software",
                                 region=pointer))
    elif data:
        observations.append(_obs("data_like", "every byte is %s: data written over the page table (a stray "
                                 "write or DMA), not an entry" % data.replace("_", " "), "software",
                                 pattern=data))

    problems = problems_of(v, level, phys_bits, ram_top, kernel_version) if problems_of else []
    result["problems"] = problems
    for problem in problems:
        points = "unknown"
        extra = {}
        if problem == "reserved_bits":
            extra["bits"] = result.get("reserved_bits")
        if problem == "pfn_beyond_memory" and result.get("pcd"):
            meaning = _PROBLEM_TEXT[problem] + " (cache-disabled: it may map device memory)"
        else:
            meaning = _PROBLEM_TEXT[problem]
        observations.append(_obs(problem, meaning, points, **extra))

    # a table entry with odd flags alone is no reason to look for a flipped bit: only a value the CPU or the
    # kernel could not use (reserved bits, impossible address, not an entry nor a swap entry) is
    hard = [p for p in problems if p != "table_flags"]
    if problems_of and hard and not (poison or pointer or data):
        flips = []
        for bit in range(64):
            candidate = v ^ (1 << bit)
            if not problems_of(candidate, level, phys_bits, ram_top, kernel_version) and (candidate & 1 or v & 1 == 0):
                flips.append({"bit": bit, "plausible_value": "0x%016x" % candidate})
        if flips and len(flips) <= 2:
            observations.append(_obs(
                "single_bit_flip", "one flipped bit (bit %s) turns it into a plausible entry: the signature of a "
                "memory or bus bit error" % " or ".join(str(f["bit"]) for f in flips), "hardware", candidates=flips))
        elif flips:
            observations.append(_obs(
                "ambiguous_bit_flip", "%d different single-bit changes make it plausible; the check cannot tell "
                "which, if any, flipped" % len(flips), "unknown", candidates=flips[:4]))
        else:
            weight = bin(v).count("1")
            observations.append(_obs(
                "multi_bit_corruption", "no single flipped bit explains it (%d bits set): memory faults usually flip "
                "one bit, so this favours a stray write, though a failing non-ECC DIMM can corrupt more" % weight,
                "software"))

    if result.get("kind") == "not_present" and arch in ("x86_64", "arm64"):
        layouts = _x86_swap_layouts(v) if arch == "x86_64" else [_arm64_swap(v)]
        chosen = _pick_swap_layout(layouts, kernel_version) if arch == "x86_64" else layouts[0]
        shown = [chosen] if chosen else layouts
        for layout in shown:
            layout["offset_hex"] = "0x%x" % layout["offset"]
            layout["plausible"] = layout["offset"] < MAX_PLAUSIBLE_SWAP_OFFSET
            # the generic swp_entry_t value the kernel prints in "Bad swap file entry" (type above bit 58)
            layout["swp_entry"] = "%x" % ((layout["type"] << 58) | layout["offset"])
        result["swap"] = shown
        if any(layout["plausible"] for layout in shown):
            observations.append(_obs(
                "swap_entry_shaped", "not present, and shaped like a swap entry (type %s, offset %s): fine if the "
                "host swaps to that area, corruption if it has no such swap area"
                % (shown[0]["type"], shown[0]["offset_hex"]), "unknown"))

    result["observations"] = observations
    result["points_to"] = _summary(observations)
    return result


def _summary(observations):
    votes = set(o["points_to"] for o in observations if o["points_to"] != "unknown")
    if len(votes) == 1:
        return votes.pop()
    return "unknown"


_ENTRY_FIELDS = ("pgd", "p4d", "pud", "pmd", "pte")


def finding_entries(finding):
    """(level, value) pairs a finding carries: the walk and Bad page map fields, or a bad pXd entry."""
    pairs = []
    if finding.get("signature") == "bad_swap_entry":
        return pairs  # its entry is a swp_entry_t, not a page-table entry
    for level in _ENTRY_FIELDS:
        if finding.get(level):
            pairs.append((level, finding[level]))
    if finding.get("entry") and finding.get("level") in LEVELS and finding.get("level") not in dict(pairs):
        pairs.append((finding["level"], finding["entry"]))
    return pairs


def analyze_finding(finding, arch=None, installed_ram_bytes=None, max_phys_bits=None, kernel_version=None,
                    phys_bits_source=None):
    """Decode every entry a pte_corruption finding carries; observations from the record itself are added.

    Returns {"entries": [decoded...], "observations": [...], "points_to": ...}.
    """
    if not isinstance(finding, dict):
        raise PteValueError("a finding must be a dict")
    if arch is None:
        # the scanner records the arch on every finding (the host's, or what the record shows); the decoders know
        # x86_64 and arm64, and a record that shows neither is far likelier x86_64
        arch = "arm64" if finding.get("arch") == "arm64" else "x86_64"
    entries = []
    observations = []
    for level, value in finding_entries(finding):
        try:
            decoded = decode_entry(value, level, arch, installed_ram_bytes, max_phys_bits, kernel_version,
                                   phys_bits_source)
        except PteValueError as exc:
            observations.append(_obs("unreadable_value", "%s value %r: %s" % (level, value, exc), "unknown"))
            continue
        entries.append(decoded)
        for item in decoded["observations"]:
            tagged = dict(item)
            tagged["level"] = level
            observations.append(tagged)
    if "reserved_bit" in (finding.get("pf_flags") or []):
        observations.append(_obs("cpu_reported_reserved_bit", "the CPU's page-fault error code says it met a "
                                 "reserved bit in an entry of this walk", "unknown"))
    if finding.get("page_walk_bad"):
        observations.append(_obs("kernel_flagged_bad", "the kernel's walk printed BAD: the last entry shown failed "
                                 "its sanity check", "unknown"))
    return {"entries": entries, "observations": observations, "points_to": _summary(observations)}
