# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: host_report
short_description: Build one host's pteguard report from its collector results
version_added: "0.1.0"
description:
  - Builds the JSON report the pteguard.remediation.diagnose role writes per host, schema C(pteguard.report/1) -
    the kernel-log summary, sources, cursor and findings, the hardware-error and disk-health results, and the
    ranked diagnosis. The C(pteguard diagnose) CLI builds the same report with the same code.
options:
  _input:
    description: The registered result of M(pteguard.remediation.kernel_log_info).
    type: dict
    required: true
  host:
    description: The host's inventory name.
    type: str
    required: true
  hw_errors:
    description: The registered result of M(pteguard.remediation.hw_error_info); omitted or skipped when not run.
    type: raw
  disk_health:
    description: The registered result of M(pteguard.remediation.disk_health_info); omitted or skipped when not run.
    type: raw
author:
  - pteguard contributors
"""

EXAMPLES = r"""
- name: Report | write the host's report
  ansible.builtin.copy:
    content: "{{ kernel_log | pteguard.remediation.host_report(host=inventory_hostname, hw_errors=hw) | to_json }}"
    dest: "/srv/reports/{{ inventory_hostname | pteguard.remediation.report_file_name }}"
    mode: "0640"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The report.
  type: dict
  sample: {"schema": "pteguard.report/1", "host": "web1", "kernel": {"release": "6.1.0-27-amd64"},
           "diagnosis": {"primary_cause": "none", "causes": []}, "hardware_errors": null, "disk_health": null,
           "kernel_log": {"summary": {"findings": 0}, "sources": [], "cursor": null, "findings": []}}
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.pteguard.remediation.plugins.module_utils.diagnosis import DiagnosisInputError
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import kind_of
from ansible_collections.pteguard.remediation.plugins.module_utils.report import host_report as build_report


def host_report(kernel_log, host, hw_errors=None, disk_health=None):
    """The pteguard report of one host."""
    if not isinstance(kernel_log, dict):
        raise AnsibleFilterError("host_report expects a kernel_log_info result, got %s" % kind_of(kernel_log))
    try:
        return build_report(host, kernel_log, hw_errors=hw_errors, disk_health=disk_health)
    except (DiagnosisInputError, ValueError, TypeError) as exc:
        raise AnsibleFilterError("host_report: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"host_report": host_report}
