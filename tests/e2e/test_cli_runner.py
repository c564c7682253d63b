"""`pteguard plan`, `apply`, `resume`, `runs` through the real CLI: real ansible-runner against the loopback sshd (host
keys checked) and localhost, with evidence from real kernel logs (tests/fixtures/logs, sources in its README) named by
`diagnose_kern_log_paths`.

The steps that exist in this version are the diagnosis and hw_monitor (monitoring). hw_monitor runs here with
`hw_monitor_backend_preference: none` and `hw_monitor_install: false`, so on this shared machine it probes and
reports, and changes nothing (checked by checksums). The lab-fleet run with the memory test and the kernel update
comes when those roles land.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from e2e_support import (
    COLLECTIONS, FIXTURE_LOGS, explain, run, run_processes_left, ssh_host_vars, tool, write_inventory,
)

MEMORY_LOG = "memory_error_uncorrected-ghes_poisoned-rfc3339.log"
CLEAN_LOG = "none-wsl_boot_recovery_complete.log"
# what hw_monitor could change on a host, and what the runner reads: none of it may change
WATCHED = ["/etc/default", "/etc/systemd/system", "/etc/mcelog", "/etc/sysconfig"]
KILL_DEADLINE = 240  # seconds to wait for the first finished step before the controller is killed


def _tree_digest(paths):
    sha = hashlib.sha256()
    for top in paths:
        for folder, dirs, files in sorted(os.walk(top)) if os.path.isdir(top) else [(os.path.dirname(top), [],
                                                                                     [os.path.basename(top)])]:
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                sha.update(full.encode() + b"\0")
                try:
                    if os.path.islink(full):
                        sha.update(os.readlink(full).encode())
                    else:
                        with open(full, "rb") as handle:
                            sha.update(hashlib.sha256(handle.read()).digest())
                except OSError as exc:
                    sha.update(str(exc).encode())
    return sha.hexdigest()


def _host(log, optin, base=None):
    host = dict(base or {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"})
    host.update({"diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [log],
                 "ansible_become": False, "hw_monitor_backend_preference": "none", "hw_monitor_install": False})
    if optin:
        host["pteguard_allow_hw_monitor"] = True
    return host


def _cli(env, cwd, *argv, timeout=400):
    return run([tool("pteguard")] + list(argv), env, cwd=str(cwd), timeout=timeout)


def _plan(env, cwd, inventory, output, *extra):
    return _cli(env, cwd, "plan", "-i", inventory, "--report-dir", str(cwd / "reports"), "--work-dir",
                str(cwd / "work"), "--collections-path", COLLECTIONS, "--timeout", "200", "--output", str(output),
                *extra)


def _state(cwd):
    return str(cwd / "state")


def _runs(env, cwd):
    proc = _cli(env, cwd, "runs", "--state-dir", _state(cwd), "--format", "json")
    assert proc.returncode == 0, explain(proc)
    return json.loads(proc.stdout)["runs"] if proc.stdout.startswith("{") else []


def _audit(run_dir):
    with open(os.path.join(run_dir, "audit.jsonl")) as handle:
        return [json.loads(line) for line in handle]


def _fixture_copy(tmp_path, name):
    path = tmp_path / name
    shutil.copyfile(os.path.join(FIXTURE_LOGS, name), path)
    return str(path)


@pytest.fixture()
def watched():
    before = _tree_digest(WATCHED)
    yield
    assert _tree_digest(WATCHED) == before, "a host file hw_monitor could write changed"


def test_plan_then_apply_without_opt_ins_changes_nothing_and_names_the_opt_ins(ansible_env, sshd, tmp_path, watched):
    logs = [_fixture_copy(tmp_path, MEMORY_LOG), _fixture_copy(tmp_path, CLEAN_LOG)]
    inventory = write_inventory(tmp_path / "inv.yml", {
        "memhost": _host(logs[0], False, ssh_host_vars(sshd)), "cleanhost": _host(logs[1], False)})
    guarded = [inventory] + logs
    before = _tree_digest(guarded)
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)
    plan = json.loads((tmp_path / "plan.json").read_text())
    hosts = {h["host"]: h for h in plan["hosts"]}
    assert [s["step"] for s in hosts["memhost"]["steps"]] == ["memory_test", "hw_monitor"]
    # the memory test reboots into memtest86+: without its own opt-in the plan skips it
    assert hosts["memhost"]["steps"][0]["will"] == "skip: missing opt-in memory_test_reboot_ok"
    assert hosts["memhost"]["steps"][1]["will"] == "skip: missing opt-in pteguard_allow_hw_monitor"
    assert hosts["memhost"]["causes"][0]["cause"] == "faulty_memory"
    assert [s["step"] for s in hosts["cleanhost"]["steps"]] == ["hw_monitor"]
    assert len(plan["digest"]) == 64 and sorted(plan["inventory"]["hosts"]) == ["cleanhost", "memhost"]
    assert _tree_digest(guarded) == before

    proc = _cli(ansible_env, tmp_path, "apply", str(tmp_path / "plan.json"), "--approve", "CHG-100", "--state-dir",
                _state(tmp_path))
    assert proc.returncode == 4, explain(proc)  # incomplete: steps skipped
    assert "note: memhost: hw_monitor skipped: missing opt-in pteguard_allow_hw_monitor" in proc.stdout
    assert "note: cleanhost: hw_monitor skipped: missing opt-in pteguard_allow_hw_monitor" in proc.stdout
    assert "note: memhost: memory_test skipped: missing opt-in memory_test_reboot_ok" in proc.stdout
    (record,) = _runs(ansible_env, tmp_path)
    assert record["change_id"] == "CHG-100" and record["status"] == "finished"
    entries = _audit(record["run_dir"])
    assert not [e for e in entries if e["action"] == "start"], entries  # nothing ran on any host
    assert {(e["host"], e["step"]) for e in entries if e["action"] == "skip"} == {
        ("memhost", "memory_test"), ("memhost", "hw_monitor"), ("cleanhost", "hw_monitor")}
    assert all(e["change_id"] == "CHG-100" and e["who"] for e in entries)
    assert _tree_digest(guarded) == before


def test_killed_controller_resumes_without_repeating_finished_steps(ansible_env, sshd, tmp_path, watched):
    log = _fixture_copy(tmp_path, CLEAN_LOG)
    inventory = write_inventory(tmp_path / "inv.yml", {
        "canary": _host(log, True, ssh_host_vars(sshd)), "second": _host(log, True), "third": _host(log, True)})
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)
    argv = [tool("pteguard"), "apply", str(tmp_path / "plan.json"), "--approve", "CHG-7", "--serial", "1",
            "--state-dir", _state(tmp_path)]
    with open(tmp_path / "apply.out", "w") as out:
        apply = subprocess.Popen(argv, env=ansible_env, cwd=str(tmp_path), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + KILL_DEADLINE
        run_dir = None
        while time.monotonic() < deadline and apply.poll() is None:
            dirs = [d for d in (tmp_path / "state").glob("2*") if (d / "audit.jsonl").exists()] \
                if (tmp_path / "state").is_dir() else []
            if dirs and any(e["action"] == "finish" for e in _audit(str(dirs[0]))):
                run_dir = str(dirs[0])
                break
            time.sleep(0.2)
        assert run_dir and apply.poll() is None, "no step finished before the deadline: %s" % (
            (tmp_path / "apply.out").read_text())
        apply.send_signal(signal.SIGKILL)
    finally:
        if apply.poll() is None:
            apply.kill()
        apply.wait(timeout=30)
    run_id = os.path.basename(run_dir)
    (record,) = _runs(ansible_env, tmp_path)
    assert record["status"] == "running"  # what the killed controller left
    finished_before = [(e["host"], e["step"]) for e in _audit(run_dir) if e["action"] == "finish"]

    proc = _cli(ansible_env, tmp_path, "resume", run_id, "--state-dir", _state(tmp_path))
    assert proc.returncode == 0, explain(proc)
    entries = _audit(run_dir)
    finished = [(e["host"], e["step"]) for e in entries if e["action"] == "finish"]
    assert sorted(finished) == [("canary", "hw_monitor"), ("second", "hw_monitor"), ("third", "hw_monitor")]
    assert finished[:len(finished_before)] == finished_before  # nothing finished twice
    assert [e for e in entries if e["action"] == "resume"]
    assert not run_processes_left(("PTEGUARD_RUN=%s" % run_id).encode())
    (record,) = _runs(ansible_env, tmp_path)
    assert record["status"] == "finished" and record["hosts"] == {"monitoring": 3}

    lines = len(entries)
    proc = _cli(ansible_env, tmp_path, "resume", run_id, "--state-dir", _state(tmp_path))
    assert proc.returncode == 0 and "nothing to do" in proc.stdout, explain(proc)
    assert len(_audit(run_dir)) == lines
    assert _runs(ansible_env, tmp_path) == [record]


def _one_line_refusal(proc, command, text):
    assert proc.returncode == 2, explain(proc)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pteguard %s: " % command) and text in lines[0], explain(proc)
    assert "Traceback" not in proc.stderr


def test_bad_input_is_refused_in_one_line_and_nothing_runs(ansible_env, tmp_path, watched):
    log = _fixture_copy(tmp_path, MEMORY_LOG)
    inventory = write_inventory(tmp_path / "inv.yml", {"memhost": _host(log, True)})
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)
    diagnoses = sorted(os.listdir(tmp_path / "work"))

    def apply(*extra, plan=tmp_path / "plan.json"):
        return _cli(ansible_env, tmp_path, "apply", str(plan), "--state-dir", _state(tmp_path), *extra)

    edited = json.loads((tmp_path / "plan.json").read_text())
    assert edited["hosts"][0]["steps"][0]["will"] == "skip: missing opt-in memory_test_reboot_ok"
    edited["hosts"][0]["steps"][0]["will"] = "run"
    (tmp_path / "edited.json").write_text(json.dumps(edited))
    _one_line_refusal(apply("--approve", "CHG-1", plan=tmp_path / "edited.json"), "apply", "changed after it was made")

    other = write_inventory(tmp_path / "other.yml", {"memhost": _host(log, True)})
    _one_line_refusal(apply("--approve", "CHG-1", "-i", other), "apply", "the plan is for inventory")

    for change_id in ("CHG-1;reboot", "$(reboot)", "CHG 1"):
        _one_line_refusal(apply("--approve", change_id), "apply", "change ID")
    for window in ("22-04", "Someday 01:00-02:00", "25:00-26:00", "22:00-04:00 Mars/Olympus_Mons"):
        _one_line_refusal(apply("--approve", "CHG-1", "--window", window), "apply", "maintenance window")
    _one_line_refusal(_plan(ansible_env, tmp_path, inventory, tmp_path / "p2.json", "--steps", "memtest"),
                      "plan", "unknown step 'memtest'")
    assert not (tmp_path / "p2.json").exists()
    assert sorted(os.listdir(tmp_path / "work")) == diagnoses  # no diagnosis, no playbook ran
    assert not (tmp_path / "state").exists() or _runs(ansible_env, tmp_path) == []

    # the evidence changed since the plan: a new finding in the host's log (re-diagnosed read-only, then refused)
    with open(log, "a") as handle, open(os.path.join(FIXTURE_LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")) as extra:
        handle.write(extra.read())
    proc = apply("--approve", "CHG-1")
    assert proc.returncode == 2, explain(proc)
    assert "refused: the evidence changed since the plan was made: memhost: " in proc.stderr, explain(proc)
    assert "kernel_log findings changed (2 then," in proc.stderr
    assert not (tmp_path / "state").exists() or _runs(ansible_env, tmp_path) == []


def test_failed_canary_stops_the_wave_and_leaves_a_script_that_reproduces_it(ansible_env, tmp_path, watched):
    log = _fixture_copy(tmp_path, CLEAN_LOG)
    bad = _host(log, True)
    # the role refuses this value before writing anything (rasdaemon's file is sourced by a shell)
    bad["hw_monitor_page_ce_threshold"] = "5$(id)"
    inventory = write_inventory(tmp_path / "inv.yml", {"a-canary": bad, "b-rest": _host(log, True)})
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)
    proc = _cli(ansible_env, tmp_path, "apply", str(tmp_path / "plan.json"), "--approve", "CHG-2", "--state-dir",
                _state(tmp_path))
    assert proc.returncode == 2, explain(proc)
    (record,) = _runs(ansible_env, tmp_path)
    assert record["status"] == "stopped" and record["hosts"] == {"failed": 1, "stopped": 1}
    entries = _audit(record["run_dir"])
    assert [(e["host"], e["result"]) for e in entries if e["action"] == "finish"] == [("a-canary", "failed")]
    assert not [e for e in entries if e["action"] == "start" and e["host"] == "b-rest"]
    script = os.path.join(record["run_dir"], "reproduce", "a-canary-hw_monitor.sh")
    assert os.access(script, os.X_OK)
    again = run(["/bin/sh", script], ansible_env, cwd=str(tmp_path))
    assert again.returncode == 2, explain(again)
    assert "hw_monitor_page_ce_threshold must be empty or one number" in again.stdout, explain(again)
