# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a kernel virtual address lies, and whether it is a poison value.

x86_64 layout from Documentation/arch/x86/x86_64/mm.rst (4-level paging);
arm64 from Documentation/arch/arm64/memory.rst (48-bit VA, 5.4+ layout, which
puts the linear map in the lower half of the kernel range). Poison values
from include/linux/poison.h. The faulting data address says *what* was
touched; the culprit is the code at RIP/PC, never this address.
"""

from __future__ import annotations

# (start, end inclusive, region)
X86_64_REGIONS = (
    (0x0000000000000000, 0x0000000000000FFF, "null_page"),
    (0x0000000000001000, 0x00007FFFFFFFFFFF, "user"),
    (0x0000800000000000, 0xFFFF7FFFFFFFFFFF, "non_canonical"),
    (0xFFFF800000000000, 0xFFFF87FFFFFFFFFF, "guard_hole"),
    (0xFFFF880000000000, 0xFFFFC87FFFFFFFFF, "direct_map"),
    (0xFFFFC90000000000, 0xFFFFE8FFFFFFFFFF, "vmalloc"),
    (0xFFFFEA0000000000, 0xFFFFEAFFFFFFFFFF, "vmemmap"),
    (0xFFFFEC0000000000, 0xFFFFFBFFFFFFFFFF, "kasan_shadow"),
    (0xFFFFFE0000000000, 0xFFFFFE7FFFFFFFFF, "cpu_entry_area"),
    (0xFFFFFF0000000000, 0xFFFFFF7FFFFFFFFF, "espfix"),
    (0xFFFFFFEF00000000, 0xFFFFFFFEFFFFFFFF, "efi"),
    (0xFFFFFFFF80000000, 0xFFFFFFFF9FFFFFFF, "kernel_text"),
    (0xFFFFFFFFA0000000, 0xFFFFFFFFFEFFFFFF, "modules"),
    (0xFFFFFFFFFF600000, 0xFFFFFFFFFF600FFF, "vsyscall"),
)

ARM64_REGIONS = (
    (0x0000000000000000, 0x0000000000000FFF, "null_page"),
    (0x0000000000001000, 0x0000FFFFFFFFFFFF, "user"),
    (0x0001000000000000, 0xFFFEFFFFFFFFFFFF, "non_canonical"),
    (0xFFFF000000000000, 0xFFFF7FFFFFFFFFFF, "direct_map"),
    (0xFFFF800000000000, 0xFFFF800007FFFFFF, "modules"),
    (0xFFFF800008000000, 0xFFFFFBFFFFFFFFFF, "vmalloc"),
    (0xFFFFFC0000000000, 0xFFFFFDFFFFFFFFFF, "vmemmap"),
    (0xFFFFFE0000000000, 0xFFFFFFFFFFFFFFFF, "fixmap_pci_io"),
)

# Poison patterns: byte patterns repeated across a word, and exact pointer values.
_POISON_BYTES = {
    0x6B: "slab_free",  # POISON_FREE: object used after kfree
    0x5A: "slab_inuse",  # POISON_INUSE: uninitialised slab object
    0xA5: "slab_end",  # POISON_END
    0xBB: "redzone_inactive",
    0xCC: "redzone_active",
}
_POISON_POINTER_DELTA = 0xDEAD000000000000


def parse_address(text):
    """An address from "0x..."/bare hex text; None for anything else."""
    if text is None:
        return None
    if isinstance(text, int):
        return text
    value = str(text).strip().lower()
    if value.startswith("0x"):
        value = value[2:]
    if not value or len(value) > 16:
        return None
    try:
        return int(value, 16)
    except ValueError:
        return None


def poison_kind(value: int):
    """Name the poison pattern an address carries, or None."""
    if value & 0xFFFF000000000000 == _POISON_POINTER_DELTA and value & 0xFFFFFFFFFFFF in (0x100, 0x122, 0x200):
        return "list_poison"
    if value & 0xFFFF000000000000 == _POISON_POINTER_DELTA:
        return "pointer_poison"
    low = value & 0xFFFFFFFF
    for byte, name in _POISON_BYTES.items():
        if low == byte * 0x01010101:
            return name
    return None


def classify_address(text, arch="x86_64") -> dict:
    """Region, poison and software/hardware hint for a kernel-reported address."""
    value = parse_address(text)
    if value is None:
        return {}
    if arch not in ("x86_64", "arm64"):
        arch = "x86_64"
    table = ARM64_REGIONS if arch == "arm64" else X86_64_REGIONS
    region = "unknown"
    for start, end, name in table:
        if start <= value <= end:
            region = name
            break
    result = {"region": region}
    poison = poison_kind(value)
    if poison:
        result["poison"] = poison
        result["hint"] = "software_use_after_free" if poison != "slab_inuse" else "software_uninitialised_use"
    elif region == "null_page":
        result["hint"] = "software_null_dereference"
    elif region == "non_canonical":
        result["hint"] = "corrupted_pointer"
    return result
