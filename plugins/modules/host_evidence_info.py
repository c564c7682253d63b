#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: host_evidence_info
short_description: Everything the diagnosis reads on a host - kernel logs, hardware errors, disk health, host facts - in one call
version_added: "0.2.0"
description:
  - Runs, in one module invocation, what M(pteguard.remediation.kernel_log_info),
    M(pteguard.remediation.hw_error_info) and M(pteguard.remediation.disk_health_info) do, and reads the host facts
    the diagnosis needs (memory size, physical address bits from C(/proc/cpuinfo), architecture) once. One round
    trip per host instead of three; findings come back already bounded (most telling first, per source).
  - A collector that breaks (an output it cannot handle) does not lose the others; its section holds
    C(collector_error) and RV(collectors) says it was not read, so the host is never shown clean for it.
  - Missing tools and unreadable sources are reported per source, as the three modules report them, and never fail
    the host. Bad options, and a O(since) that C(journalctl) rejects, fail the host.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
    details: Read-only; it runs the same in check mode.
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  hw_errors:
    description: Also read hardware-error records (rasdaemon, mcelog, EDAC, HardwareCorrupted, taint).
    type: bool
    default: true
  disk_health:
    description: Also read SMART health of every disk (read-only; never a badblocks scan).
    type: bool
    default: true
extends_documentation_fragment:
  - pteguard.remediation.kernel_log
notes:
  - O(max_findings) bounds the findings of each section (kernel log, hardware errors, disk health).
"""

EXAMPLES = r"""
- name: Evidence | read everything the diagnosis needs, in one round trip
  pteguard.remediation.host_evidence_info:
  register: pteguard_evidence

- name: Evidence | kernel logs of three boots and hardware errors, no SMART
  pteguard.remediation.host_evidence_info:
    boots: 3
    disk_health: false
  register: pteguard_evidence

- name: Evidence | the report, built on the controller
  pteguard.remediation.diagnose_report:
    evidence: "{{ pteguard_evidence }}"
    dest: /srv/pteguard/reports
"""

RETURN = r"""
kernel_log:
  description: What M(pteguard.remediation.kernel_log_info) returns (findings, summary, sources, kernel, cursor).
  returned: always
  type: dict
  sample: {"findings": [], "sources": [{"name": "journal", "boot": 0, "status": "read", "findings": 0}],
           "summary": {"findings": 0, "highest_severity": null},
           "kernel": {"release": "6.1.0-27-amd64", "machine": "x86_64", "memory_bytes": 8330280960}}
hardware_errors:
  description:
    - What M(pteguard.remediation.hw_error_info) returns, findings bounded by O(max_findings) and
      C(findings_dropped) counting the cut; null when O(hw_errors=false); C(collector_error) when the collector broke.
  returned: always
  type: dict
  sample: {"findings": [], "findings_dropped": 0, "sources": [], "backends": {}}
disk_health:
  description:
    - What M(pteguard.remediation.disk_health_info) returns, findings bounded by O(max_findings); null when
      O(disk_health=false); C(collector_error) when the collector broke.
  returned: always
  type: dict
  sample: {"smartctl_available": false, "disks": [], "findings": [], "findings_dropped": 0, "notes": []}
host_facts:
  description: Memory size, physical address bits (from /proc/cpuinfo, or assumed and said so), architecture, CPU.
  returned: always
  type: dict
  sample: {"arch": "x86_64", "memory_bytes": 8330280960, "max_phys_bits": 39, "virt_bits": 48,
           "phys_bits_source": "/proc/cpuinfo", "assumptions": []}
inventory:
  description:
    - For the fleet correlation, read-only and cheap. C(modules) are the loaded modules that taint the kernel with
      their C(version)/C(srcversion); C(firmware) is BIOS vendor, version, date, board and product from
      C(/sys/class/dmi/id); C(dimms) are the populated slots of C(dmidecode -t 17) (locator, bank_locator, size,
      manufacturer, serial, part_number), null when dmidecode is absent or not run as root, and C(notes) say why.
  returned: always
  type: dict
  sample: {"modules": [{"name": "nvidia", "taint": "POE", "version": "535.183.01"}],
           "firmware": {"bios_vendor": "Dell Inc.", "bios_version": "2.18.1", "bios_date": "03/07/2023"},
           "dimms": null, "dimm_slots": null, "notes": ["DIMMs: dmidecode needs root to read the SMBIOS table"]}
journal:
  description: Whether the systemd journal is persistent (the Storage= journald uses and /var/log/journal).
  returned: always
  type: dict
  sample: {"persistent": true, "storage": "auto", "storage_from": "default", "journal_dir_exists": true,
           "reason": "Storage=auto and /var/log/journal exists"}
kdump:
  description: kdump readiness (crash kernel memory, loaded crash kernel, service, dump directory) with the problems.
  returned: always
  type: dict
  sample: {"ready": false, "problems": ["no kdump service (Debian/Ubuntu: kdump-tools, RHEL: kexec-tools' kdump.service)"]}
collectors:
  description: Per collector, C(read) or C(unreadable) with the C(reason) (a broken collector, no kernel-log source).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "kernel_log", "status": "read"}, {"name": "hardware_errors", "status": "read"},
           {"name": "disk_health", "status": "unreadable", "reason": "SmartctlParseError: ..."}]
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.host_evidence_collect import collect_host_evidence
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_log_collect import (
    ARGUMENT_SPEC, unread_warning)


def run_module():
    spec = copy.deepcopy(ARGUMENT_SPEC)
    spec.update(hw_errors=dict(type="bool", default=True), disk_health=dict(type="bool", default=True))
    module = AnsibleModule(argument_spec=spec, supports_check_mode=True)
    try:
        result = collect_host_evidence(ModuleHost(module), check_mode=module.check_mode, **module.params)
    except CollectError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    warning = unread_warning(result["kernel_log"]["sources"])
    if warning:
        module.warn(warning)
    module.exit_json(changed=False, **result)


def main():
    run_module()


if __name__ == "__main__":
    main()
