# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/diagnose_report.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: diagnose_report
short_description: Write a host's pteguard report on the controller from its host_evidence_info result
version_added: "0.2.0"
description:
  - Builds the host's report (schema C(pteguard.report/1), published in C(schemas/report.schema.json)) with the
    ranked diagnosis from the registered result of M(pteguard.remediation.host_evidence_info), and writes it as
    C(<dest>/<host>.json) on the controller. The file name is safe for any inventory name.
  - Runs inside Ansible's worker on the controller - no module process and no connection to the host.
  - Writes only when the report changed (atomically, mode C(0640)); the directory is created (C(0750)) when missing.
options:
  evidence:
    description: The registered result of M(pteguard.remediation.host_evidence_info).
    type: dict
    required: true
  dest:
    description: The controller directory for the reports.
    type: path
    required: true
  host:
    description: The host the report is about; default the current inventory host.
    type: str
attributes:
  action:
    support: full
    description: Runs on the controller as an action plugin.
  check_mode:
    support: full
    description: In check mode nothing is written; C(changed) says whether the report would change.
  diff_mode:
    support: none
    description: No diff is shown.
author:
  - pteguard maintainers (@pteguard)
"""

EXAMPLES = r"""
- name: Evidence | read everything the diagnosis needs
  pteguard.remediation.host_evidence_info:
  register: pteguard_evidence

- name: Report | write the host's report on the controller
  pteguard.remediation.diagnose_report:
    evidence: "{{ pteguard_evidence }}"
    dest: /srv/pteguard/reports
"""

RETURN = r"""
path:
  description: The report file on the controller.
  returned: always
  type: str
  sample: /srv/pteguard/reports/web1.json
"""
