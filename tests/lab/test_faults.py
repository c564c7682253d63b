"""Each injector makes the real guest kernel print the real record.

Every assertion reads the guest's own kernel log (dmesg over SSH, the journal for
one case, the serial console for the fatal machine check after which the guest is
gone), from the injector's marker line on.
"""

from __future__ import annotations

import re

import pytest

from pteguard_lab import injectors

pytestmark = pytest.mark.lab

# Records that a freshly booted guest must not show.
FAULT_SIGNATURES = [
    r"\[Hardware Error\]",
    r"Machine Check",
    r"Memory failure:",
    r"MCE: Killing",
    r"critical medium error",
    r"Buffer I/O error",
    r"I/O error, dev ",
    r"Bad page map in process",
    r"Bad rss-counter state",
    r"Corrupted page table",
    r"Bad pagetable",
    r"bad pmd",
    r"Bad page state",
    r"unable to handle page fault",
    r"Oops:",
    r"Kernel panic",
    r"pteguard_testmod",
]


def _vm(fault_vms, name):
    vm = fault_vms["vms"][name]
    assert vm.running(), "%s is not running" % name
    return vm


@pytest.mark.parametrize("name", ["fault-mce", "fault-disk", "fault-pt", "fault-fatal"])
def test_fresh_vm_kernel_log_is_clean(fault_vms, name):
    log = fault_vms["baseline"][name]
    assert "Linux version 6.1" in log  # really the guest kernel's log
    found = [p for p in FAULT_SIGNATURES if re.search(p, log)]
    assert found == [], "a fresh guest already shows %s" % found


def test_guest_network_is_restricted(fault_vms):
    vm = _vm(fault_vms, "fault-mce")
    # restrict=on: the gateway and DNS of the user-mode network answer nothing.
    proc = vm.ssh("timeout 5 bash -c 'echo > /dev/tcp/10.0.2.2/22' 2>&1; echo rc=$?", check=False)
    assert "rc=0" not in proc.stdout


# --- machine checks and hwpoison (fault-mce) ------------------------------------------

def test_mce_corrected_from_qemu_monitor(fault_vms, record_time):
    inj = injectors.mce_corrected_from_monitor(_vm(fault_vms, "fault-mce"))
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert "mce: [Hardware Error]: Machine check events logged" in log
    assert re.search(r"mce: \[Hardware Error\]: CPU 0: Machine Check: 0 Bank 7: 9c00004000010090", log)
    assert re.search(r"ADDR 12345000 MISC 8c", log)


def test_mce_inject_in_guest(fault_vms, record_time):
    inj = injectors.mce_inject_in_guest(_vm(fault_vms, "fault-mce"))
    record_time(inj.kind, inj.seconds)
    assert "mce: Machine check injector initialized" in inj.kernel_log or "Bank 7" in inj.kernel_log
    assert re.search(r"Machine Check: 0 Bank 7: 9c00004000010090", inj.kernel_log)


def test_mce_uncorrected_action_optional_from_qemu_monitor(fault_vms, record_time):
    vm = _vm(fault_vms, "fault-mce")
    inj = injectors.mce_uncorrected_ao_from_monitor(vm)
    record_time(inj.kind, inj.seconds)
    pfn = inj.details["pfn"]
    # ("Machine check events logged" is rate-limited to 2 a minute: not asserted here.)
    assert re.search(r"Memory failure: 0x%x: recovery action for .*: Recovered" % pfn, inj.kernel_log)
    corrupted = vm.ssh("grep HardwareCorrupted /proc/meminfo").stdout
    assert int(corrupted.split()[1]) > 0


def test_hwpoison_madvise(fault_vms, record_time):
    inj = injectors.hwpoison_madvise(_vm(fault_vms, "fault-mce"))
    record_time(inj.kind, inj.seconds)
    pfn = inj.details["pfn"]
    assert pfn is not None, inj.output
    assert re.search(r"Memory failure: 0x%x: recovery action for dirty LRU page: Recovered" % pfn, inj.kernel_log)
    assert re.search(r"MCE: Killing pteguard-lab-vi:\d+ due to hardware memory corruption", inj.kernel_log)


def test_hwpoison_inject_corrupt_pfn(fault_vms, record_time):
    inj = injectors.hwpoison_corrupt_pfn(_vm(fault_vms, "fault-mce"))
    record_time(inj.kind, inj.seconds)
    pfn = inj.details["pfn"]
    assert pfn is not None, inj.output
    assert "Injecting memory failure at pfn 0x%x" % pfn in inj.kernel_log
    assert re.search(r"Memory failure: 0x%x: recovery action for " % pfn, inj.kernel_log)


# --- disk errors (fault-disk) ---------------------------------------------------------------

def test_scsi_medium_error_read_by_dd(fault_vms, record_time):
    vm = _vm(fault_vms, "fault-disk")
    inj = injectors.scsi_medium_error_dd(vm)
    record_time(inj.kind, inj.seconds)
    dev = inj.details["device"]
    log = inj.kernel_log
    assert "Input/output error" in inj.output
    assert re.search(r"\[%s\] tag#\d+ Sense Key : Medium Error" % dev, log)
    assert "Add. Sense: Unrecovered read error" in log
    assert re.search(r"critical medium error, dev %s, sector 2048 op 0x0:\(READ\)" % dev, log)
    assert "Buffer I/O error on dev %s, logical block 256" % dev in log
    # The journal holds the same kernel record.
    assert "critical medium error, dev %s, sector 2048" % dev in vm.journal_kernel()


def test_scsi_medium_error_read_by_fio(fault_vms, record_time):
    inj = injectors.scsi_medium_error_fio(_vm(fault_vms, "fault-disk"))
    record_time(inj.kind, inj.seconds)
    dev = inj.details["device"]
    assert "io_u error" in inj.output and "offset=1048576" in inj.output
    assert re.search(r"critical medium error, dev %s, sector 2048 op 0x0:\(READ\)" % dev, inj.kernel_log)


def test_scsi_plain_io_error(fault_vms, record_time):
    inj = injectors.scsi_io_error(_vm(fault_vms, "fault-disk"))
    record_time(inj.kind, inj.seconds)
    dev = inj.details["device"]
    assert re.search(r"I/O error, dev %s, sector \d+ op 0x0:\(READ\)" % dev, inj.kernel_log)
    assert "critical medium error" not in inj.kernel_log


# --- page tables, page state, oops (fault-pt) -------------------------------------------

def test_pte_beyond_ram_bad_page_map(fault_vms, record_time):
    inj = injectors.pte_beyond_ram(_vm(fault_vms, "fault-pt"))
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert re.search(r"BUG: Bad page map in process pteguard-lab-vi\s+pte:[0-9a-f]+ pmd:[0-9a-f]+", log)
    assert re.search(r"addr:0*7e0000000000 vm_flags:", log)
    assert "BUG: Bad rss-counter state" in log


def test_pte_reserved_bit_corrupted_page_table(fault_vms, record_time):
    inj = injectors.pte_reserved_bit(_vm(fault_vms, "fault-pt"))
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert re.search(r"pteguard-lab-vi: Corrupted page table at address 7e0000000000", log)
    assert re.search(r"PGD [0-9a-f]+ P4D [0-9a-f]+ PUD [0-9a-f]+ PMD [0-9a-f]+ PTE 8008[0-9a-f]+", log)
    assert re.search(r"Bad pagetable: 000[cd] \[#\d+\]", log)


def test_pmd_damage_bad_pmd(fault_vms, record_time):
    inj = injectors.pmd_clear_rw(_vm(fault_vms, "fault-pt"))
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert re.search(r"mm/pgtable-generic\.c:\d+: bad pmd ", log)
    assert "non-zero pgtables_bytes on freeing mm" in log


def test_bad_page_state_nonzero_mapcount(fault_vms, record_time):
    inj = injectors.bad_page_state(_vm(fault_vms, "fault-pt"))
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert re.search(r"BUG: Bad page state in process pteguard-lab-vi\s+pfn:[0-9a-f]+", log)
    assert "page dumped because: nonzero mapcount" in log


def test_kernel_oops_in_test_module(fault_vms, record_time):
    vm = _vm(fault_vms, "fault-pt")
    inj = injectors.kernel_oops_in_module(vm)
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert re.search(r"BUG: unable to handle page fault for address: [0-9a-f]{16}", log)
    assert "#PF: supervisor read access in kernel mode" in log
    assert re.search(r"Oops: 0000 \[#\d+\]", log)
    assert re.search(r"RIP: 0010:pteguard_oops_read_unmapped\S*\+0x[0-9a-f]+/0x[0-9a-f]+ \[pteguard_testmod\]", log)
    assert vm.ssh("true").returncode == 0  # the guest survives an oops


# --- fatal machine check (fault-fatal, dies) -----------------------------------------------

def test_mce_fatal_panics_guest(fault_vms, record_time):
    vm = _vm(fault_vms, "fault-fatal")
    inj = injectors.mce_fatal_from_monitor(vm)
    record_time(inj.kind, inj.seconds)
    log = inj.kernel_log
    assert inj.details["qemu_exited"], "QEMU still runs after a fatal machine check"
    assert re.search(r"Machine Check.*Bank 7: be00000000000090", log)
    assert "Kernel panic - not syncing: Fatal machine check" in log
    assert not vm.running()


# --- what pteguard makes of it ---------------------------------------------------------------

def test_pteguard_diagnose_names_the_memory_faults(fault_vms, lab_workdir):
    """The machine checks and memory failures above, through the real `pteguard diagnose` over SSH."""
    from lab_support import diagnose, findings

    vm = _vm(fault_vms, "fault-mce")
    reports, _rows = diagnose([vm], lab_workdir, "memory")
    report = reports["lab-fault-mce"]
    corrected = [f for f in findings(report, "memory_error_corrected") if f.get("mce_status") == "0x9c00004000010090"]
    assert corrected and corrected[0]["bank"] == 7 and corrected[0]["cpu"] == 0
    assert corrected[0]["mce"]["mcacod_class"] == "memory_controller"
    offlined = findings(report, "memory_page_offlined")
    assert any(f.get("result") == "recovered" and f.get("pfn") for f in offlined)
    assert any(f.get("process", "").startswith("pteguard-lab-vi") and f.get("pid") for f in offlined)
    assert any(f.get("signature") == "memory_failure_injected" for f in offlined)
    assert report["diagnosis"]["primary_cause"] == "faulty_memory", report["diagnosis"]["causes"][:2]


def test_pteguard_analyze_reads_the_fatal_machine_check_from_the_console(fault_vms, tmp_path):
    """A guest that died can't be asked: its serial console capture is what an SRE has. Triage it offline."""
    import json
    import os
    import subprocess
    import sys

    vm = fault_vms["vms"]["fault-fatal"]
    if vm.running():
        pytest.skip("fault-fatal is still running: the fatal machine check test did not run first")
    capture = tmp_path / "console.log"
    capture.write_text(vm.serial_text())
    pteguard = os.path.join(os.path.dirname(sys.executable), "pteguard")
    proc = subprocess.run([pteguard, "analyze", "--format", "json", str(capture)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    found = json.loads(proc.stdout)["sources"][0]["findings"]
    fatal = [f for f in found if f.get("mce_status") == "0xbe00000000000090"]
    assert fatal and fatal[0]["category"] == "memory_error_uncorrected" and fatal[0]["severity"] == "critical"
    assert fatal[0]["mce"]["processor_context_corrupt"] is True
    panic = [f for f in found if f["category"] == "kernel_panic"]
    assert panic and panic[0]["machine_check"] is True


# --- kdump (fault-mce, last of the whole lab session: the guest reboots into its crash kernel) -------

@pytest.mark.lab_last
def test_kdump_sysrq_crash_dump_found_in_crash_kernel(fault_vms, record_time):
    vm = _vm(fault_vms, "fault-mce")
    inj = injectors.kdump_sysrq_crash(vm)
    record_time(inj.kind, inj.seconds)
    assert "reset_devices" in inj.details["crash_cmdline"]  # we are in the crash kernel
    assert inj.details["vmcore"], inj.output
    assert "sysrq: Trigger a crash" in inj.kernel_log
    assert "Kernel panic - not syncing: sysrq triggered crash" in inj.kernel_log


@pytest.mark.lab_last
def test_pteguard_diagnose_reads_the_crashed_kernels_log_from_var_crash(fault_vms, lab_workdir):
    """After kdump, the crashed kernel's log lives in the dump; kdump-tools keeps it as /var/crash/<stamp>/dmesg.<stamp>."""
    from lab_support import diagnose

    vm = _vm(fault_vms, "fault-mce")
    if "reset_devices" not in vm.ssh("cat /proc/cmdline").stdout:
        pytest.skip("fault-mce is not in its crash kernel: the kdump test did not run first")
    stamp = "202611250000"
    vm.ssh("mkdir -p /var/crash/{0} && vmcore-dmesg /proc/vmcore > /var/crash/{0}/dmesg.{0}".format(stamp),
           timeout=180)
    reports, _rows = diagnose([vm], lab_workdir, "kdump")
    report = reports["lab-fault-mce"]
    crash = [f for f in report["kernel_log"]["findings"] if f.get("source", "").startswith("/var/crash/")]
    assert any(f["category"] == "kernel_panic" and f.get("reason") == "sysrq triggered crash" for f in crash), crash
    read = [src for src in report["kernel_log"]["sources"] if src["name"] == "crash"]
    assert read and read[0]["status"] == "read" and read[0]["path"].endswith("dmesg." + stamp)
    # the crash kernel's own log (the journal of this boot) is not the crashed one: only /var/crash holds the panic
    assert not [f for f in report["kernel_log"]["findings"]
                if f["category"] == "kernel_panic" and not f.get("source", "").startswith("/var/crash/")]
