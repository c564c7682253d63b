# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The later steps' results as sections of a host's report: `reproduction` (step 5, the stress run) and
`symbolized` (step 6, oops_symbolize). A section is checked, put into the report, and the diagnosis is made again
with it, so the report says what the steps found beside the evidence that sent the host there.

Pure Python, no Ansible import (the report_section action plugin and the tests use it).
"""

from __future__ import annotations

import copy

from .findings import kind_of
from .diagnosis import REPRODUCTION_STATUSES, DiagnosisInputError, _findings_of
from .report import SCHEMA, _evidence, rediagnose

SECTIONS = ("reproduction", "symbolized")
RAN_ON = ("host", "delegate")
_FINDING_KEYS = ("line", "message", "signature", "arch")


class SectionError(ValueError):
    """A section or report that cannot be combined; the message is the one line the user sees."""


def _expect(where, value, kinds, what, optional=True):
    if value is None and optional:
        return
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise SectionError("%s must be %s, got %s" % (where, what, kind_of(value)))


def _check_reproduction(data):
    if data.get("status") not in REPRODUCTION_STATUSES:
        raise SectionError("reproduction.status must be one of %s, got %r"
                           % (", ".join(REPRODUCTION_STATUSES), data.get("status")))
    for key in ("tool", "mode", "target", "device", "message"):
        _expect("reproduction." + key, data.get(key), (str,), "a string")
    _expect("reproduction.seconds", data.get("seconds"), (int, float), "a number of seconds")
    _expect("reproduction.bytes", data.get("bytes"), (int,), "a number of bytes")
    _expect("reproduction.stopped_early", data.get("stopped_early"), (bool,), "true or false")
    for key in ("seconds", "bytes"):
        if data.get(key) is not None and data[key] < 0:
            raise SectionError("reproduction.%s must not be negative" % key)
    _expect("reproduction.findings", data.get("findings"), (list,), "a list of kernel findings")
    _expect("reproduction.io_errors", data.get("io_errors"), (list,), "a list")
    try:
        findings = _findings_of(data.get("findings") or [], "reproduction.findings")
    except DiagnosisInputError as exc:
        raise SectionError(str(exc))
    for index, finding in enumerate(findings):
        missing = [k for k in _FINDING_KEYS if finding.get(k) is None]
        if missing:
            raise SectionError("reproduction.findings item %d is not a kernel finding (no %s)"
                               % (index, ", ".join(missing)))
    if not all(isinstance(e, dict) for e in data.get("io_errors") or []):
        raise SectionError("reproduction.io_errors items must be dicts")
    data.setdefault("findings", [])
    data.setdefault("io_errors", [])


def _check_symbolized(data):
    if data.get("ran_on") not in RAN_ON:
        raise SectionError("symbolized.ran_on must be host or delegate (where oops_symbolize ran), got %r"
                           % (data.get("ran_on"),))
    _expect("symbolized.release", data.get("release"), (str,), "the kernel release", optional=False)
    _expect("symbolized.delegate", data.get("delegate"), (str,), "a host name")
    _expect("symbolized.records", data.get("records"), (list,), "a list of records", optional=False)
    for index, record in enumerate(data["records"]):
        frames = record.get("frames") if isinstance(record, dict) else None
        if not isinstance(frames, list) or not all(
                isinstance(f, dict) and isinstance(f.get("symbol"), str) and isinstance(f.get("status"), str)
                for f in frames):
            raise SectionError("symbolized.records item %d is not an oops_symbolize record (frames with symbol "
                               "and status)" % index)
    _expect("symbolized.missing", data.get("missing"), (list,), "a list")
    for key in ("summary", "build_ids"):
        _expect("symbolized." + key, data.get(key), (dict,), "a dict")
    data.setdefault("missing", [])


def section_data(name, data):
    """The section as it goes into the report: checked, without Ansible's bookkeeping keys (a registered result
    may be passed as it is)."""
    if name not in SECTIONS:
        raise SectionError("section must be one of %s, got %r" % (", ".join(SECTIONS), name))
    if not isinstance(data, dict):
        raise SectionError("data of the %s section must be a dict, got %s" % (name, kind_of(data)))
    if data.get("failed") or data.get("skipped"):
        raise SectionError("data of the %s section is a %s task's result, not a step result"
                           % (name, "failed" if data.get("failed") else "skipped"))
    clean = copy.deepcopy(_evidence(data))
    (_check_reproduction if name == "reproduction" else _check_symbolized)(clean)
    return clean


def with_section(report, name, data):
    """A copy of the host report with the section added (or replaced) and the diagnosis made again with it."""
    if not isinstance(report, dict) or report.get("schema") != SCHEMA:
        raise SectionError("not a pteguard host report (schema %r)"
                           % (report.get("schema") if isinstance(report, dict) else kind_of(report)))
    if not isinstance(report.get("kernel_log"), dict) or not isinstance(report["kernel_log"].get("findings"), list):
        raise SectionError("the report has no kernel_log findings: not a complete pteguard host report")
    updated = copy.deepcopy(report)
    updated[name] = section_data(name, data)
    try:
        updated["diagnosis"] = rediagnose(updated)
    except DiagnosisInputError as exc:
        raise SectionError("the diagnosis could not be made again: %s" % exc)
    return updated
