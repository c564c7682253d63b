"""The runner's per-host state machine and step table, on diagnoses the real parsers and the real report builder
make from real kernel logs (tests/fixtures/logs; sources in its README)."""

from __future__ import annotations

import os

import pytest

from pteguard import host_states, remediation_steps
from pteguard.analyze import analyze_sources
from pteguard.parsers.diagnosis import NEXT_STEPS, STEPS
from pteguard.parsers.report import host_report

LOGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "logs")


def diagnosis_of(name):
    path = os.path.join(LOGS, name)
    source = analyze_sources([path])["sources"][0]
    kernel_log = {"kernel": {"release": "6.1.0-31-amd64", "machine": "x86_64"}, "summary": source["summary"],
                  "findings": source["findings"], "sources": [{"name": "kern_log", "path": path, "status": "read"}]}
    return host_report("h", kernel_log)["diagnosis"]


def steps_of(name, requested=None):
    return [step for step, _why in host_states.warranted_steps("ok", diagnosis_of(name), requested)["steps"]]


def test_every_outcome_leads_to_a_step_or_a_known_state():
    for row in host_states.transitions():
        assert row["next"] == "next" or row["next"] in remediation_steps.BY_NAME or row["next"] in host_states.TERMINAL


def test_step_numbers_are_the_diagnosis_steps():
    for step in remediation_steps.STEPS:
        assert STEPS[step.number] in (step.name, "kernel_driver_update", "hardware_error_monitoring",
                                      "controlled_reproduction", "debug_symbolize")
        assert remediation_steps.causes_for(step), step.name
    # every step the diagnosis names, except the kernel logs (the diagnosis itself), has a row
    named = {number for steps in NEXT_STEPS.values() for number, _text in steps} - {1}
    assert named == set(remediation_steps.BY_NUMBER)


def test_every_step_that_reboots_or_writes_needs_an_opt_in():
    for step in remediation_steps.STEPS:
        if step.disruptive:
            assert step.opt_ins, step.name


def test_uncorrected_memory_error_goes_to_the_memory_test_then_monitoring():
    assert steps_of("memory_error_uncorrected-ghes_poisoned-rfc3339.log") == ["memory_test", "hw_monitor"]


def test_driver_pte_corruption_goes_to_symbolize_memory_update_and_reproduction():
    assert steps_of("pte_corruption-corrupted_page_table-syslog-6.10.log") == [
        "debug", "memory_test", "kernel_update", "stress"]


def test_failing_link_goes_to_disk_health_first():
    assert steps_of("storage_device_error-ata_icrc_abrt_sata-kernlog-2010.log")[0] == "disk_health"


def test_clean_log_goes_to_monitoring_only():
    assert steps_of("none-wsl_boot_recovery_complete.log") == ["hw_monitor"]


def test_low_confidence_holds_back_steps_that_reboot_or_load():
    diagnosis = diagnosis_of("kernel_oops-gpf_kswapd_memcg-5.1.log")
    assert diagnosis["causes"][0]["confidence"] < host_states.MIN_CONFIDENCE
    warranted = host_states.warranted_steps("ok", diagnosis)
    assert [s for s, _w in warranted["steps"]] == ["debug"]
    assert {h["step"] for h in warranted["held_back"]} == {"kernel_update", "stress"}


def test_requested_steps_filter_the_plan():
    assert steps_of("memory_error_uncorrected-ghes_poisoned-rfc3339.log", ["hw_monitor"]) == ["hw_monitor"]


@pytest.mark.parametrize("status", ["unreachable", "failed", "timeout", "incomplete"])
def test_unread_evidence_warrants_nothing(status):
    diagnosis = diagnosis_of("memory_error_uncorrected-ghes_poisoned-rfc3339.log")
    assert host_states.warranted_steps(status, diagnosis) == {"steps": [], "held_back": []}


def test_memory_errors_stop_the_host_at_replace_dimm():
    assert host_states.after_step("memory_test", "errors", ["hw_monitor"]) == ("replace_dimm", [])


def test_clean_memory_test_goes_on():
    assert host_states.after_step("memory_test", "clean", ["kernel_update", "stress"]) == (
        "planned", ["kernel_update", "stress"])


def test_reproduction_finding_nothing_sends_the_host_to_monitoring():
    state, rest = host_states.after_step("stress", "not_reproduced", [])
    assert (state, rest) == ("planned", ["hw_monitor"])
    assert host_states.after_step("hw_monitor", "ok", []) == ("done", [])
    assert host_states.final_state([{"step": "stress", "status": "done"},
                                    {"step": "hw_monitor", "status": "done"}]) == "monitoring"


def test_an_unknown_outcome_is_never_a_pass():
    assert host_states.after_step("memory_test", "maybe", ["hw_monitor"]) == ("failed", [])


def test_opt_ins_are_true_only_when_plainly_true():
    step = remediation_steps.BY_NAME["kernel_update"]
    assert remediation_steps.missing_opt_ins(step, {"pteguard_allow_kernel_update": "yes"}) == []
    assert remediation_steps.missing_opt_ins(step, {"pteguard_allow_kernel_update": True}) == []
    for value in ("no", "false", "", None, 1, "maybe"):
        assert remediation_steps.missing_opt_ins(step, {"pteguard_allow_kernel_update": value}) == [
            "pteguard_allow_kernel_update"]


def test_docs_render_every_step_state_and_transition():
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(LOGS))), "docs", "runner.md")) as handle:
        docs = handle.read()
    for step in remediation_steps.STEPS:
        row = "| %s | %d | `%s` |" % (step.name, step.number, step.playbook)
        assert row in docs, row
        for name in step.opt_ins:
            assert "`%s`" % name in docs
        for outcome, target in step.outcomes.items():
            assert "%s → %s" % (outcome, target) in docs
    for state in host_states.STATES:
        assert "| %s |" % state in docs, state
