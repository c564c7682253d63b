# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Operations on lists of findings, shared by filters, the CLI and reports."""

from __future__ import annotations

import heapq

from .signatures import CATEGORIES, CATEGORY_RANK, SEVERITY_RANK, highest_severity

_FACT_LISTS = (("device", "devices"), ("module", "modules"), ("process", "processes"), ("dimm", "dimms"))


def summarize_findings(findings):
    """Counts by category and severity, the highest severity, and the distinct facts seen."""
    by_category = {}
    by_severity = {}
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
        for key, plural in _FACT_LISTS:
            value = finding.get(key)
            if value is not None and value not in facts[plural]:
                facts[plural].append(value)
    result = {
        "total": len(findings),
        "by_category": dict(sorted(by_category.items())),
        "by_severity": dict(sorted(by_severity.items(), key=lambda kv: SEVERITY_RANK[kv[0]])),
        "highest_severity": highest_severity(by_severity),
    }
    result.update(facts)
    return result


def rank_key(finding):
    """How telling a finding is: severity first, then how specific its category, then how many facts it has."""
    return (SEVERITY_RANK.get(finding.get("severity"), -1), CATEGORY_RANK.get(finding.get("category"), 0),
            len(finding))


class BoundedFindings(object):
    """At most `limit` findings kept as they come: the most telling ones, the earliest among equals.

    A noisy log (thousands of link resets) must not push out the one page-table corruption; what is cut is counted
    by category and severity so a report can say so.
    """

    def __init__(self, limit):
        self.limit = limit
        self._heap = []  # (rank, -arrival, finding): the least telling, latest arrival on top
        self._arrivals = 0
        self.dropped = 0
        self.dropped_by_category = {}
        self.dropped_by_severity = {}

    def add(self, finding):
        self._arrivals += 1
        entry = (rank_key(finding), -self._arrivals, finding)
        if len(self._heap) < self.limit:
            heapq.heappush(self._heap, entry)
            return
        if self._heap and entry[:2] > self._heap[0][:2]:
            entry = heapq.heapreplace(self._heap, entry)
        self._count_dropped(entry[2])

    def _count_dropped(self, finding):
        self.dropped += 1
        for counts, key in ((self.dropped_by_category, "category"), (self.dropped_by_severity, "severity")):
            counts[finding[key]] = counts.get(finding[key], 0) + 1

    def findings(self):
        """The kept findings in the order they came."""
        return [entry[2] for entry in sorted(self._heap, key=lambda entry: -entry[1])]


def select_across_sources(per_source, limit):
    """Up to `limit` findings from several sources' lists, each source served in turn with its most telling first.

    A crash dump's or pstore's few findings survive beside a journal that filled its own quota. Returns the kept
    findings (source by source, each in its own order) and a BoundedFindings-like tally of the rest.
    """
    ranked = [sorted(range(len(items)), key=lambda i, items=items: (rank_key(items[i]), -i), reverse=True)
              for items in per_source]
    chosen = [set() for items in per_source]
    taken = 0
    depth = 0
    while taken < limit and any(depth < len(order) for order in ranked):
        for index, order in enumerate(ranked):
            if depth < len(order) and taken < limit:
                chosen[index].add(order[depth])
                taken += 1
        depth += 1
    tally = BoundedFindings(0)
    kept = []
    for items, picked in zip(per_source, chosen):
        for i, finding in enumerate(items):
            if i in picked:
                kept.append(finding)
            else:
                tally._count_dropped(finding)
    return kept, tally


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
