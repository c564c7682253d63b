"""What the runner passes to each step from the diagnosis (the suspect module to kernel_update, the suspect disk to
stress, the oops records to debug), on diagnoses the real parsers make from real kernel logs (tests/fixtures/logs,
sources in its README), and how apply hands them to ansible (a host-vars inventory per step run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from test_runner_states import diagnosis_of

from pteguard import apply_engine, remediation_steps
from pteguard.analyze import analyze_sources

LOGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "logs")


def _vars(name, step, hostvars=None):
    diagnosis = diagnosis_of(name)
    row = remediation_steps.BY_NAME[step]
    causes = [c for c in diagnosis["causes"] if c["cause"] in remediation_steps.causes_for(row)]
    findings = analyze_sources([os.path.join(LOGS, name)])["sources"][0]["findings"]
    return remediation_steps.step_vars(row, causes, findings, hostvars or {})


def test_the_blamed_module_goes_to_the_kernel_update():
    assert _vars("kernel_oops-null_deref-dmesgT-5.10-i40e.log", "kernel_update") == {
        "kernel_update_blamed_module": "i40e"}


def test_the_oops_records_go_to_the_symbolizer():
    oopses = _vars("kernel_oops-null_deref-dmesgT-5.10-i40e.log", "debug")["debug_oopses"]
    assert oopses and all(o["category"] == "kernel_oops" or "kernel_oops" in o.get("also_categories", [])
                          for o in oopses)
    assert oopses[0]["module"] == "i40e" and oopses[0]["symbol"]


def test_the_suspect_disk_goes_to_the_stress_step_as_a_block_device():
    passed = _vars("block_io_error-blk_update_request-suppressed-kernlog.log", "stress")
    assert passed["stress_target"] == "/dev/sdb"
    assert passed["stress_findings"] and {f["device"] for f in passed["stress_findings"]} == {"sdb"}


def test_the_suspect_disk_goes_to_the_disk_health_step():
    assert _vars("block_io_error-blk_update_request-suppressed-kernlog.log", "disk_health") == {
        "disk_health_devices": "/dev/sdb"}


def test_an_ata_link_is_no_stress_target():
    # the diagnosis names the link (ata1); a step cannot read a link, so no target is passed (the findings are)
    assert "stress_target" not in _vars("storage_device_error-ata_badcrc_bus_error-3.0-arm.log", "stress")


def test_the_steps_that_report_get_the_folder_of_the_plans_report():
    name = "block_io_error-blk_update_request-suppressed-kernlog.log"
    diagnosis = diagnosis_of(name)
    findings = analyze_sources([os.path.join(LOGS, name)])["sources"][0]["findings"]
    report = os.path.join("reports", "20261130T080000Z", "web1.json")
    for step, var in (("stress", "stress_report_dir"), ("debug", "debug_report_dir")):
        row = remediation_steps.BY_NAME[step]
        passed = remediation_steps.step_vars(row, diagnosis["causes"], findings, {}, report)
        assert passed[var] == os.path.abspath(os.path.dirname(report))
        # no report (the host was not read): nothing to add a result to, so nothing is passed
        assert var not in remediation_steps.step_vars(row, diagnosis["causes"], findings, {}, None)
    assert "stress_report_dir" not in remediation_steps.step_vars(
        remediation_steps.BY_NAME["stress"], diagnosis["causes"], findings, {"stress_report_dir": "/srv/r"}, report)


def test_the_inventory_value_wins():
    assert _vars("kernel_oops-null_deref-dmesgT-5.10-i40e.log", "kernel_update",
                 {"kernel_update_blamed_module": "ixgbe"}) == {}


def test_a_memory_diagnosis_names_nothing_for_the_kernel_update():
    assert _vars("memory_error_uncorrected-ghes_poisoned-rfc3339.log", "kernel_update") == {}


def test_apply_writes_the_vars_as_host_vars_ansible_reads(tmp_path):
    run = apply_engine.Run(db=None, audit=None, run_id="r", run_dir=str(tmp_path), change_id="C", inventories=[],
                           hostvars={}, collections="", options={},
                           stepvars={"h1": {"kernel_update": {"kernel_update_blamed_module": "i40e"}},
                                     "h2": {"kernel_update": {}}})
    (path,) = apply_engine._vars_inventory(run, remediation_steps.BY_NAME["kernel_update"], ["h1", "h2"],
                                           str(tmp_path))
    assert apply_engine._vars_inventory(run, remediation_steps.BY_NAME["stress"], ["h1", "h2"], str(tmp_path)) == []
    base = tmp_path / "inv.yml"
    base.write_text("all:\n  hosts:\n    h1:\n      a: 1\n    h2:\n")
    listing = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "--list", "-i",
                              str(base), "-i", path], capture_output=True, text=True, timeout=120, check=True,
                             env=dict(os.environ, ANSIBLE_INVENTORY_UNPARSED_FAILED="True"))
    hostvars = json.loads(listing.stdout)["_meta"]["hostvars"]
    assert hostvars["h1"] == {"a": 1, "kernel_update_blamed_module": "i40e"}
    assert "kernel_update_blamed_module" not in hostvars.get("h2", {})
