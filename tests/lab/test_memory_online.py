"""memory_test online on a real kernel: memtester runs through the role while a machine check is injected.

The fault-mce VM of the shared fault_vms fixture: the role (real ansible-playbook) takes the journal cursor, starts
memtester as a transient service and reads the kernel log every few seconds; the QEMU monitor raises a corrected
memory-read machine check (injectors.mce_corrected_from_monitor); the role must stop memtester early and fail the
test with that finding. Without an injection the same role finishes clean.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from pteguard_lab import injectors
from pteguard_lab.cli import inventory

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin"
CALLBACKS = REPO / "tests" / "roles" / "callback_plugins"
HOST = "lab-fault-mce"
PLAY_TIMEOUT = 900
# fault-mce has crashkernel= memory set aside: let memtester take a larger share of the rest than the default
SIZING = {"memory_test_available_percent": 60, "memory_test_margin_mb": 64, "memory_test_poll_seconds": 3}


@pytest.fixture(scope="module")
def mce_vm(fault_vms, lab_workdir):
    vm = fault_vms["vms"]["fault-mce"]
    assert vm.running(), "fault-mce is not running"
    if vm.ssh("test -e /proc/vmcore", check=False).returncode == 0:
        pytest.skip("fault-mce is in its crash kernel (test_faults' kdump test ran first): run this file on its own")
    work = lab_workdir / "memory-online"
    work.mkdir(exist_ok=True)
    (work / "inventory.json").write_text(json.dumps(inventory({"vms": [vm.to_dict()], "containers": []})))
    return vm, work


def play(work: Path, extra_vars: dict) -> subprocess.Popen:
    home = work / "ansible-home"
    (home / "tmp").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
    env.update({"ANSIBLE_HOME": str(home), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
                "ANSIBLE_STDOUT_CALLBACK": "hwm_json", "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                "ANSIBLE_NOCOLOR": "1", "LC_ALL": "C.UTF-8"})
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(work / "inventory.json"), "--limit", HOST,
            str(REPO / "playbooks" / "memory_test.yml"), "--extra-vars", json.dumps(extra_vars)]
    return subprocess.Popen(argv, env=env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)


def facts(proc: subprocess.Popen) -> tuple[int, dict, str]:
    """(rc, the facts the run set for the host, stderr), waiting (bounded) for the run to end."""
    try:
        out, err = proc.communicate(timeout=PLAY_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
    found = {}
    for one in json.loads(out).get("plays", []):
        for task in one.get("tasks", []):
            found.update((task.get("hosts", {}).get(HOST) or {}).get("ansible_facts") or {})
    return proc.returncode, found, err + out[-3000:]


def memtester_units(vm) -> str:
    return vm.ssh("systemctl list-units --all --no-legend --plain 'pteguard-memtester-*'; pgrep -a memtester",
                  check=False).stdout.strip()


def test_clean_run_finishes_with_the_journal_cursor_as_window(mce_vm):
    vm, work = mce_vm
    clean = dict(SIZING, memory_test_size_mb=4, memory_test_loops=1, memory_test_max_seconds=600)
    rc, got, log = facts(play(work, clean))
    assert rc == 0, log
    res = got["memory_test_result"]
    assert res["result"] == "passed", res
    assert res["kernel_log_window"] == "journal cursor" and res["kernel_errors"] == [] and not res["stopped_early"]
    assert res["memtester_rc"] == 0 and res["loops_started"] == 1
    assert got["pteguard_step_result"]["outcome"] == "clean"
    assert memtester_units(vm) == ""


def test_injected_machine_check_stops_memtester_and_fails_the_test(mce_vm):
    vm, work = mce_vm
    proc = play(work, dict(SIZING, memory_test_size_mb=16, memory_test_loops=100, memory_test_max_seconds=800))
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and "memtester" not in vm.ssh("pgrep -a memtester", check=False).stdout:
            assert proc.poll() is None, proc.communicate(timeout=30)
            time.sleep(2)
        assert "memtester" in vm.ssh("pgrep -a memtester", check=False).stdout, "memtester never started"
        inj = injectors.mce_corrected_from_monitor(vm)
        assert "9c00004000010090" in inj.kernel_log, inj.kernel_log
    finally:
        rc, got, log = facts(proc)
    assert rc == 0, log
    res = got["memory_test_result"]
    assert res["result"] == "failed" and res["stopped_early"] is True, res
    assert res["loops_started"] < 100
    mce = [f for f in res["kernel_errors"] if f.get("mce_status") == "0x9c00004000010090"]
    assert mce and mce[0]["category"] == "memory_error_corrected", res["kernel_errors"]
    assert res["reasons"][0].startswith("memtester stopped at the first new kernel memory error: memory_error_")
    step = got["pteguard_step_result"]
    assert step["outcome"] == "errors", step
    assert any("9c00004000010090" in line for line in step["evidence"]), step
    # memtester really stopped, and the service that ran it is gone
    assert memtester_units(vm) == ""
