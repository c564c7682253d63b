"""`pteguard diagnose` against the lab's real kernels, after test_faults.py injected into them.

Runs after test_faults.py (file order): fault-disk then holds SCSI medium errors and
plain I/O errors, fault-pt holds page-table corruption, a Bad page state and an oops
in the test module. The real CLI runs the real playbook over SSH to the guests; each
assertion reads the per-host JSON report it wrote.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lab_support import diagnose, findings
from pteguard_lab import injectors
from pteguard_lab.cli import inventory

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIAGNOSE_TIMEOUT = 900


def _vm(fault_vms, name):
    vm = fault_vms["vms"][name]
    if not vm.running():
        pytest.fail("%s is not running (an earlier lab test stopped it?)" % name)
    return vm


@pytest.fixture(scope="module")
def after_faults(fault_vms, lab_workdir):
    """One diagnose run over the disk and page-table VMs, as they are after test_faults.py."""
    vms = [_vm(fault_vms, "fault-disk"), _vm(fault_vms, "fault-pt")]
    reports, rows = diagnose(vms, lab_workdir, "after-faults")
    return reports, rows


def test_disk_media_errors_lead_to_the_disk(after_faults):
    reports, rows = after_faults
    report = reports["lab-fault-disk"]
    media = [f for f in findings(report, "block_io_error") if f.get("error_class") == "media"]
    assert media, report["kernel_log"]["summary"]
    device = media[0]["device"]
    assert media[0]["sector"] == 2048
    sense = [f for f in findings(report, "storage_device_error") if f.get("sense_key") == "Medium Error"]
    assert sense and sense[0]["device"] == device and sense[0]["error_class"] == "media"
    diagnosis = report["diagnosis"]
    assert diagnosis["primary_cause"] == "disk_media", diagnosis["causes"][:2]
    assert diagnosis["causes"][0]["subject"].get("device") == device
    row = [r for r in rows if r["host"] == "lab-fault-disk"][0]
    assert row["diagnosis"].startswith("disk_media")


def test_page_table_corruption_without_hardware_errors_points_at_the_driver(after_faults):
    reports, _rows = after_faults
    report = reports["lab-fault-pt"]
    bad_map = [f for f in findings(report, "pte_corruption") if f["signature"] == "bad_page_map"]
    assert bad_map and bad_map[0]["process"].startswith("pteguard-lab-vi")
    assert bad_map[0]["address"] == "0x00007e0000000000"
    assert any(f["signature"] == "corrupted_page_table" for f in findings(report, "pte_corruption"))
    assert any(f["signature"] == "bad_page_table_entry" and f["level"] == "pmd"
               for f in findings(report, "pte_corruption"))
    assert findings(report, "bad_page_state")[0]["pfn"].startswith("0x")
    oops = [f for f in findings(report, "kernel_oops") if f.get("module") == "pteguard_testmod"]
    assert oops and oops[0]["module_from"] == "rip" and oops[0]["symbol"].startswith("pteguard_oops_read_unmapped")
    assert "out_of_tree_module" in oops[0]["taint_flags"]
    # no machine check, EDAC or memory-failure evidence on this guest
    assert not [f for f in report["kernel_log"]["findings"] if f["category"].startswith("memory_error")]
    diagnosis = report["diagnosis"]
    assert diagnosis["primary_cause"] == "driver_dma_corruption", diagnosis["causes"][:2]
    assert diagnosis["causes"][0]["subject"].get("module") == "pteguard_testmod"


def test_hw_monitor_role_enables_rasdaemon_on_a_real_kernel(fault_vms, lab_workdir):
    vm = _vm(fault_vms, "fault-pt")
    run_dir = lab_workdir / "hw-monitor"
    run_dir.mkdir()
    inv = run_dir / "inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [vm.to_dict()], "containers": []})))
    env = dict(os.environ, ANSIBLE_HOME=str(run_dir / "ansible-home"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"))
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    argv = [playbook, "-i", str(inv), "pteguard.remediation.hw_monitor"]
    first = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=DIAGNOSE_TIMEOUT,
                           check=False)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "backend rasdaemon" in first.stdout
    assert vm.ssh("systemctl is-active rasdaemon", check=False).stdout.strip() == "active"
    assert 'PAGE_CE_ACTION="account"' in vm.ssh("cat /etc/default/rasdaemon").stdout
    second = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=DIAGNOSE_TIMEOUT,
                            check=False)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-2000:]


def test_corrected_memory_errors_alongside_turn_the_diagnosis_to_memory(fault_vms, lab_workdir):
    vm = _vm(fault_vms, "fault-pt")
    inj = injectors.mce_corrected_from_monitor(vm)
    assert "Machine Check" in inj.kernel_log
    reports, _rows = diagnose([vm], lab_workdir, "pt-with-mce")
    report = reports["lab-fault-pt"]
    corrected = findings(report, "memory_error_corrected")
    assert corrected and corrected[0]["mce_status"] == "0x9c00004000010090" and corrected[0]["bank"] == 7
    assert corrected[0]["address"] == "0x12345000"
    diagnosis = report["diagnosis"]
    assert diagnosis["primary_cause"] == "faulty_memory", diagnosis["causes"][:2]
    # rasdaemon (enabled by the role above) recorded the same machine check
    records = json.dumps(report["hardware_errors"].get("rasdaemon"))
    assert "9c00004000010090" in records.lower() or '"mce_corrected": 1' in records, records[:2000]


def test_a_freshly_booted_vm_reports_nothing_above_info(lab_image, lab_accel, lab_workdir):
    from pteguard_lab.vm import boot_vms, stop_all

    vms = boot_vms(lab_image, ["diag-clean"], lab_workdir / "clean", accel=lab_accel)
    try:
        reports, _rows = diagnose(vms, lab_workdir, "clean")
    finally:
        errors = stop_all(vms)
    assert not errors, errors
    report = reports["lab-diag-clean"]
    summary = report["kernel_log"]["summary"]
    assert summary["highest_severity"] in (None, "info"), report["kernel_log"]["findings"][:5]
    assert report["kernel"]["release"].startswith("6.1.")
    assert report["diagnosis"]["primary_cause"] == "none"
