#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: boot_loader_info
short_description: Read what decides a host's next boot (GRUB settings, GRUB environment, memtest86+ entries, Secure Boot)
version_added: "0.1.0"
description:
  - Reads, never writes, C(/etc/default/grub), the GRUB environment block (C(saved_entry), C(next_entry)), the menu
    entries of C(grub.cfg) (the memtest86+ ones, plain and serial console, picked out) and the Secure Boot state
    (C(mokutil --sb-state) when installed, else the SecureBoot efivar; a host booted without EFI has none;
    module_utils/secure_boot.py).
  - Used by the P(pteguard.remediation.memory_test#role) role before it sets up a one-shot boot into memtest86+.
    The parsers are in module_utils/grub_env.py.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes.
    support: none
options:
  default_grub:
    description: Path of the GRUB defaults file.
    type: path
    default: /etc/default/grub
  grubenv:
    description: Path of the GRUB environment block.
    type: path
    default: /boot/grub/grubenv
  grub_cfg:
    description: Path of the generated GRUB configuration.
    type: path
    default: /boot/grub/grub.cfg
  efivars:
    description: Directory of the EFI variables; its parent is the EFI directory whose absence means no EFI.
    type: path
    default: /sys/firmware/efi/efivars
"""

EXAMPLES = r"""
- name: Read the boot loader state
  pteguard.remediation.boot_loader_info:
  register: memory_test_boot
"""

RETURN = r"""
grub_default:
  description: GRUB_DEFAULT from the defaults file (GRUB's own default V(0) when unset).
  returned: always
  type: str
  sample: saved
grubenv:
  description: The GRUB environment block's variables ({} when the file is missing).
  returned: always
  type: dict
  sample: {"saved_entry": "0", "next_entry": "Memory test (memtest86+x64.bin, serial console)"}
grubenv_exists:
  description: Whether the environment block file exists.
  returned: always
  type: bool
grub_cfg_exists:
  description: Whether grub.cfg exists.
  returned: always
  type: bool
honours_next_entry:
  description: Whether grub.cfg reads next_entry (made by a grub-mkconfig whose 00_header supports grub-reboot).
  returned: always
  type: bool
entries:
  description: Menu entries in order, each with title, path (what grub-reboot takes), kind and linux line.
  returned: always
  type: list
  elements: dict
memtest:
  description: The memtest86+ entries (plain, serial), each an entry or null.
  returned: always
  type: dict
  sample: {"plain": {"title": "Memory test (memtest86+x64.bin)"}, "serial": null}
next_boot:
  description: What GRUB boots next and why.
  returned: always
  type: dict
  sample: {"entry": "0", "why": "GRUB_DEFAULT=0", "one_shot": false, "default_is_saved": false}
efi:
  description: Whether the host booted through EFI.
  returned: always
  type: bool
secure_boot:
  description: True when Secure Boot is enforcing, false when off or not applicable, null when it could not be read.
  returned: always
  type: bool
secure_boot_state:
  description: enabled, disabled, not_applicable (no EFI, or firmware without Secure Boot) or unknown.
  returned: always
  type: str
  sample: not_applicable
secure_boot_source:
  description: Where the Secure Boot state came from (mokutil, efivar, no-efi).
  returned: always
  type: str
secure_boot_detail:
  description: What that source said (mokutil's first line, the efivar's bytes, or why there is none).
  returned: always
  type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.grub_env import (
    GrubParseError,
    memtest_entries,
    next_boot,
    parse_default_grub,
    parse_grub_cfg,
    parse_grubenv,
)
from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.secure_boot import ENABLED, UNKNOWN, read_secure_boot


def _read(module, path, binary=False):
    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        module.fail_json(msg="cannot read %s: %s" % (path, exc))
    return data if binary else data.decode("utf-8", "replace")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            default_grub=dict(type="path", default="/etc/default/grub"),
            grubenv=dict(type="path", default="/boot/grub/grubenv"),
            grub_cfg=dict(type="path", default="/boot/grub/grub.cfg"),
            efivars=dict(type="path", default="/sys/firmware/efi/efivars"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    defaults = parse_default_grub(_read(module, p["default_grub"]) or "")
    env_text = _read(module, p["grubenv"])
    try:
        env = parse_grubenv(env_text or "")
    except GrubParseError as exc:
        module.fail_json(msg="%s: %s" % (p["grubenv"], exc))
    cfg_text = _read(module, p["grub_cfg"])
    entries = parse_grub_cfg(cfg_text or "")
    efi_dir = os.path.dirname(p["efivars"].rstrip("/"))
    secure_boot = read_secure_boot(ModuleHost(module), efi_dir)
    module.exit_json(
        changed=False,
        grub_default=defaults.get("GRUB_DEFAULT", "0"),
        grubenv=env,
        grubenv_exists=env_text is not None,
        grub_cfg_exists=cfg_text is not None,
        honours_next_entry="next_entry" in (cfg_text or ""),
        entries=entries,
        memtest=memtest_entries(entries),
        next_boot=next_boot(defaults, env, entries),
        efi=os.path.isdir(efi_dir),
        secure_boot=None if secure_boot["state"] == UNKNOWN else secure_boot["state"] == ENABLED,
        secure_boot_state=secure_boot["state"],
        secure_boot_source=secure_boot["source"],
        secure_boot_detail=secure_boot["detail"],
    )


if __name__ == "__main__":
    main()
