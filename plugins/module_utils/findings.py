# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operations on lists of findings, shared by filters, the CLI and reports."""

from __future__ import annotations

from .signatures import CATEGORIES, SEVERITY_RANK

_FACT_LISTS = (("device", "devices"), ("module", "modules"), ("process", "processes"), ("dimm", "dimms"))


def summarize_findings(findings):
    """Counts by category and severity, the highest severity, and the distinct facts seen."""
    by_category = {}
    by_severity = {}
    highest = None
    facts = dict((plural, []) for _key, plural in _FACT_LISTS)
    for index, finding in enumerate(findings):
        if not isinstance(finding, dict):
            raise ValueError("item %d is not a finding (a dict)" % index)
        category = finding.get("category")
        severity = finding.get("severity")
        if category not in CATEGORIES:
            raise ValueError("item %d has an unknown category %r" % (index, category))
        if severity not in SEVERITY_RANK:
            raise ValueError("item %d has an unknown severity %r" % (index, severity))
        by_category[category] = by_category.get(category, 0) + 1
        by_severity[severity] = by_severity.get(severity, 0) + 1
        if highest is None or SEVERITY_RANK[severity] > SEVERITY_RANK[highest]:
            highest = severity
        for key, plural in _FACT_LISTS:
            value = finding.get(key)
            if value is not None and value not in facts[plural]:
                facts[plural].append(value)
    result = {
        "total": len(findings),
        "by_category": dict(sorted(by_category.items())),
        "by_severity": dict(sorted(by_severity.items(), key=lambda kv: SEVERITY_RANK[kv[0]])),
        "highest_severity": highest,
    }
    result.update(facts)
    return result


def kind_of(value):
    """A reader's name for a value's type in error messages (Ansible wraps dicts and strings in its own types)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, (str, bytes)):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "a %s" % type(value).__name__
