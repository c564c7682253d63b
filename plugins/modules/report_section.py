# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/report_section.py.

from __future__ import annotations

DOCUMENTATION = r"""
---
module: report_section
short_description: Add a later step's result to a host's pteguard report and diagnose again
version_added: "0.2.0"
description:
  - Reads the host's report C(<report_dir>/<host>.json) (schema C(pteguard.report/1), as the diagnose role's
    M(pteguard.remediation.diagnose_report) or C(pteguard diagnose) wrote it; with C(pteguard diagnose) the folder is
    C(reports/<run id>) or C(reports/latest)), adds or replaces one section, makes the diagnosis again with it, and
    writes the file atomically (a temporary file in the same folder, then a rename).
  - O(section=reproduction) is the result of the controlled reproduction (step 5); a media error it reproduced
    raises C(disk_media) (rule R1), and a run that ended with no new kernel error is recorded against the I/O causes
    of that disk (rule N1). O(section=symbolized) is an M(pteguard.remediation.oops_symbolize) result with
    C(ran_on) (C(host) or C(delegate)); a resolved frame in an out-of-tree module names its file:line in that
    module's C(driver_dma_corruption) evidence.
  - Without a report for the host the task fails and writes nothing; run the diagnosis first. A step result is kept
    only beside the evidence that sent the host to the step; a report made of the step result alone would show a
    host whose kernel log was never read.
  - Runs inside Ansible's worker on the controller - no module process and no connection to the host.
options:
  report_dir:
    description: The controller folder that holds the host reports.
    type: path
    required: true
  section:
    description: Which section the data is.
    type: str
    required: true
    choices: [reproduction, symbolized]
  data:
    description:
      - The section. For C(reproduction) a dict with C(status) (C(reproduced), C(not_reproduced), C(refused),
        C(error)), C(tool), C(mode), C(target), C(device), C(seconds), C(bytes), C(stopped_early), C(findings)
        (kernel findings, as C(kernel_log_info) returns them), C(io_errors), C(message).
      - For C(symbolized) the registered result of M(pteguard.remediation.oops_symbolize) with C(ran_on) and, when
        delegated, C(delegate) added. Ansible's own result keys (C(changed), C(invocation)) are dropped.
    type: dict
    required: true
  host:
    description: Whose report; default the current inventory host (also under C(delegate_to)).
    type: str
attributes:
  action:
    support: full
    description: Reads, diagnoses and writes on the controller; the host is not contacted.
  check_mode:
    support: full
    description: Check mode reads the report and diagnoses again but writes nothing; C(changed) says whether the file would change.
  diff_mode:
    support: none
    description: The report is JSON for tools; no diff is shown.
notes:
  - The same data a second time changes nothing (C(changed=false)); the file is rewritten only when its text changes.
author:
  - pteguard maintainers (@pteguard)
"""

EXAMPLES = r"""
- name: Debug | Report | Keep the symbolized oopses in the host's report
  pteguard.remediation.report_section:
    report_dir: /srv/pteguard/reports
    section: symbolized
    data: "{{ pteguard_symbolized | combine({'ran_on': 'host'}) }}"

- name: Stress | Report | Keep the reproduction in the host's report
  pteguard.remediation.report_section:
    report_dir: "{{ stress_report_dir }}"
    section: reproduction
    data: "{{ stress_result.reproduction }}"
"""

RETURN = r"""
path:
  description: The host's report file on the controller, read and (when its text changed) rewritten.
  returned: always
  type: str
  sample: /srv/pteguard/reports/web1.json
section:
  description: The section added or replaced.
  returned: always
  type: str
  sample: symbolized
primary_cause:
  description: The probable cause after the diagnosis was made again with the section.
  returned: always
  type: str
  sample: disk_media
"""
