# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: diagnose_host
short_description: Rank the probable causes of a host's kernel-level errors
version_added: "0.1.0"
description:
  - Combines the kernel findings of M(pteguard.remediation.kernel_log_info) with the results of
    M(pteguard.remediation.hw_error_info) and M(pteguard.remediation.disk_health_info), and the kernel taint,
    into ranked probable causes - faulty_memory, driver_dma_corruption, disk_media, storage_link_or_controller,
    kernel_bug, firmware_or_power, or none - each with a confidence, its evidence and the next steps.
  - The rules are a documented table (docs/diagnosis.md). Page-table values in the findings are decoded to tell
    a flipped bit (hardware) from a pointer or data written over the table (software).
options:
  _input:
    description: The kernel findings (a list, or a kernel_log_info result with C(findings)).
    type: raw
    required: true
  hw_errors:
    description: An hw_error_info result, or a list of findings.
    type: raw
  disk_health:
    description: A disk_health_info result, or a list of smartctl reports.
    type: raw
  taint:
    description: The taint mask, the letters of a C(Tainted:) line, or a decoded taint dict.
    type: raw
  host_facts:
    description:
      - Optional facts that sharpen the analysis - C(memory_bytes) (or C(ansible_memtotal_mb)), C(arch),
        C(kernel), C(max_phys_bits) with C(phys_bits_source) (C(/proc/cpuinfo) or C(assumed)) and
        C(assumptions) (the C(host_facts) of kernel_log_info's C(kernel) result carries all of these), and
        C(device_aliases) (a dict mapping log names such as C(ata3) to disks).
    type: dict
author:
  - pteguard contributors
"""

EXAMPLES = r"""
- name: Diagnosis | rank the probable causes
  ansible.builtin.set_fact:
    pteguard_diagnosis: >-
      {{ pteguard_kernel_log.findings | pteguard.remediation.diagnose_host(
           hw_errors=pteguard_hw_errors, disk_health=pteguard_disk_health,
           host_facts={'ansible_memtotal_mb': ansible_facts.memtotal_mb, 'kernel': ansible_facts.kernel}) }}

- name: Diagnosis | show the most probable cause
  ansible.builtin.debug:
    msg: "{{ pteguard_diagnosis.primary_cause }} ({{ pteguard_diagnosis.causes[0].confidence_word }})"
"""

RETURN = r"""
_value:
  description: The diagnosis.
  type: dict
  contains:
    primary_cause:
      description: The highest-ranked cause, or C(none).
      type: str
    causes:
      description: Ranked causes, each with cause, subject (dimm, module or device), confidence (0..1),
        confidence_word (low, medium, high), strongest_rule_weight, rules, evidence and next_steps.
      type: list
      elements: dict
    notes:
      description: Evidence under the thresholds (a lone corrected memory error), with its count, the threshold
        and the next step; not a cause.
      type: list
      elements: dict
    memory_ce_rates:
      description: Corrected memory errors per DIMM, their peak within 24 h and the thresholds reached.
      type: list
      elements: dict
    host_facts_used:
      description: Memory size, physical address bits (and where they came from) and the assumptions made.
      type: dict
    rules_fired:
      description: Every rule that held, with its cause and subject.
      type: list
      elements: dict
    facts:
      description: How many pieces of evidence each fact has.
      type: dict
    pte_analysis:
      description: Decoded page-table entries of the page-table findings with their observations.
      type: list
      elements: dict
  sample: {"primary_cause": "disk_media",
           "causes": [{"cause": "disk_media", "subject": {"device": "nvme0"}, "confidence": 0.978,
                       "confidence_word": "high", "rules": ["S1", "S2", "S3"], "evidence": [], "next_steps": []}]}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.pteguard.remediation.plugins.module_utils.diagnosis import (
    DiagnosisInputError, diagnose)
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import kind_of


def diagnose_host(kernel_findings, hw_errors=None, disk_health=None, taint=None, host_facts=None):
    """Ranked probable causes of one host's errors."""
    if not isinstance(kernel_findings, (list, tuple, dict)):
        raise AnsibleFilterError("diagnose_host expects a list of findings or a kernel_log_info result, got %s"
                                 % kind_of(kernel_findings))
    try:
        return diagnose(kernel_findings, hw_errors=hw_errors, disk_health=disk_health, taint=taint,
                        host_facts=host_facts)
    except (DiagnosisInputError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("diagnose_host: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"diagnose_host": diagnose_host}
