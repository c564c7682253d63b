#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kdump_info
short_description: kdump readiness and the kernel findings in saved vmcores' dmesg
description:
  - Says whether a kernel crash would be captured - memory reserved for the crash kernel
    (C(/sys/kernel/kexec_crash_size), C(crashkernel=) on the command line), a crash kernel loaded
    (C(/sys/kernel/kexec_crash_loaded)), the kdump service (Debian/Ubuntu C(kdump-tools), RHEL C(kdump)), the dump
    directory and its free space - and, when not, each reason in words.
  - Reads the dmesg saved with each dump (kdump-tools C(dmesg.<stamp>), RHEL C(vmcore-dmesg.txt)) and scans it
    with the kernel-log signature catalogue, so the oops or panic that caused a past crash reaches the report.
  - Read-only; it changes nothing (configuring kdump needs a reboot for the reservation, which this module never does).
version_added: "0.2.0"
author:
  - pteguard maintainers (@pteguard)
options:
  dump_dir:
    description: Where kdump saves dumps.
    type: path
    default: /var/crash
  max_vmcores:
    description: Newest dumps read (bounds the work).
    type: int
    default: 20
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
"""

EXAMPLES = r"""
- name: Debug | kdump readiness and past crashes
  pteguard.remediation.kdump_info:
  register: pteguard_kdump
"""

RETURN = r"""
ready:
  description: Whether a crash would be captured now.
  returned: always
  type: bool
  sample: false
problems:
  description: Why not, one sentence each.
  returned: always
  type: list
  elements: str
  sample: ["no memory reserved for a crash kernel (boot with crashkernel=, e.g. crashkernel=256M; takes effect after a reboot)"]
crashkernel:
  description: C(cmdline_param), C(reserved_bytes), C(loaded).
  returned: always
  type: dict
  sample: {cmdline_param: null, reserved_bytes: 0, loaded: false}
service:
  description: The kdump unit systemd knows (unit, active, enabled), or null.
  returned: always
  type: dict
  sample: {unit: kdump-tools.service, active: active, enabled: enabled}
dump_dir:
  description: C(path), C(exists), C(free_bytes), C(mem_total_bytes).
  returned: always
  type: dict
  sample: {path: /var/crash, exists: true, free_bytes: 7912345600, mem_total_bytes: 536870912}
dumps:
  description: One entry per saved dump, newest first, with its dmesg file's findings and summary.
  returned: always
  type: list
  elements: dict
  sample: [{dir: /var/crash/202611300612, dmesg_file: /var/crash/202611300612/dmesg.202611300612,
            vmcore: [dump.202611300612], findings: [{category: kernel_panic, severity: critical}]}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.kdump_collect import collect_kdump


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            dump_dir=dict(type="path", default="/var/crash"),
            max_vmcores=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    try:
        result = collect_kdump(ModuleHost(module), **module.params)
    except CollectError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=False, **result)


def main():
    run_module()


if __name__ == "__main__":
    main()
