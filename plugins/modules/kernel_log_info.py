#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_log_info
short_description: Find page-table corruption, oopses, machine checks, memory and disk errors in a host's kernel logs
version_added: "0.1.0"
description:
  - Reads the kernel messages of the target host (the systemd journal of the current and, when asked, earlier boots;
    C(dmesg); C(/var/log/kern.log) and its rotations, gzip included; crash-dump dmesg files under C(/var/crash);
    pstore records) and returns triaged findings.
  - Parsing runs on the target, so only findings travel back to the controller. Log files are prefiltered with
    C(grep -F) (C(zgrep) for rotations), which prints only anchor lines and the record lines after them; the journal
    and C(dmesg) are parsed in Python, bounded by O(max_lines).
  - A source that is missing or unreadable (for example C(dmesg) under C(kernel.dmesg_restrict=1) without root) is
    reported in RV(sources) with the reason and never fails the host. A file cut short by a read error (EIO from a
    failing disk) or a truncated rotation is C(partial) - its findings up to that point count, and C(offset) says
    where reading stopped.
  - Files are told apart by their first bytes - plain text, gzip (through C(zgrep)), and xz, bzip2 and UTF-16/32
    (decoded in Python); zstd rotations are reported unreadable.
  - A O(since) that C(journalctl) rejects fails the host with a message naming it.
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
extends_documentation_fragment:
  - pteguard.remediation.kernel_log
"""

EXAMPLES = r"""
- name: Triage the current boot's kernel messages
  pteguard.remediation.kernel_log_info:
  register: pteguard_kernel_log

- name: Read three boots, and only what is new since the last run
  pteguard.remediation.kernel_log_info:
    boots: 3
    since: "{{ pteguard_last_cursor | default(omit) }}"
  register: pteguard_kernel_log

- name: Read saved kern.log files only
  pteguard.remediation.kernel_log_info:
    sources: [kern_log]
    kern_log_paths: [/var/log/kern.log*]
"""

RETURN = r"""
findings:
  description: Findings, most severe records first as found; each has category, severity, line, message, signature,
    source and the facts extracted (device, sector, address, pfn, process, pid, module, symbol, tainted, cpu, bank,
    mce_status, dimm, ...).
  returned: always
  type: list
  elements: dict
  sample:
    - category: block_io_error
      severity: error
      line: 812
      message: "critical medium error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2"
      signature: block_request_error
      source: journal
      device: sda
      sector: 2048
summary:
  description: Counts over all sources (by category, by severity, rate-limited messages), the highest severity,
    and how many findings were cut by O(max_findings).
  returned: always
  type: dict
  sample: {"findings": 1, "findings_returned": 1, "findings_dropped": 0, "by_category": {"block_io_error": 1},
           "by_severity": {"error": 1}, "highest_severity": "error", "suppressed": {}, "suppressed_by_category": {}}
sources:
  description: Every source considered, with C(status) read, partial, empty, missing or unreadable, a C(reason)
    when not read whole, C(offset) (bytes of log text read) when partial, and the number of findings it gave.
  returned: always
  type: list
  elements: dict
  sample:
    - {"name": "journal", "status": "read", "findings": 1, "boot": 0}
    - {"name": "dmesg", "status": "unreadable", "reason": "dmesg: read kernel buffer failed: Operation not permitted"}
    - {"name": "kern_log", "path": "/var/log/kern.log", "status": "partial", "findings": 2, "offset": 1048576,
       "reason": "read error (Input/output error) at byte 1048576; the rest was not read"}
kernel:
  description:
    - The running kernel of the target, its memory size (MemTotal) for page-table checks, and C(host_facts)
      (memory size, physical address bits from /proc/cpuinfo or an assumption said in C(assumptions), CPU).
  returned: always
  type: dict
  sample: {"release": "6.1.0-27-amd64", "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1", "machine": "x86_64",
           "memory_bytes": 8330280960,
           "host_facts": {"arch": "x86_64", "memory_bytes": 8330280960, "max_phys_bits": 39, "virt_bits": 48,
                          "phys_bits_source": "/proc/cpuinfo", "assumptions": [], "cpu_vendor": "GenuineIntel"}}
cursor:
  description: The journal cursor of the last kernel message, to pass as O(since) next time.
  returned: when the journal was read
  type: str
  sample: "s=6f0c...;i=1a2b;b=...;m=...;t=...;x=..."
"""

import copy

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, ModuleHost
from ansible_collections.pteguard.remediation.plugins.module_utils.host_facts import host_facts_or_note
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_log_collect import (
    ARGUMENT_SPEC, collect_kernel_log, kernel_identity, unread_warning)


def run_module():
    module = AnsibleModule(argument_spec=copy.deepcopy(ARGUMENT_SPEC), supports_check_mode=True)
    host = ModuleHost(module)
    try:
        result = collect_kernel_log(host, **module.params)
    except CollectError as exc:
        module.fail_json(msg=str(exc), **exc.details)
    result["kernel"] = kernel_identity(host, host_facts_or_note(host))
    warning = unread_warning(result["sources"])
    if warning:
        module.warn(warning)
    module.exit_json(changed=False, **result)


def main():
    run_module()


if __name__ == "__main__":
    main()
