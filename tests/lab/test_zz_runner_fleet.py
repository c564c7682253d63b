"""The runner end to end on the lab fleet: `pteguard plan` and `pteguard apply` over SSH (host keys checked) to real
guest kernels with real faults injected.

- fault-mce: an uncorrected (action-optional) memory error raised from the QEMU monitor -> memory suspected;
- fault-pt: the test module corrupts a page table and oopses -> a driver (pteguard_testmod) suspected;
- fault-disk: nothing injected here -> clean (when this file runs alone; after test_faults.py it holds disk errors,
  and the test then checks the steps its own diagnosis names).

Plan changes nothing on a guest (sha256 over /etc and over `dpkg-query -W`, and the boot_id, before and after);
apply without opt-ins runs only what neither reboots nor writes, says which opt-ins are missing and changes nothing;
with opt-ins the memory host gets the memory test (memtester, online mode) and the driver host the symbolization
of its oops (debug) and the kernel update. The guests have no network (QEMU user net with restrict=on): the
inventory sets kernel_update_refresh_cache=false, so the kernel update reads the guest's own package lists
(nothing newer than the installed kernel there: it installs nothing and the boot_id stays).
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys

import pytest

from pteguard_lab import injectors
from pteguard_lab.cli import inventory

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEGUARD = os.path.join(os.path.dirname(sys.executable), "pteguard")
CLI_TIMEOUT = 1500
MEM, PT, CLEAN = "lab-fault-mce", "lab-fault-pt", "lab-fault-disk"
# a checksum of what a step could change on a guest: its configuration and its packages
STATE = ("find /etc -xdev \\( -type f -o -type l \\) -print0 | sort -z | xargs -0 sha256sum 2>&1 | sha256sum; "
         "dpkg-query -W | sha256sum; cat /proc/sys/kernel/random/boot_id")
# role settings (not opt-ins): memtester online and small (the 768 MB guest has ~440 MiB available: the
# default margin of 256 MiB off half of it leaves nothing); no package-list refresh (the guests have no network);
# the module's .ko with its debug info where the image keeps it
ROLE_VARS = {"memory_test_mode": "online", "memory_test_size_mb": 16, "memory_test_margin_mb": 64,
             "memory_test_loops": 1, "kernel_update_refresh_cache": False,
             "debug_symbol_dirs": [os.path.dirname(injectors.MODULE_PATH)]}
OPT_INS = {MEM: {"memory_test_reboot_ok": True}, PT: {"pteguard_allow_kernel_update": True}}


def _vm(fault_vms, name):
    vm = fault_vms["vms"][name]
    if not vm.running():
        pytest.fail("%s is not running (an earlier lab test stopped it?)" % name)
    return vm


def _state(vms):
    return {"lab-" + vm.name: vm.ssh(STATE, timeout=120).stdout for vm in vms}


def _inventory(path, vms, opt_ins):
    inv = inventory({"vms": [vm.to_dict() for vm in vms], "containers": []})
    for name, values in inv["all"]["children"]["lab_vms"]["hosts"].items():
        values.update(ROLE_VARS)
        if opt_ins:
            values.update(OPT_INS.get(name, {}))
    path.write_text(json.dumps(inv, indent=1))
    return str(path)


def _cli(workdir, *argv):
    env = dict(os.environ, ANSIBLE_HOME=str(workdir / "ansible-home"))
    return subprocess.run([PTEGUARD] + list(argv), cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, check=False)


def _explain(proc):
    return "rc %d\nstdout:\n%s\nstderr:\n%s" % (proc.returncode, proc.stdout[-6000:], proc.stderr[-3000:])


def _plan(workdir, inv, name):
    proc = _cli(workdir, "plan", "-i", inv, "--report-dir", str(workdir / "reports"), "--work-dir",
                str(workdir / "work"), "--timeout", str(CLI_TIMEOUT - 100), "--output", str(workdir / name))
    assert proc.returncode == 0, _explain(proc)
    with open(workdir / name) as handle:
        plan = json.load(handle)
    return {host["host"]: host for host in plan["hosts"]}


def _apply(workdir, plan, change_id):
    return _cli(workdir, "apply", str(workdir / plan), "--approve", change_id, "--serial", "100%",
                "--state-dir", str(workdir / "state"))


def _run_record(workdir, change_id):
    proc = _cli(workdir, "runs", "--state-dir", str(workdir / "state"), "--format", "json")
    (record,) = [r for r in json.loads(proc.stdout)["runs"] if r["change_id"] == change_id]
    with open(os.path.join(record["run_dir"], "audit.jsonl")) as handle:
        return record, [json.loads(line) for line in handle]


def _step_results(run_dir, step, key):
    """{host: fact `key`} set by the step's role, read from ansible-runner's event files of that step."""
    out = {}
    for path in glob.glob(os.path.join(run_dir, "steps", "*-" + step, "artifacts", "*", "job_events", "*.json")):
        with open(path) as handle:
            event = json.load(handle)
        data = event.get("event_data") or {}
        fact = ((data.get("res") or {}).get("ansible_facts") or {}).get(key)
        if event.get("event") == "runner_on_ok" and fact is not None:
            out[data["host"]] = fact
    return out


@pytest.fixture(scope="module")
def fleet(fault_vms, lab_workdir):
    vms = [_vm(fault_vms, "fault-mce"), _vm(fault_vms, "fault-pt"), _vm(fault_vms, "fault-disk")]
    mem, pt = vms[0], vms[1]
    injectors.mce_uncorrected_ao_from_monitor(mem)
    injectors.pte_beyond_ram(pt)
    oops = injectors.kernel_oops_in_module(pt)
    assert "pteguard_testmod" in oops.kernel_log, oops.kernel_log[-2000:]
    workdir = lab_workdir / "runner-fleet"
    workdir.mkdir()
    return vms, workdir


def test_plan_sends_each_host_where_its_evidence_points_and_changes_nothing(fleet):
    vms, workdir = fleet
    before = _state(vms)
    inv = _inventory(workdir / "inventory.json", vms, opt_ins=False)
    hosts = _plan(workdir, inv, "plan.json")
    assert _state(vms) == before

    steps = {name: [s["step"] for s in host["steps"]] for name, host in hosts.items()}
    assert hosts[MEM]["causes"][0]["cause"] == "faulty_memory", hosts[MEM]["causes"]
    assert "memory_test" in steps[MEM] and "kernel_update" not in steps[MEM] and "debug" not in steps[MEM]
    driver = [c for c in hosts[PT]["causes"] if c["cause"] == "driver_dma_corruption"]
    assert driver and driver[0]["subject"] == {"module": "pteguard_testmod"}, hosts[PT]["causes"]
    assert steps[PT][:1] == ["debug"] and "kernel_update" in steps[PT], steps[PT]
    by_step = {s["step"]: s for s in hosts[PT]["steps"]}
    assert by_step["kernel_update"]["vars"] == {"kernel_update_blamed_module": "pteguard_testmod"}
    # the debug step adds its symbolized oopses to the host's report of the plan's diagnosis
    assert by_step["debug"]["vars"]["debug_report_dir"] == os.path.dirname(os.path.abspath(hosts[PT]["report"]))
    assert any(o.get("module") == "pteguard_testmod" for o in by_step["debug"]["vars"]["debug_oopses"])
    if hosts[CLEAN]["causes"][0]["cause"] == "none":
        assert steps[CLEAN] == ["hw_monitor"], steps[CLEAN]
    for host in hosts.values():
        for step in host["steps"]:
            expected = "run" if not step["opt_ins"] else "skip: missing opt-in " + ", ".join(step["opt_ins"])
            if not step["available"]:
                expected = "skip: not available in this version"
            assert step["will"] == expected, (host["host"], step)


def test_apply_without_opt_ins_reboots_and_writes_nothing_and_names_the_opt_ins(fleet):
    vms, workdir = fleet
    before = _state(vms)
    proc = _apply(workdir, "plan.json", "CHG-LAB-1")
    assert proc.returncode == 4, _explain(proc)  # steps skipped
    assert _state(vms) == before  # same /etc, same packages, same boot_id
    assert "note: %s: memory_test skipped: missing opt-in memory_test_reboot_ok" % MEM in proc.stdout
    assert "note: %s: kernel_update skipped: missing opt-in pteguard_allow_kernel_update" % PT in proc.stdout
    _record, entries = _run_record(workdir, "CHG-LAB-1")
    started = {(e["host"], e["step"]) for e in entries if e["action"] == "start"}
    assert started == {(PT, "debug")}  # read-only: it needs no opt-in


def test_apply_with_opt_ins_tests_the_memory_symbolizes_and_updates_the_kernel(fleet):
    vms, workdir = fleet
    before = _state(vms)
    inv = _inventory(workdir / "inventory-opted-in.json", vms, opt_ins=True)
    hosts = _plan(workdir, inv, "plan-opted-in.json")
    wills = {(name, s["step"]): s["will"] for name, host in hosts.items() for s in host["steps"]}
    assert wills[(MEM, "memory_test")] == "run" and wills[(PT, "kernel_update")] == "run"
    assert wills[(PT, "debug")] == "run"

    proc = _apply(workdir, "plan-opted-in.json", "CHG-LAB-2")
    assert proc.returncode in (0, 4), _explain(proc)  # 4: the steps without an opt-in were skipped
    record, entries = _run_record(workdir, "CHG-LAB-2")
    finished = sorted((e["host"], e["step"], e["result"]) for e in entries if e["action"] == "finish")
    started = sorted((e["host"], e["step"]) for e in entries if e["action"] == "start")
    assert started == sorted({(PT, "debug"), (MEM, "memory_test"), (PT, "kernel_update")}), entries
    assert [(h, s) for h, s, _r in finished] == started  # each step ran once and finished
    results = {(h, s): r for h, s, r in finished}
    assert results[(MEM, "memory_test")] == "clean", finished
    assert results[(PT, "debug")] == "symbolized", finished
    assert results[(PT, "kernel_update")] in ("ok", "current"), finished
    after = _state(vms)
    assert {h: s.splitlines()[2] for h, s in after.items()} == {h: s.splitlines()[2] for h, s in before.items()}
    assert after[PT] == before[PT]  # nothing newer in its package lists: nothing installed

    memtest = _step_results(record["run_dir"], "memory_test", "memory_test_result")
    assert memtest[MEM]["tool"] == "memtester" and memtest[MEM]["loops_started"] >= 1, memtest
    symbolized = _step_results(record["run_dir"], "debug", "debug_result")[PT]["symbolized"]
    frames = [f for r in symbolized.get("records") or [] for f in r.get("frames") or []
              if f.get("module") == "pteguard_testmod" and f.get("status") == "resolved"]
    assert frames and os.path.basename(frames[0]["file"]) == "pteguard_testmod.c", symbolized
    # ...and landed in the host's report of the plan's diagnosis, whose driver cause now names the file and line
    with open(hosts[PT]["report"], encoding="utf-8") as handle:
        report = json.load(handle)
    assert report["symbolized"]["records"], report.get("symbolized")
    driver = [c for c in report["diagnosis"]["causes"] if c["cause"] == "driver_dma_corruption"]
    assert driver and "pteguard_testmod.c:" in json.dumps(driver[0]["evidence"]), driver
    # the blamed module reached the kernel update as a host variable of its run (what ansible resolves for the host
    # from the run's inventory and the step's own); the debug step above got its oops records the same way
    (step_vars,) = glob.glob(os.path.join(record["run_dir"], "steps", "*-kernel_update", "step_vars.yml"))
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    resolved = subprocess.run([ansible_inventory, "-i", inv, "-i", step_vars, "--host", PT], capture_output=True,
                              text=True, timeout=120, check=True, env=dict(os.environ,
                                                                           ANSIBLE_HOME=str(workdir / "ansible-home")))
    assert json.loads(resolved.stdout)["kernel_update_blamed_module"] == "pteguard_testmod"
