#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: disk_health_info
short_description: SMART health of every disk (SATA, SAS, NVMe), with an optional read-only badblocks scan
description:
  - Enumerates the host's disks (C(lsblk --json), or C(/sys/block) when lsblk is missing) and runs
    C(smartctl --json -x) on each. smartctl's exit-status bitmask is decoded, never treated as a
    plain failure.
  - Reports the attributes that matter (reallocated / pending / offline-uncorrectable sectors,
    interface CRC errors, NVMe media errors, critical warning, percentage used, error log
    entries, SAS grown defects and uncorrected errors, the self-test log) and a verdict per disk.
  - A disk that cannot be read is a finding, never a silence.
  - Optionally runs C(badblocks -sv) - read-only, bounded by a block count and a time limit - on
    the devices listed in O(badblocks_devices) only. Never a write mode. Not run in check mode.
version_added: "0.1.0"
author:
  - pteguard maintainers (@pteguard)
options:
  devices:
    description: Disks to check (C(/dev/sda), C(nvme0n1)); default every physical disk found.
    type: list
    elements: str
    default: []
  sysfs_block:
    description: The sysfs block directory (used to enumerate disks without lsblk and to spot virtual disks).
    type: path
    default: /sys/block
  use_lsblk:
    description: Enumerate disks with lsblk when it exists.
    type: bool
    default: true
  badblocks_devices:
    description:
      - Devices on which to run a read-only C(badblocks -sv) scan (opt-in, one by one).
      - Each must be one of the disks checked.
    type: list
    elements: str
    default: []
  badblocks_max_blocks:
    description: Blocks read per device, from block 0 (bounds the scan).
    type: int
    default: 262144
  badblocks_block_size:
    description: badblocks block size in bytes.
    type: int
    default: 4096
  badblocks_timeout:
    description: Seconds after which a scan is stopped (needs C(timeout) from coreutils).
    type: int
    default: 600
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - badblocks runs in its default read-only mode; the options C(-w) and C(-n) are never used.
"""

EXAMPLES = r"""
- name: Disk health | SMART on every disk
  pteguard.remediation.disk_health_info:
  register: pteguard_disk_health

- name: Disk health | SMART plus a bounded read-only scan of the suspect disk
  pteguard.remediation.disk_health_info:
    badblocks_devices: [/dev/sdb]
    badblocks_max_blocks: 65536
"""

RETURN = r"""
smartctl_available:
  description: Whether smartctl was found.
  returned: always
  type: bool
  sample: true
disks:
  description: One entry per disk with the parsed smartctl report (verdict, reasons, counters, exit status).
  returned: always
  type: list
  elements: dict
  sample:
    - {device: /dev/sda, verdict: healthy, reasons: [], model: "ST500LM021-1KJ152", smartctl_rc: 0}
badblocks:
  description: Results of the opt-in read-only scans.
  returned: always
  type: list
  elements: dict
  sample: [{device: /dev/sdb, ran: true, bad_blocks: [2048], bad_block_count: 1, blocks_checked: 65536}]
findings:
  description: Findings in the kernel-log parser's form (category storage_device_error, severity, device, message).
  returned: always
  type: list
  elements: dict
  sample: [{category: storage_device_error, severity: critical, device: /dev/sdb, message: "sdb: failing ..."}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.disk_health_collect import collect_disk_health


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            devices=dict(type="list", elements="str", default=[]),
            sysfs_block=dict(type="path", default="/sys/block"),
            use_lsblk=dict(type="bool", default=True),
            badblocks_devices=dict(type="list", elements="str", default=[]),
            badblocks_max_blocks=dict(type="int", default=262144),
            badblocks_block_size=dict(type="int", default=4096),
            badblocks_timeout=dict(type="int", default=600),
        ),
        supports_check_mode=True,
    )
    try:
        result = collect_disk_health(ModuleHost(module), check_mode=module.check_mode, **module.params)
    except CollectError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=False, **result)


def main():
    run_module()


if __name__ == "__main__":
    main()
