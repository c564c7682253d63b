# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Decode x86 machine-check bank status (MCi_STATUS) values.

Bit layout from the Intel SDM vol. 3B ch. 16 and the kernel's
arch/x86/include/asm/mce.h; AMD's IPID layout from drivers/edac/mce_amd.c.
Pure Python: runs on targets and on the controller.
"""

from __future__ import annotations

STATUS_BITS = (
    (63, "VAL"),
    (62, "OVER"),
    (61, "UC"),
    (60, "EN"),
    (59, "MISCV"),
    (58, "ADDRV"),
    (57, "PCC"),
    (56, "S"),
    (55, "AR"),
)

# AMD IPID bits 43:32 name the hardware block; 0x96 is the unified memory controller.
AMD_HWID_UMC = 0x96


def _parse_hex(value):
    if isinstance(value, int):
        return value
    text = str(value).strip().lower()
    if text.startswith("0x"):
        text = text[2:]
    return int(text, 16)


def classify_mcacod(mcacod: int) -> str:
    """Name the class of MCACOD (status bits 15:0), per the SDM's error-code table."""
    code = mcacod & 0xEFFF  # bit 12 flags filtered reporting; it is not part of the class
    simple = {
        0x0000: "no_error",
        0x0001: "unclassified",
        0x0002: "microcode_rom_parity",
        0x0003: "external",
        0x0004: "frc",
        0x0005: "internal_parity",
        0x0006: "smm_handler_code_access_violation",
        0x0400: "internal_timer",
    }
    if code in simple:
        return simple[code]
    if code & 0xFC00 == 0x0400:
        return "internal_unclassified"
    if code & 0xFFFC == 0x000C:
        return "generic_cache_hierarchy"
    if code & 0xFFF0 == 0x0010:
        return "tlb"
    if code & 0xFF80 == 0x0080:
        return "memory_controller"
    if code & 0xFF00 == 0x0100:
        return "cache_hierarchy"
    if code & 0xF800 == 0x0800:
        return "bus_interconnect"
    return "other"


def decode_mce_status(status, ipid=None) -> dict:
    """Decode an MCi_STATUS value (int or hex string) into flags and a classification.

    `kind` is memory (DRAM / memory controller), or other; `corrected` follows
    the UC bit. AMD's IPID, when known, overrides MCACOD: AMD encodes the
    unified memory controller in IPID, not in the architectural MCACOD.
    """
    value = _parse_hex(status)
    if value < 0 or value >= 1 << 64:
        raise ValueError("MCi_STATUS %r is not a 64-bit value" % (status,))
    flags = [name for bit, name in STATUS_BITS if value >> bit & 1]
    mcacod = value & 0xFFFF
    mcacod_class = classify_mcacod(mcacod)
    kind = "memory" if mcacod_class == "memory_controller" else "other"
    result = {
        "status": "0x%016x" % value,
        "valid": bool(value >> 63 & 1),
        "overflow": bool(value >> 62 & 1),
        "uncorrected": bool(value >> 61 & 1),
        "enabled": bool(value >> 60 & 1),
        "address_valid": bool(value >> 58 & 1),
        "processor_context_corrupt": bool(value >> 57 & 1),
        "flags": flags,
        "mcacod": "0x%04x" % mcacod,
        "mcacod_class": mcacod_class,
        "mscod": "0x%04x" % (value >> 16 & 0xFFFF),
    }
    if ipid is not None:
        try:
            hwid = _parse_hex(ipid) >> 32 & 0xFFF
        except ValueError:
            hwid = None
        if hwid is not None:
            result["amd_hwid"] = "0x%03x" % hwid
            kind = "memory" if hwid == AMD_HWID_UMC else "other"
    result["kind"] = kind
    result["corrected"] = not result["uncorrected"]
    if result["processor_context_corrupt"]:
        result["severity_class"] = "fatal"
    elif result["uncorrected"]:
        result["severity_class"] = "uncorrected"
    else:
        result["severity_class"] = "corrected"
    return result


def mce_category(decoded: dict) -> str:
    """Map a decoded status to the finding category vocabulary."""
    if decoded["kind"] == "memory":
        return "memory_error_corrected" if decoded["corrected"] else "memory_error_uncorrected"
    return "machine_check_other"
