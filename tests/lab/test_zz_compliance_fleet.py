"""`pteguard compliance` on the lab fleet: a baseline, then new faults on two guests, every report format agrees.

The real CLI runs the real playbook over SSH against three real guest kernels (the shared fault VMs). After the
baseline, fault-mce gets an uncorrected (action-optional) memory error from the QEMU monitor and fault-pt gets a
page-table corruption from the test module; fault-disk gets nothing new. Compliance must fail those two and pass the
third, and compliance.json, the JUnit XML, the Prometheus metrics, the Markdown, the HTML and `pteguard report
--format json` must all say so. Whatever ran on these guests before (test_faults.py) is in the baseline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from pteguard import fleet_view
from pteguard_lab import injectors
from pteguard_lab.cli import inventory

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "e2e"))
from test_cli_compliance import _verdicts_from_every_format  # noqa: E402  (one reader of every format)

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEGUARD = os.path.join(os.path.dirname(sys.executable), "pteguard")
TIMEOUT = 900
POLICY = {"version": 1, "checks": {"no_new_events": {}, "kernel": {"min_version": "5.10"},
                                   "persistent_journal": True}}
NAMES = {"fault-mce": "lab-fault-mce", "fault-pt": "lab-fault-pt", "fault-disk": "lab-fault-disk"}


def _vm(fault_vms, name):
    vm = fault_vms["vms"][name]
    if not vm.running():
        pytest.fail("%s is not running (an earlier lab test stopped it?)" % name)
    return vm


def _compliance(work, inv, *extra):
    env = dict(os.environ, ANSIBLE_HOME=str(work / "ansible-home"))
    argv = [PTEGUARD, "compliance", "-i", str(inv), "--policy", str(work / "policy.yml"), "--format", "json",
            "--report-dir", str(work / "reports"), "--work-dir", str(work / "runs"),
            "--baseline-dir", str(work / "baseline"), "--timeout", str(TIMEOUT - 60)]
    return subprocess.run(argv + list(extra), cwd=REPO, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                          check=False)


def _explain(proc):
    return "exit %d\nstdout: %s\nstderr: %s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.fixture(scope="module")
def fleet_run(fault_vms, lab_workdir):
    vms = [_vm(fault_vms, name) for name in NAMES]
    work = lab_workdir / "compliance-fleet"
    work.mkdir()
    (work / "policy.yml").write_text(yaml.safe_dump(POLICY))
    inv = work / "inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [vm.to_dict() for vm in vms], "containers": []})))
    first = _compliance(work, inv, "--update-baseline")
    assert first.returncode in (0, 1, 4), _explain(first)  # earlier tests' faults may already show; baselined now
    assert (work / "baseline" / "baseline.json").is_file(), _explain(first)
    injected = {"ue": injectors.mce_uncorrected_ao_from_monitor(_vm(fault_vms, "fault-mce")),
                "pte": injectors.pte_beyond_ram(_vm(fault_vms, "fault-pt"))}
    second = _compliance(work, inv)
    return work, second, injected


def test_new_faults_fail_their_hosts_and_the_clean_one_passes(fleet_run):
    _work, proc, _injected = fleet_run
    assert proc.returncode == 1, _explain(proc)
    result = json.loads(proc.stdout)["compliance"]
    hosts = {h["host"]: h for h in result["hosts"]}
    assert {h: hosts[h]["result"] for h in NAMES.values()} == {
        "lab-fault-mce": "fail", "lab-fault-pt": "fail", "lab-fault-disk": "pass"}, proc.stdout[-3000:]
    events = {h: next(c for c in hosts[h]["checks"] if c["check"] == "no_new_events") for h in hosts}
    assert "since the baseline" in events["lab-fault-mce"]["message"]
    assert any("memory_error_uncorrected" in d or "memory_page_offlined" in d
               for d in events["lab-fault-mce"]["details"]), events["lab-fault-mce"]
    assert any("pte_corruption" in d for d in events["lab-fault-pt"]["details"]), events["lab-fault-pt"]
    # the journal check read the guests' real /var/log/journal and journald.conf
    for host in hosts.values():
        journal = next(c for c in host["checks"] if c["check"] == "persistent_journal")
        assert journal["result"] == "pass", journal


def test_every_format_agrees_on_the_verdicts(fleet_run):
    work, proc, _injected = fleet_run
    report_dir = work / "reports" / "latest"
    for name in os.listdir(report_dir):
        if name.endswith(".json"):
            assert not fleet_view.schema_errors(json.loads((report_dir / name).read_text())), name
    expected = {"lab-fault-mce": "fail", "lab-fault-pt": "fail", "lab-fault-disk": "pass"}
    verdicts = _verdicts_from_every_format(report_dir)
    assert set(verdicts) == {"compliance.json", "junit.xml", "pteguard.prom", "report.md", "report.html"}
    for fmt, found in verdicts.items():
        assert found == expected, (fmt, verdicts)
    fleet = subprocess.run([PTEGUARD, "report", "latest", "--report-dir", str(work / "reports"), "--work-dir",
                            str(work / "runs"), "--format", "json"], cwd=REPO, capture_output=True, text=True,
                           timeout=120, check=False)
    assert fleet.returncode == 0, _explain(fleet)
    document = json.loads(fleet.stdout)
    assert not fleet_view.schema_errors(document)
    assert {h["host"]: h["compliance"] for h in document["hosts"]} == expected


def test_reports_carry_the_guests_inventory_and_the_fleet_correlation(fleet_run, fault_vms):
    work, _proc, _injected = fleet_run
    report_dir = work / "reports" / "latest"
    reports = {name: json.loads((report_dir / ("%s.json" % name)).read_text()) for name in NAMES.values()}
    for name, report in reports.items():
        inventory_section = report["inventory"]
        assert inventory_section["firmware"]["bios_vendor"], inventory_section  # QEMU's SeaBIOS, from sysfs
        # the guest's real dmidecode, run as root, reads QEMU's SMBIOS type 17: one DIMM of the VM's whole RAM
        dimms = inventory_section["dimms"]
        assert dimms and [d["locator"] for d in dimms] == ["DIMM 0"], inventory_section
        assert dimms[0]["manufacturer"] == "QEMU" and dimms[0]["size_bytes"] == \
            _vm(fault_vms, name.replace("lab-", "", 1)).memory_mb * 1048576, dimms
        assert inventory_section["dimm_slots"] == 1
        assert not any(note.startswith("DIMMs:") for note in inventory_section["notes"]), inventory_section
        assert report["journal"]["persistent"] is True and "ready" in report["kdump"]
    modules = {m["name"]: m for m in reports["lab-fault-pt"]["inventory"]["modules"]}
    assert "O" in modules["pteguard_testmod"]["taint"], modules
    fleet = subprocess.run([PTEGUARD, "report", "latest", "--report-dir", str(work / "reports"), "--work-dir",
                            str(work / "runs"), "--format", "json"], cwd=REPO, capture_output=True, text=True,
                           timeout=120, check=False)
    groups = {g["what"]: g for g in json.loads(fleet.stdout)["correlation"]}
    module_group = next(g for what, g in groups.items() if what.startswith("module pteguard_testmod"))
    assert "lab-fault-pt" in module_group["affected_hosts"], module_group
