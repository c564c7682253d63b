"""Step 5's memory mode on a real guest kernel: stress-ng --vm --verify through the stress role, watched via dmesg.

The fault-mce VM of the shared fault_vms fixture, real ansible-playbook. A short clean run ends not_reproduced with
stress-ng's own metrics parsed; then, while a long run's stress-ng is loading memory, the QEMU monitor raises a
corrected memory-read machine check (injectors.mce_corrected_from_monitor): the role must stop at the next slice and
report reproduced with that machine check, and no stress-ng may be left running. The guest's own stress-ng output is
kept under $PTEGUARD_LAB_ARTIFACTS and parsed with module_utils/stress_ng.py.

Last, on a VM of its own ("stress-reboot"), a load that ends in a power cut: the role waits for the host, sees the new
boot id and reports the unclean end of the boot that ran the load (boot_end.py on `journalctl -b -1`) as its result.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from pteguard_lab import injectors

from ansible_collections.pteguard.remediation.plugins.module_utils.stress_ng import parse_stress_ng

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lab_support import keep_artifact, own_vm  # noqa: E402
from test_stress_reproduction import ansible_setup, role_play  # noqa: E402  (one way to run the role)

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "lab-fault-mce"
PLAY_TIMEOUT = 900
# fault-mce sets memory aside for kdump: a small load with a small margin fits what is left
SIZING = {"stress_mode": "memory", "stress_size_mb": 32, "stress_memory_available_percent": 60,
          "stress_memory_margin_mb": 64}


@pytest.fixture(scope="module")
def mce_vm(fault_vms):
    vm = fault_vms["vms"]["fault-mce"]
    assert vm.running(), "fault-mce is not running"
    if vm.ssh("test -e /proc/vmcore", check=False).returncode == 0:
        pytest.skip("fault-mce is in its crash kernel (test_faults' kdump test ran first): run this file on its own")
    return vm


def _starter(vm, work, host):
    """A function that starts the stress role on vm; it returns the process and a function that waits (bounded) for
    the role's facts."""
    inv, env, playbook = ansible_setup(vm, work)

    def _start(label, variables):
        out = work / ("%s.json" % label)
        (work / ("%s.play.json" % label)).write_text(json.dumps(role_play(host, out)))
        (work / ("%s.vars.json" % label)).write_text(json.dumps(variables))
        proc = subprocess.Popen([playbook, "-i", str(inv), str(work / ("%s.play.json" % label)),
                                 "-e", "@" + str(work / ("%s.vars.json" % label))], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)

        def _wait():
            try:
                stdout, stderr = proc.communicate(timeout=PLAY_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate(timeout=30)
            assert proc.returncode == 0, stdout[-4000:] + stderr[-2000:]
            return json.loads(out.read_text())

        return proc, _wait

    return _start


@pytest.fixture(scope="module")
def start_play(mce_vm, tmp_path_factory):
    return _starter(mce_vm, tmp_path_factory.mktemp("stress-memory"), HOST)


@pytest.fixture(scope="module")
def reboot_vm(lab_image, lab_accel, lab_workdir):
    yield from own_vm(lab_image, lab_accel, lab_workdir, "stress-reboot")


def _stress_ng_running(vm):
    return vm.ssh("pgrep -a stress-ng", check=False).stdout.strip()


def _wait_for_stress_ng(vm, proc):
    """Until stress-ng runs on vm (bounded); between two slices it does not, for a few seconds under TCG."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if _stress_ng_running(vm):
            return
        assert proc.poll() is None, "the play ended before stress-ng started"
        time.sleep(2)
    pytest.fail("stress-ng never started")


def test_clean_memory_load_is_not_reproduced_with_stress_ngs_metrics(mce_vm, start_play):
    _proc, wait = start_play("clean", dict(SIZING, stress_max_seconds=12, stress_slices=2))
    result = wait()
    rep = result["reproduction"]
    assert rep["status"] == "not_reproduced", rep
    assert rep["tool"] == "stress-ng" and rep["target"] == "memory" and rep["kernel_log"]["watched"] is True
    assert rep["slices_run"] == 2 and rep["stopped_early"] is False and rep["verify_failures"] == []
    assert rep["memory"]["size_mb"] == 32 and rep["memory"]["bogo_ops"] > 0, rep["memory"]
    argv = rep["plan"]["argv"]
    assert argv[1:6] == ["--vm", "1", "--vm-bytes", "32M", "--verify"], argv
    assert result["step"]["outcome"] == "not_reproduced"
    assert _stress_ng_running(mce_vm) == ""
    # the guest's own stress-ng, as the module runs it, kept and parsed
    run = mce_vm.ssh("LC_ALL=C stress-ng --vm 1 --vm-bytes 16M --verify --timeout 3s --metrics-brief 2>&1",
                     check=False, timeout=120)
    keep_artifact("stress-ng-0.15-vm-verify-pass.txt", run.stdout)
    parsed = parse_stress_ng(run.stdout)
    assert run.returncode == 0 and parsed["completed"] == "successful" and parsed["failures"] == []
    assert parsed["metrics"]["vm"]["bogo_ops"] > 0, run.stdout


def test_corrected_machine_check_during_the_load_stops_it_and_reproduces(mce_vm, start_play):
    proc, wait = start_play("mce", dict(SIZING, stress_max_seconds=600, stress_slices=60))
    try:
        _wait_for_stress_ng(mce_vm, proc)
        inj = injectors.mce_corrected_from_monitor(mce_vm)
        assert "9c00004000010090" in inj.kernel_log, inj.kernel_log
    finally:
        result = wait()
    rep = result["reproduction"]
    assert rep["status"] == "reproduced", rep
    # 60 slices of 10 s planned; the machine check ends it a slice or two after the injection
    assert rep["stopped_early"] is True and rep["slices_run"] < 60, rep
    mce = [f for f in rep["findings"] if f.get("mce_status") == "0x9c00004000010090"]
    assert mce and mce[0]["category"] == "memory_error_corrected" and mce[0]["matches_target"] is True, rep
    assert rep["message"].startswith("reproduced under a memory load (32 MiB of RAM, 1 worker(s)): "
                                     "memory_error_corrected: "), rep["message"]
    assert rep["verify_failures"] == []
    step = result["step"]
    assert step["outcome"] == "reproduced" and rep["message"] in step["evidence"]
    assert _stress_ng_running(mce_vm) == ""


def test_power_cut_during_the_load_is_reported_from_the_next_boot(reboot_vm, tmp_path_factory):
    vm = reboot_vm
    # a persistent journal, so the next boot can read how this one ended
    vm.ssh("mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal && journalctl --flush")
    before = vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    start = _starter(vm, tmp_path_factory.mktemp("stress-reboot"), "lab-stress-reboot")
    proc, wait = start("cut", {"stress_mode": "memory", "stress_size_mb": 16, "stress_memory_margin_mb": 64,
                               "stress_max_seconds": 600, "stress_slices": 60, "stress_reboot_wait_seconds": 600})
    try:
        _wait_for_stress_ng(vm, proc)
        vm.ssh("sync", timeout=30)
        vm.stop()  # QMP quit: a power cut in the middle of the load
        vm.incoming = None
        vm.start()
        vm.wait_ssh(300)
    finally:
        result = wait()
    rep = result["reproduction"]
    now = vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    assert rep["status"] == "reproduced", rep
    assert rep["boot"] == {"before": before, "now": now, "rebooted": True}
    assert rep["previous_boot"]["state"] == "unclean", rep["previous_boot"]
    assert rep["findings"][0]["category"] == "unexpected_reboot" and rep["findings"][0]["matches_target"] is True
    assert rep["message"].startswith("reproduced: the host rebooted during the memory load on memory (boot id %s, "
                                     "now %s) and that boot ended uncleanly: " % (before, now)), rep["message"]
    assert result["step"]["outcome"] == "reproduced"
