# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Add a later step's result (reproduction, symbolized) to a host's report on the controller and diagnose again."""

from __future__ import annotations

import json
import os

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.pteguard.remediation.plugins.action.diagnose_report import write_report
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import kind_of
from ansible_collections.pteguard.remediation.plugins.module_utils.report import report_file_name, report_text
from ansible_collections.pteguard.remediation.plugins.module_utils.report_sections import (
    SECTIONS, SectionError, with_section)


def read_report(path, host):
    """The host's report as written by the diagnosis, or a one-line reason why there is none to add to."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise AnsibleActionFail(
            "no report of %s at %s: run the diagnosis first (pteguard diagnose, or the diagnose role with "
            "diagnose_report_dir) and give its report folder; a step result is kept only beside the evidence that "
            "sent the host there" % (host, path))
    except (OSError, UnicodeDecodeError) as exc:
        raise AnsibleActionFail("report of %s at %s cannot be read: %s" % (host, path, to_native(exc)))
    try:
        report = json.loads(text)
    except ValueError as exc:
        raise AnsibleActionFail("%s is not complete JSON (half-written or damaged): %s" % (path, to_native(exc)))
    if isinstance(report, dict) and report.get("host") not in (None, host):
        raise AnsibleActionFail("%s is the report of %s, not of %s" % (path, report.get("host"), host))
    return text, report


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("report_dir", "section", "data", "host"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        report_dir, section, data = args.get("report_dir"), args.get("section"), args.get("data")
        host = str(args.get("host") or task_vars.get("inventory_hostname"))
        if not isinstance(report_dir, str) or not report_dir:
            raise AnsibleActionFail("report_dir must be the folder of the host reports (a path), got %s"
                                    % kind_of(report_dir))
        if section not in SECTIONS:
            raise AnsibleActionFail("section must be one of %s, got %r" % (", ".join(SECTIONS), section))
        report_dir = os.path.expanduser(report_dir)
        path = os.path.join(report_dir, report_file_name(host))
        current, report = read_report(path, host)
        try:
            updated = with_section(report, section, data)
        except SectionError as exc:
            raise AnsibleActionFail("%s section of %s not added to %s: %s" % (section, host, path, to_native(exc)))
        text = report_text(updated)
        result.update(path=path, section=section, primary_cause=updated["diagnosis"]["primary_cause"])
        if self._task.check_mode or text == current:
            result["changed"] = text != current
            return result
        try:
            write_report(report_dir, host, text)
        except OSError as exc:
            raise AnsibleActionFail("report of %s not written at %s: %s" % (host, path, to_native(exc)))
        result["changed"] = True
        return result
