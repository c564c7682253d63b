# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: kernel_findings
short_description: Triage raw kernel-log text into findings
version_added: "0.1.0"
description:
  - Runs the same parser as the M(pteguard.remediation.kernel_log_info) module, on the controller, over text
    already at hand (a registered C(dmesg) output, a fetched log, a console capture).
options:
  _input:
    description: Kernel-log text (a string, or a list of lines).
    type: raw
    required: true
  max_findings:
    description: Most findings to return.
    type: int
    default: 1000
author:
  - pteguard contributors
"""

EXAMPLES = r"""
- name: Triage a captured console log
  ansible.builtin.debug:
    msg: "{{ lookup('ansible.builtin.file', 'console.log') | pteguard.remediation.kernel_findings }}"
"""

RETURN = r"""
_value:
  description: The findings, each a dict with category, severity, line, message, signature and extracted facts.
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_text
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import kind_of
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_lines


def kernel_findings(data, max_findings=1000):
    """Findings of kernel-log text."""
    if isinstance(data, (list, tuple)):
        lines = [to_text(line, errors="surrogate_or_replace") for line in data]
    elif isinstance(data, (str, bytes)):
        lines = to_text(data, errors="surrogate_or_replace").splitlines()
    else:
        raise AnsibleFilterError("kernel_findings expects kernel-log text or a list of lines, got %s" % kind_of(data))
    if not isinstance(max_findings, int) or max_findings < 0:
        raise AnsibleFilterError("kernel_findings: max_findings must be a non-negative integer")
    return scan_lines(lines, max_findings=max_findings)["findings"]


class FilterModule(object):
    def filters(self):
        return {"kernel_findings": kernel_findings}
