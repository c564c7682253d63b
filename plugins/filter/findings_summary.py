# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: findings_summary
short_description: Summarise kernel findings by category and severity
version_added: "0.1.0"
description:
  - Counts a list of findings (from M(pteguard.remediation.kernel_log_info) or the
    P(pteguard.remediation.kernel_findings#filter) filter) by category and severity, and names the highest
    severity and the facts seen (devices, modules, processes, DIMMs).
options:
  _input:
    description: A list of findings.
    type: list
    elements: dict
    required: true
author:
  - pteguard contributors
"""

EXAMPLES = r"""
- name: Fail when anything critical was found
  ansible.builtin.assert:
    that: (pteguard_kernel_log.findings | pteguard.remediation.findings_summary).highest_severity != 'critical'
"""

RETURN = r"""
_value:
  description: Counts and facts.
  type: dict
  sample: {"total": 2, "by_category": {"block_io_error": 2}, "by_severity": {"error": 2},
           "highest_severity": "error", "devices": ["sda"], "modules": [], "processes": [], "dimms": []}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import kind_of, summarize_findings


def findings_summary(findings):
    """Counts by category and severity, highest severity and the facts seen."""
    if not isinstance(findings, (list, tuple)):
        raise AnsibleFilterError("findings_summary expects a list of findings, got %s" % kind_of(findings))
    try:
        return summarize_findings(findings)
    except ValueError as exc:
        raise AnsibleFilterError("findings_summary: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"findings_summary": findings_summary}
