#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: hw_error_info
short_description: Read hardware-error records from rasdaemon, mcelog, EDAC and the kernel
description:
  - Reads, never changes, every hardware-error source the host has - rasdaemon's SQLite database
    (opened read-only) or C(ras-mc-ctl --errors), mcelog's log or C(mcelog --client), EDAC
    memory-controller counters per controller and DIMM with their labels, C(HardwareCorrupted)
    from C(/proc/meminfo) and the kernel taint bitmask.
  - Reports which backends exist and run, and every source it could not read with the reason.
  - Returns findings in the same form as the kernel-log parser (category, severity, message, ...).
version_added: "0.1.0"
author:
  - pteguard maintainers (@pteguard)
options:
  rasdaemon_db:
    description: rasdaemon's SQLite database.
    type: path
    default: /var/lib/rasdaemon/ras-mc_event.db
  use_ras_mc_ctl:
    description: Run C(ras-mc-ctl --errors) when the database cannot be read and the tool exists.
    type: bool
    default: true
  mcelog_log:
    description: mcelog's log file.
    type: path
    default: /var/log/mcelog
  mcelog_device:
    description: The legacy machine-check character device that mcelog needs.
    type: path
    default: /dev/mcelog
  use_mcelog_client:
    description: Run C(mcelog --client) when the mcelog binary and its device exist.
    type: bool
    default: true
  edac_root:
    description: EDAC memory-controller directory in sysfs.
    type: path
    default: /sys/devices/system/edac/mc
  meminfo_path:
    description: Where to read C(HardwareCorrupted).
    type: path
    default: /proc/meminfo
  tainted_path:
    description: Where to read the kernel taint bitmask.
    type: path
    default: /proc/sys/kernel/tainted
  max_records:
    description: Newest records kept per rasdaemon table.
    type: int
    default: 200
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
notes:
  - Read-only. Check mode runs the same reads.
"""

EXAMPLES = r"""
- name: Hardware errors | read every source this host has
  pteguard.remediation.hw_error_info:
  register: pteguard_hw_errors

- name: Hardware errors | show the findings
  ansible.builtin.debug:
    var: pteguard_hw_errors.findings
"""

RETURN = r"""
backends:
  description:
    - Availability and state of each backend.
    - C(service) is the systemd unit's state (C(systemctl is-active)), or null when the tool is not installed or
      the host has no systemctl.
  returned: always
  type: dict
  sample:
    rasdaemon: {installed: true, service: active, db_path: /var/lib/rasdaemon/ras-mc_event.db, db_readable: true}
    mcelog: {installed: false, device_present: false, log_present: false}
    edac: {present: true, controllers: 0}
sources:
  description:
    - Every source considered, with C(status) read, missing (not on this host) or unreadable, and a C(reason) when
      not read; the same vocabulary as kernel_log_info's sources.
  returned: always
  type: list
  elements: dict
  sample:
    - {name: edac, status: read}
    - {name: rasdaemon_db, status: missing, reason: "/var/lib/rasdaemon/ras-mc_event.db does not exist"}
rasdaemon:
  description: Tables read from the database (or the parsed ras-mc-ctl output) and a summary.
  returned: always
  type: dict
  sample: {summary: {memory_ce: 1, memory_ue: 0, mce_corrected: 1}}
mcelog:
  description: Parsed mcelog records and daemon messages.
  returned: always
  type: dict
  sample: {records: [], messages: []}
edac:
  description: EDAC controllers, their modules (dimmN/rankN) with labels and counters, and totals.
  returned: always
  type: dict
  sample: {present: true, ce_total: 0, ue_total: 0, controllers: []}
edac_locations:
  description: EDAC places with non-zero counters.
  returned: always
  type: list
  elements: dict
  sample: [{mc: mc0, location: dimm1, label: DIMM_A2, ce_count: 3, ue_count: 0}]
hardware_corrupted_kb:
  description: HardwareCorrupted from /proc/meminfo, in kB (null when unreadable).
  returned: always
  type: int
  sample: 0
taint:
  description: The decoded taint bitmask (null when unreadable).
  returned: always
  type: dict
  sample: {value: 4096, letters: O, names: [out_of_tree_module]}
findings:
  description: Findings in the kernel-log parser's form (category, severity, message, source, signature, ...).
  returned: always
  type: list
  elements: dict
  sample: [{category: memory_error_corrected, severity: warning, source: edac, dimm: DIMM_A2, count: 3}]
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.hw_errors_collect import collect_hw_errors


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            rasdaemon_db=dict(type="path", default="/var/lib/rasdaemon/ras-mc_event.db"),
            use_ras_mc_ctl=dict(type="bool", default=True),
            mcelog_log=dict(type="path", default="/var/log/mcelog"),
            mcelog_device=dict(type="path", default="/dev/mcelog"),
            use_mcelog_client=dict(type="bool", default=True),
            edac_root=dict(type="path", default="/sys/devices/system/edac/mc"),
            meminfo_path=dict(type="path", default="/proc/meminfo"),
            tainted_path=dict(type="path", default="/proc/sys/kernel/tainted"),
            max_records=dict(type="int", default=200),
        ),
        supports_check_mode=True,
    )
    try:
        result = collect_hw_errors(ModuleHost(module), **module.params)
    except CollectError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    module.exit_json(changed=False, **result)


def main():
    run_module()


if __name__ == "__main__":
    main()
