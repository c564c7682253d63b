"""The compliance checks on host reports built by the real parsers from real kernel logs (tests/fixtures/logs,
sources in its README) and the real report builder; the hardware/taint sections are labelled synthetic."""

from __future__ import annotations

import datetime
import os

from pteguard import compliance_checks, fleet_view
from pteguard.analyze import analyze_sources
from pteguard.parsers.report import host_report

LOGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "logs")
PTE = os.path.join(LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")
UE = os.path.join(LOGS, "memory_error_uncorrected-ghes_poisoned-rfc3339.log")


def _report(path, version="#1 SMP PREEMPT_DYNAMIC Debian 6.1.128-1 (2025-02-07)", hw=None):
    source = analyze_sources([path])["sources"][0]
    kernel_log = {"kernel": {"release": "6.1.0-31-amd64", "version": version, "machine": "x86_64"},
                  "summary": source["summary"], "findings": source["findings"],
                  "sources": [{"name": "kern_log", "path": path, "status": "read"}]}
    report = host_report("h", kernel_log, hw_errors=hw)
    assert not fleet_view.schema_errors(report)
    return report


def test_new_events_fail_without_baseline_and_pass_once_baselined():
    report = _report(PTE)
    checks = {"no_new_events": {"categories": ["pte_corruption"]}}
    first = compliance_checks.evaluate(report, checks, None)[0]
    assert first["result"] == "fail" and "no baseline" in first["message"]
    known = {"events": [ident for ident, _o, _f in compliance_checks.events(report)]}
    assert compliance_checks.evaluate(report, checks, known)[0]["result"] == "pass"
    # one more event the baseline does not hold (an uncorrected memory error) fails again
    other = _report(UE)
    ue = compliance_checks.evaluate(other, {"no_new_events": {"categories": ["memory_error_uncorrected"]}}, known)
    assert ue[0]["result"] == "fail", ue


def test_kernel_version_and_age():
    report = _report(PTE)
    today = datetime.date(2026, 1, 1)
    assert compliance_checks.kernel(report, {"min_version": "6.1"}, None, today)["result"] == "pass"
    assert compliance_checks.kernel(report, {"min_version": "6.6"}, None, today)["result"] == "fail"
    assert compliance_checks.kernel(report, {"max_age_days": 100}, None, today)["result"] == "fail"
    assert compliance_checks.kernel(report, {"max_age_days": 400}, None, today)["result"] == "pass"
    undated = _report(PTE, version="#1 SMP PREEMPT_DYNAMIC @0")
    assert compliance_checks.kernel(undated, {"max_age_days": 400}, None, today)["result"] == "unknown"


def test_missing_evidence_is_unknown_never_pass():
    report = _report(PTE)  # no hardware-error or disk evidence, no kdump or journal state
    for name in ("hw_error_backend", "disks_healthy", "kernel_untainted", "kdump_ready", "persistent_journal"):
        outcome = compliance_checks.CHECKS[name](report, {}, None)
        assert outcome["result"] == "unknown" and outcome.get("not_collected"), outcome
    results = compliance_checks.evaluate(report, {"kdump_ready": True}, None)
    assert compliance_checks.host_result(results) == "unknown"
    assert compliance_checks.host_result([]) == "unknown"


def test_taint_and_backend_from_a_hw_error_result():
    # synthetic hw_error_info result, in the module's documented RETURN shape
    hw = {"backends": {"rasdaemon": {"service": "active", "db_readable": True}, "edac": {"controllers": 1}},
          "taint": {"value": 4096, "names": ["out_of_tree_module"], "unknown_bits": []}, "findings": []}
    report = _report(PTE, hw=hw)
    assert compliance_checks.hw_error_backend(report, {}, None)["result"] == "pass"
    assert compliance_checks.kernel_untainted(report, {}, None)["result"] == "fail"
    allowed = {"allowed_flags": ["out_of_tree_module"]}
    assert compliance_checks.kernel_untainted(report, allowed, None)["result"] == "pass"
    assert compliance_checks.memory_ce_rate(report, {"max_per_day": 0}, None)["result"] == "pass"
