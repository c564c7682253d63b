"""The issue's scenario on a real kernel: repeated medium errors on one disk and one corrected machine check.

One 1 GiB Debian 12 guest of its own (not the shared fault VMs): rasdaemon recording, a scsi_debug disk read twice
over its bad sectors, one corrected memory read error injected from the QEMU monitor. `pteguard diagnose` must rank
disk_media first on that disk, keep the lone corrected error as a note (no DIMM made up from rasdaemon's
`n_errors=1`), and judge page-table values against the guest's real memory size and /proc/cpuinfo address bits.
"""

from __future__ import annotations

import json
import re
import time

import pytest

from lab_support import diagnose
from pteguard_lab import injectors
from pteguard.parsers.pte_values import decode_entry

pytestmark = pytest.mark.lab

MEMORY_MB = 1024
RASDAEMON_WAIT = 90.0

# rasdaemon 0.6.8 (Debian 12) records nothing until its trace instance's buffer_percent is 0 before it starts
# (LAB.md); done here by hand so this test does not depend on the hw_monitor role.
_RASDAEMON_RECORDING = """set -e
systemctl stop rasdaemon || true
mountpoint -q /sys/kernel/debug || mount -t debugfs none /sys/kernel/debug
mkdir -p /sys/kernel/debug/tracing/instances/rasdaemon
echo 0 > /sys/kernel/debug/tracing/instances/rasdaemon/buffer_percent
systemctl start rasdaemon
systemctl is-active rasdaemon
"""


def _wait_for_rasdaemon_record(vm, pattern):
    deadline = time.monotonic() + RASDAEMON_WAIT
    out = ""
    while time.monotonic() < deadline:
        out = vm.ssh("ras-mc-ctl --errors", check=False, timeout=30).stdout
        if re.search(pattern, out):
            return out
        time.sleep(3)
    pytest.fail("rasdaemon recorded no %r within %ds:\n%s" % (pattern, RASDAEMON_WAIT, out[-2000:]))


@pytest.fixture(scope="module")
def scenario(lab_image, lab_accel, lab_workdir):
    from pteguard_lab.vm import boot_vms, stop_all

    vms = boot_vms(lab_image, ["diag-weights"], lab_workdir / "weights", accel=lab_accel,
                   overrides={"diag-weights": {"memory_mb": MEMORY_MB}})
    vm = vms[0]
    try:
        assert vm.ssh("bash -s", input_text=_RASDAEMON_RECORDING, timeout=120).stdout.strip().endswith("active")
        disk = [injectors.scsi_medium_error_dd(vm), injectors.scsi_medium_error_dd(vm)]
        mce = injectors.mce_corrected_from_monitor(vm)
        ras_errors = _wait_for_rasdaemon_record(vm, r"n_errors=\d+|MEMORY CONTROLLER")
        guest = {"cpuinfo": vm.ssh("cat /proc/cpuinfo").stdout, "meminfo": vm.ssh("cat /proc/meminfo").stdout,
                 "ras_mc_ctl_errors": ras_errors}
        (lab_workdir / "weights" / "guest-captures.json").write_text(json.dumps(guest, indent=1))
        reports, rows = diagnose([vm], lab_workdir, "weights")
    finally:
        errors = stop_all(vms)
    assert not errors, errors
    return {"report": reports["lab-diag-weights"], "rows": rows, "disk": disk, "mce": mce, "guest": guest}


def test_repeated_medium_errors_rank_the_disk_first_and_the_lone_ce_is_a_note(scenario):
    diagnosis = scenario["report"]["diagnosis"]
    device = scenario["disk"][0].details["device"]
    first = diagnosis["causes"][0]
    assert diagnosis["primary_cause"] == "disk_media", diagnosis["causes"][:2]
    assert first["subject"] == {"device": device}
    assert "S6" in first["rules"] and first["confidence_word"] == "high", first
    assert all(c["cause"] != "faulty_memory" for c in diagnosis["causes"]), diagnosis["causes"]
    notes = [n for n in diagnosis["notes"] if n["about"] == "memory_ce_seen"]
    assert len(notes) == 1 and notes[0]["next_steps"][0]["name"] == "hardware_error_monitoring"
    # the kernel log and rasdaemon hold the same machine check: counted once
    assert [r["corrected_errors"] for r in diagnosis["memory_ce_rates"]] == [1]


def test_no_subject_is_a_rasdaemon_field(scenario):
    report = scenario["report"]
    # rasdaemon really stored the MCi_STATUS corrected count where a DIMM label was read before
    assert "n_errors=1" in scenario["guest"]["ras_mc_ctl_errors"]
    records = json.dumps(report["hardware_errors"].get("rasdaemon"))
    assert "n_errors=1" in records
    diagnosis = report["diagnosis"]
    subjects = [json.dumps(c["subject"]) for c in diagnosis["causes"]] + \
        [json.dumps(n["subject"]) for n in diagnosis["notes"]]
    assert not [s for s in subjects if "=" in s], subjects
    ras = [f for f in report["hardware_errors"]["findings"] if f.get("signature") == "rasdaemon.mce_record"]
    assert ras and all("dimm" not in f for f in ras) and ras[0]["count"] == 1


def test_pte_limits_use_the_guests_memory_and_address_bits(scenario):
    report = scenario["report"]
    facts = report["kernel"]["host_facts"]
    match = re.search(r"address sizes\s*:\s*(\d+) bits physical", scenario["guest"]["cpuinfo"])
    assert match, scenario["guest"]["cpuinfo"][:1000]
    assert facts["max_phys_bits"] == int(match.group(1)) and facts["phys_bits_source"] == "/proc/cpuinfo"
    mem_kb = int(re.search(r"^MemTotal:\s+(\d+) kB", scenario["guest"]["meminfo"], re.M).group(1))
    assert facts["memory_bytes"] == mem_kb * 1024
    assert 768 << 20 < facts["memory_bytes"] <= MEMORY_MB << 20
    used = report["diagnosis"]["host_facts_used"]
    assert used["memory_bytes"] == facts["memory_bytes"] and used["max_phys_bits"] == facts["max_phys_bits"]
    assert used["assumptions"] == []
    # what the PTE analysis prints for this guest: its own size, never "0 GiB"
    limits = decode_entry("0x8000000012345067", "pte", "x86_64", used["memory_bytes"], used["max_phys_bits"],
                          phys_bits_source=used["phys_bits_source"])["limits"]
    assert limits.startswith("%d physical address bits (/proc/cpuinfo)" % used["max_phys_bits"])
    assert "installed memory %d MiB" % (used["memory_bytes"] >> 20) in limits and "0 GiB" not in limits
