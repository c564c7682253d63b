# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: report_file_name
short_description: A safe report file name for an inventory host name
version_added: "0.1.0"
description:
  - Turns an inventory host name into a file name that stays inside the report directory. Names holding C(/),
    C(..), control characters or anything but letters, digits, C(.), C(_) and C(-) are rewritten and get a short
    hash of the real name, so two hosts never share a file. Plain names keep their name (C(web1) gives C(web1.json)).
options:
  _input:
    description: The inventory host name.
    type: str
    required: true
author:
  - pteguard contributors
"""

EXAMPLES = r"""
- name: Report | where this host's report goes
  ansible.builtin.debug:
    msg: "{{ '/srv/reports/' ~ (inventory_hostname | pteguard.remediation.report_file_name) }}"
"""

RETURN = r"""
_value:
  description: The file name, ending in C(.json).
  type: str
  sample: "web1.json"
"""

from ansible_collections.pteguard.remediation.plugins.module_utils.report import report_file_name


class FilterModule(object):
    def filters(self):
        return {"report_file_name": report_file_name}
