# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel taint flags: the table, and the letters of an oops's "Tainted:" (host_state.py decodes the bitmask).

Table from Documentation/admin-guide/tainted-kernels.rst and kernel/panic.c taint_flags.
"""

from __future__ import annotations

# (bit, letter, name, meaning, what it hints at for the diagnosis); bit 0 prints P when set and G when clear.
TAINT_BITS = (
    (0, "P", "proprietary_module", "a proprietary module was loaded", "driver"),
    (1, "F", "forced_module_load", "a module was force-loaded", "driver"),
    (2, "S", "out_of_spec_system", "kernel running on an out-of-specification system", "firmware"),
    (3, "R", "forced_module_unload", "a module was force-unloaded", "driver"),
    (4, "M", "machine_check", "the processor reported a machine check exception", "hardware"),
    (5, "B", "bad_page", "a bad page was referenced or unexpected page flags were seen", "memory"),
    (6, "U", "user_requested", "taint requested by userspace", None),
    (7, "D", "died_recently", "the kernel died recently (oops or BUG)", "kernel"),
    (8, "A", "acpi_table_overridden", "an ACPI table was overridden by the user", "firmware"),
    (9, "W", "warning", "the kernel issued a warning", "kernel"),
    (10, "C", "staging_driver", "a staging driver was loaded", "driver"),
    (11, "I", "firmware_workaround", "a workaround for a platform firmware bug is active", "firmware"),
    (12, "O", "out_of_tree_module", "an externally-built (out-of-tree) module was loaded", "driver"),
    (13, "E", "unsigned_module", "an unsigned module was loaded", "driver"),
    (14, "L", "soft_lockup", "a soft lockup occurred", "kernel"),
    (15, "K", "live_patched", "the kernel has been live patched", None),
    (16, "X", "auxiliary", "auxiliary taint, defined and used by distributions", None),
    (17, "T", "randstruct", "kernel built with the struct randomization plugin", None),
    (18, "N", "test", "an in-kernel test has been run", None),
    (19, "J", "fwctl_mutation", "userspace used a mutating debug operation in fwctl", "firmware"),
)

_BY_LETTER = dict((letter, name) for _bit, letter, name, _meaning, _hint in TAINT_BITS)


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
