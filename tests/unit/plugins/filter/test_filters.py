"""The kernel_findings and findings_summary filters on real text, and their errors on bad input."""

from __future__ import annotations

import os

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.pteguard.remediation.plugins.filter.findings_summary import findings_summary
from ansible_collections.pteguard.remediation.plugins.filter.kernel_findings import kernel_findings

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")


def text(name):
    with open(os.path.join(LOGS, name + ".log"), "rb") as handle:
        return handle.read().decode("utf-8", "replace")


def test_kernel_findings_on_text_and_on_lines():
    raw = text("corpus-045")
    assert kernel_findings(raw) == kernel_findings(raw.splitlines())
    assert {f["category"] for f in kernel_findings(raw)} == {"block_io_error", "storage_device_error"}


def test_kernel_findings_bad_input():
    with pytest.raises(AnsibleFilterError, match="expects kernel-log text"):
        kernel_findings({"not": "text"})
    with pytest.raises(AnsibleFilterError, match="max_findings"):
        kernel_findings("x", max_findings=-1)


def test_findings_summary_counts_and_facts():
    summary = findings_summary(kernel_findings(text("corpus-045")) + kernel_findings(text("corpus-031")))
    assert summary["total"] == 4
    assert summary["by_category"] == {"block_io_error": 2, "memory_error_corrected": 1, "storage_device_error": 1}
    assert summary["highest_severity"] == "error"
    assert summary["devices"] == ["sdb"]
    assert summary["dimms"] == ["CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"]


@pytest.mark.parametrize("bad, message", [
    ("a string", "expects a list"),
    ([1], "not a finding"),
    ([{"category": "made_up", "severity": "error"}], "unknown category"),
    ([{"category": "kernel_oops", "severity": "fatal"}], "unknown severity"),
])
def test_findings_summary_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match=message):
        findings_summary(bad)


def test_findings_summary_of_nothing():
    assert findings_summary([])["highest_severity"] is None
