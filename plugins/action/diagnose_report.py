# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write a host's pteguard report on the controller, inside the worker: no module process, no connection."""

from __future__ import annotations

import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.pteguard.remediation.plugins.module_utils.diagnosis import DiagnosisInputError
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import kind_of
from ansible_collections.pteguard.remediation.plugins.module_utils.report import (
    evidence_report, report_file_name, report_text)


def _current(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None


def write_report(dest, host, text):
    """Write text as the host's report under dest, atomically; False when the file already says exactly that."""
    path = os.path.join(dest, report_file_name(host))
    if _current(path) == text:
        return path, False
    os.makedirs(dest, mode=0o750, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=dest, prefix=".report-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o640)
        os.replace(tmp, path)  # replaces a symlink itself, never what it points at
    except BaseException:
        os.unlink(tmp)
        raise
    return path, True


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("evidence", "dest", "host"))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self._task.args
        evidence, dest = args.get("evidence"), args.get("dest")
        host = args.get("host") or task_vars.get("inventory_hostname")
        if not isinstance(evidence, dict):
            raise AnsibleActionFail("evidence must be the registered result of host_evidence_info, got %s"
                                    % kind_of(evidence))
        if not isinstance(dest, str) or not dest:
            raise AnsibleActionFail("dest must be the report directory (a path), got %s" % kind_of(dest))
        dest = os.path.expanduser(dest)
        try:
            text = report_text(evidence_report(str(host), evidence))
        except (DiagnosisInputError, ValueError, TypeError) as exc:
            raise AnsibleActionFail("report of %s not built: %s" % (host, to_native(exc)))
        path = os.path.join(dest, report_file_name(str(host)))
        if self._task.check_mode:
            result.update(changed=_current(path) != text, path=path)
            return result
        try:
            path, changed = write_report(dest, str(host), text)
        except OSError as exc:
            raise AnsibleActionFail("report of %s not written under %s: %s" % (host, dest, to_native(exc)))
        result.update(changed=changed, path=path)
        return result
