# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel taint flags: the letters of "Tainted:" and the /proc/sys/kernel/tainted bitmask.

Table from Documentation/admin-guide/tainted-kernels.rst and kernel/panic.c taint_flags.
"""

from __future__ import annotations

# (bit, letter, name); bit 0 prints P when set and G when clear.
TAINT_FLAGS = (
    (0, "P", "proprietary_module"),
    (1, "F", "forced_module_load"),
    (2, "S", "out_of_spec_system"),
    (3, "R", "forced_module_unload"),
    (4, "M", "machine_check"),
    (5, "B", "bad_page"),
    (6, "U", "user_requested"),
    (7, "D", "died_recently"),
    (8, "A", "acpi_table_overridden"),
    (9, "W", "warning"),
    (10, "C", "staging_driver"),
    (11, "I", "firmware_workaround"),
    (12, "O", "out_of_tree_module"),
    (13, "E", "unsigned_module"),
    (14, "L", "soft_lockup"),
    (15, "K", "live_patched"),
    (16, "X", "auxiliary"),
    (17, "T", "randstruct"),
    (18, "N", "test"),
    (19, "J", "fwctl_mutation"),
)

_BY_LETTER = dict((letter, name) for _bit, letter, name in TAINT_FLAGS)


def decode_taint_letters(text: str) -> list:
    """Names of the taint flags in a "Tainted: G    B      OE" string ("Not tainted" -> [])."""
    if not text or "not tainted" in text.lower():
        return []
    letters = text.split(":", 1)[1] if ":" in text else text
    names = []
    for letter in letters:
        name = _BY_LETTER.get(letter)
        if name and name not in names:
            names.append(name)
    return names


def decode_taint_mask(mask: int) -> dict:
    """Decode the /proc/sys/kernel/tainted bitmask into letters and names."""
    mask = int(mask)
    names = [name for bit, _letter, name in TAINT_FLAGS if mask >> bit & 1]
    letters = "".join(letter for bit, letter, _name in TAINT_FLAGS if mask >> bit & 1)
    known = sum(1 << bit for bit, _letter, _name in TAINT_FLAGS)
    return {"mask": mask, "letters": letters, "flags": names, "unknown_bits": mask & ~known}
