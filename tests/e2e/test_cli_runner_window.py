"""The maintenance window through the real CLI (real ansible-runner on localhost and the loopback sshd): a step that
reboots, writes or loads never starts outside the window, a read-only step does, and a step already running when the
window closes finishes (the next disruptive one waits).

The window is wall-clock UTC, as in production; no clock is faked. To hold a step across the end of the window, the
test stops the step's ansible-playbook processes (SIGSTOP) once the step has started, waits past the window's end and
lets them go on (SIGCONT). hw_monitor probes and changes nothing here (hw_monitor_install false, backend none).
"""

from __future__ import annotations

import datetime
import json
import os
import signal
import subprocess
import time

from e2e_support import explain, run_processes_left, ssh_host_vars, tool, write_inventory
from test_cli_runner import CLEAN_LOG, _audit, _cli, _fixture_copy, _host, _plan, _runs, _state
# the fixture that checks nothing hw_monitor could write changed (pytest finds it by this name)
from test_cli_runner import watched  # noqa: F401 # pylint: disable=unused-import

OOPS_LOG = "kernel_oops-null_deref-dmesgT-5.10-i40e.log"
STEP_START_DEADLINE = 240  # seconds for apply to re-diagnose and start the canary's step
WINDOW_LEAD = 100  # seconds at least between making the window and its end


def _hhmm(moment):
    return moment.strftime("%H:%M")


def test_nothing_disruptive_starts_outside_the_window_but_a_read_only_step_does(ansible_env, sshd, tmp_path, watched):
    logs = [_fixture_copy(tmp_path, CLEAN_LOG), _fixture_copy(tmp_path, OOPS_LOG)]
    inventory = write_inventory(tmp_path / "inv.yml", {
        "monhost": _host(logs[0], True, ssh_host_vars(sshd)), "oopshost": _host(logs[1], False)})
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)
    plan = {h["host"]: h for h in json.loads((tmp_path / "plan.json").read_text())["hosts"]}
    assert [s["step"] for s in plan["oopshost"]["steps"]][:1] == ["debug"]
    now = datetime.datetime.now(datetime.timezone.utc)
    # a window that opens in two hours and lasts one: closed now
    closed = "%s-%s" % (_hhmm(now + datetime.timedelta(hours=2)), _hhmm(now + datetime.timedelta(hours=3)))
    proc = _cli(ansible_env, tmp_path, "apply", str(tmp_path / "plan.json"), "--approve", "CHG-W1", "--window", closed,
                "--state-dir", _state(tmp_path))
    assert proc.returncode == 4, explain(proc)  # incomplete: a host waits for the window
    (record,) = _runs(ansible_env, tmp_path)
    assert record["status"] == "waiting_for_window" and record["hosts"] == {"waiting_for_window": 1, "skipped": 1}
    entries = _audit(record["run_dir"])
    started = [(e["host"], e["step"]) for e in entries if e["action"] == "start"]
    assert started == [("oopshost", "debug")]  # read-only: the window does not hold it
    waits = [(e["host"], e["step"], e["message"]) for e in entries if e["action"] == "wait"]
    assert waits == [("monhost", "hw_monitor", "maintenance window %s is closed" % closed)]


def _window_closing_soon():
    """(window text, its end as a datetime): open since an hour ago, ending on a minute boundary >= WINDOW_LEAD s
    from now."""
    now = datetime.datetime.now(datetime.timezone.utc)
    end = (now + datetime.timedelta(seconds=WINDOW_LEAD + 60)).replace(second=0, microsecond=0)
    return "%s-%s" % (_hhmm(now - datetime.timedelta(hours=1)), _hhmm(end)), end


def _signal_playbooks(run_id, sig):
    pids = run_processes_left(("PTEGUARD_RUN=%s" % run_id).encode())
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                if b"ansible-playbook" in handle.read():
                    os.kill(pid, sig)
        except (OSError, ProcessLookupError):
            continue
    return pids


def test_a_step_running_when_the_window_closes_finishes_and_the_next_waits(ansible_env, sshd, tmp_path, watched):
    log = _fixture_copy(tmp_path, CLEAN_LOG)
    inventory = write_inventory(tmp_path / "inv.yml", {
        "canary": _host(log, True, ssh_host_vars(sshd)), "second": _host(log, True)})
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)
    window, end = _window_closing_soon()
    argv = [tool("pteguard"), "apply", str(tmp_path / "plan.json"), "--approve", "CHG-W2", "--window", window,
            "--serial", "1", "--state-dir", _state(tmp_path)]
    with open(tmp_path / "apply.out", "w") as out:
        apply = subprocess.Popen(argv, env=ansible_env, cwd=str(tmp_path), stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL)
    run_id = None
    try:
        deadline = time.monotonic() + STEP_START_DEADLINE
        while time.monotonic() < deadline and apply.poll() is None and run_id is None:
            for folder in (tmp_path / "state").glob("2*") if (tmp_path / "state").is_dir() else []:
                if (folder / "audit.jsonl").exists() and any(
                        e["action"] == "start" for e in _audit(str(folder))):
                    run_id = folder.name
            time.sleep(0.05)
        assert run_id, "the canary's step did not start: %s" % (tmp_path / "apply.out").read_text()
        # hold the running step until the window has closed
        while not _signal_playbooks(run_id, signal.SIGSTOP) and apply.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        started_inside = datetime.datetime.now(datetime.timezone.utc) < end
        wait = (end - datetime.datetime.now(datetime.timezone.utc)).total_seconds() + 2
        time.sleep(max(0, min(wait, WINDOW_LEAD + 90)))
        _signal_playbooks(run_id, signal.SIGCONT)
        apply.wait(timeout=300)
    finally:
        if run_id:
            _signal_playbooks(run_id, signal.SIGCONT)
        if apply.poll() is None:
            apply.kill()
            apply.wait(timeout=30)
    assert started_inside, "the step started after the window %s (a slow machine): %s" % (window, end)
    assert apply.returncode == 4, (tmp_path / "apply.out").read_text()
    (record,) = _runs(ansible_env, tmp_path)
    assert record["status"] == "waiting_for_window"
    assert record["hosts"] == {"monitoring": 1, "waiting_for_window": 1}
    entries = _audit(record["run_dir"])
    finished = [e for e in entries if e["action"] == "finish"]
    assert [(e["host"], e["step"], e["result"]) for e in finished] == [("canary", "hw_monitor", "ok")]
    assert finished[0]["time"] >= end.strftime("%Y-%m-%dT%H:%M:%S")  # it finished after the window closed
    assert not [e for e in entries if e["action"] == "start" and e["host"] == "second"]
    assert [(e["host"], e["action"]) for e in entries if e["host"] == "second"] == [("second", "wait")]
