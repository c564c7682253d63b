# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read and parse a host's Secure Boot state.

- ``mokutil --sb-state`` (mokutil 0.6, https://github.com/lcp/mokutil) prints ``SecureBoot enabled`` or
  ``SecureBoot disabled`` (then ``Platform is in Setup Mode`` when it is), ``This system doesn't support Secure
  Boot`` on EFI firmware without the SecureBoot variable, and ``EFI variables are not supported on this system``
  (exit status 1) on a host booted without EFI.
- The efivar ``/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c`` is 4 attribute bytes
  then one byte, 1 when enforcing (``06 00 00 00 01``).
- No ``/sys/firmware/efi`` at all: the host booted through a legacy BIOS, so Secure Boot does not apply.

States: ``enabled``, ``disabled``, ``not_applicable`` (no EFI, or EFI without Secure Boot support), ``unknown``.

Pure Python, no Ansible import; 3.6-compatible syntax (runs on targets through a CollectHost).
"""

from __future__ import annotations

import os

SECURE_BOOT_EFIVAR = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
EFI_DIR = "/sys/firmware/efi"
ENABLED = "enabled"
DISABLED = "disabled"
NOT_APPLICABLE = "not_applicable"
UNKNOWN = "unknown"


def parse_mokutil_sb_state(text):
    """mokutil --sb-state output (stdout and stderr together) -> a state word (unknown when unrecognised)."""
    low = (text or "").lower()
    if "secureboot enabled" in low:
        return ENABLED
    if "secureboot disabled" in low:
        return DISABLED
    if "efi variables are not supported" in low or "doesn't support secure boot" in low:
        return NOT_APPLICABLE
    return UNKNOWN


def parse_secure_boot_efivar(data):
    """The SecureBoot efivar's bytes -> enabled/disabled, unknown when too short or not bytes."""
    if not isinstance(data, (bytes, bytearray)) or len(data) < 5:
        return UNKNOWN
    return ENABLED if data[4] == 1 else DISABLED


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read(64)
    except OSError:
        return None


def read_secure_boot(host, efi_dir=EFI_DIR):
    """{state, source, detail} for the host: mokutil first, else the efivar; no EFI directory is not_applicable.

    ``host`` is a CollectHost (collect_host.py): its ``which``/``run``/``isdir``; the efivar is read from this
    machine's file system (where the module runs).
    """
    if not host.isdir(efi_dir):
        return {"state": NOT_APPLICABLE, "source": "no-efi", "detail": "%s does not exist: legacy BIOS boot" % efi_dir}
    mokutil = host.which("mokutil")
    if mokutil:
        _rc, out, err = host.run([mokutil, "--sb-state"])
        text = ((out or "") + (err or "")).strip()
        state = parse_mokutil_sb_state(text)
        if state != UNKNOWN:
            return {"state": state, "source": "mokutil", "detail": text.splitlines()[0] if text else ""}
    efivars = os.path.join(efi_dir, "efivars")
    if not host.isdir(efivars):
        return {"state": UNKNOWN, "source": "efivar", "detail": "%s is not mounted and mokutil gave no answer" % efivars}
    path = os.path.join(efivars, SECURE_BOOT_EFIVAR)
    data = _read_bytes(path)
    if data is None:
        return {"state": NOT_APPLICABLE, "source": "efivar",
                "detail": "%s is missing: the firmware does not support Secure Boot" % path}
    state = parse_secure_boot_efivar(data)
    return {"state": state, "source": "efivar", "detail": "%s: %s" % (path, " ".join("%02x" % b for b in data[:5]))}
