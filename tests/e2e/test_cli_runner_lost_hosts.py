"""A host that goes down in the middle of its step and never comes back, and a host that cannot be reached, in one
apply through the real CLI (real ansible-runner, real sshds on loopback, host keys checked).

Each of the two has its own sshd (same keys as the session's, its own port). After the re-diagnosis, while the canary
runs, the "gone" host's sshd is killed (sshd and its sessions): its step cannot reach it. The "lost" host's sshd is
killed once that host has answered a task of its step: from the controller this is what a host that reboots and never
returns looks like (a loopback stand-in for a VM stopped during its reboot). The wave of the two stops at
--max-fail-percentage, its third host finishes, the last wave never starts, and the exit code says a host failed.
hw_monitor probes and changes nothing here (hw_monitor_install false, backend none).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import time

from pteguard import step_results

from e2e_support import _stop, explain, os_user, ssh_host_vars, start_sshd, tool, write_inventory
from test_cli_runner import CLEAN_LOG, _audit, _fixture_copy, _host, _plan, _runs, _state
# the fixture that checks nothing hw_monitor could write changed (pytest finds it by this name)
from test_cli_runner import watched  # noqa: F401 # pylint: disable=unused-import

DEADLINE = 400  # seconds for the whole apply


def _own_sshd(sshd, tmp_path, name):
    base = tmp_path / name
    base.mkdir()
    os.chmod(base, 0o700)
    host_key = sshd["dir"] / "ssh_host_ed25519_key"
    proc, port, _log = start_sshd(base, host_key, sshd["dir"] / "authorized_keys", os_user())
    known = base / "known_hosts"
    pub = (sshd["dir"] / "ssh_host_ed25519_key.pub").read_text().split()
    known.write_text("[127.0.0.1]:%d %s %s\n" % (port, pub[0], pub[1]))
    return proc, ssh_host_vars(sshd, port=port, known_hosts=str(known))


def _kill(proc):
    """sshd and every session it forked (its own process group): the host is gone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)


def _answered(run_dir, host):
    """True once `host` ran a task of a step on itself (ansible-runner's event files of the run)."""
    for path in glob.glob(os.path.join(run_dir, "steps", "*", "artifacts", "*", "job_events", "*.json")):
        try:
            with open(path) as handle:
                event = json.load(handle)
        except (OSError, ValueError):
            continue  # being written
        if step_results.answered(event) and event["event_data"]["host"] == host:
            return True
    return False


def test_a_lost_and_an_unreachable_host_stop_their_wave_and_the_exit_code_says_so(ansible_env, sshd, tmp_path,
                                                                                  watched):
    log = _fixture_copy(tmp_path, CLEAN_LOG)
    lost_sshd, lost_vars = _own_sshd(sshd, tmp_path, "lost")
    gone_sshd, gone_vars = _own_sshd(sshd, tmp_path, "gone")
    try:
        inventory = write_inventory(tmp_path / "inv.yml", {
            "a-canary": _host(log, True), "b-lost": _host(log, True, lost_vars), "c-gone": _host(log, True, gone_vars),
            "d-rest": _host(log, True), "e-late": _host(log, True)})
        proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
        assert proc.returncode == 0, explain(proc)
        argv = [tool("pteguard"), "apply", str(tmp_path / "plan.json"), "--approve", "CHG-L1", "--serial", "1,3,100%",
                "--max-fail-percentage", "50", "--state-dir", _state(tmp_path)]
        with open(tmp_path / "apply.out", "w") as out:
            apply = subprocess.Popen(argv, env=ansible_env, cwd=str(tmp_path), stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + DEADLINE
            run_dir = None
            while apply.poll() is None and time.monotonic() < deadline:
                dirs = glob.glob(str(tmp_path / "state" / "2*" / "audit.jsonl"))
                run_dir = os.path.dirname(dirs[0]) if dirs else None
                started = {e["host"] for e in _audit(run_dir) if e["action"] == "start"} if run_dir else set()
                if "a-canary" in started and gone_sshd.poll() is None:
                    _kill(gone_sshd)
                if "b-lost" in started and lost_sshd.poll() is None and _answered(run_dir, "b-lost"):
                    _kill(lost_sshd)
                time.sleep(0.05)
            apply.wait(timeout=max(1, deadline - time.monotonic()))
        finally:
            if apply.poll() is None:
                apply.kill()
                apply.wait(timeout=30)
    finally:
        _stop(lost_sshd)
        _stop(gone_sshd)
    output = (tmp_path / "apply.out").read_text()
    assert apply.returncode == 2, output  # a host failed
    (record,) = _runs(ansible_env, tmp_path)
    assert record["status"] == "stopped", record
    assert record["hosts"] == {"monitoring": 2, "lost": 1, "unreachable": 1, "stopped": 1}, output
    rows = {line.split()[0]: " ".join(line.split()) for line in output.splitlines() if line.strip()}
    assert rows["b-lost"].startswith("b-lost lost hw_monitor failed hw_monitor: stopped answering during the step")
    assert rows["c-gone"].startswith("c-gone unreachable hw_monitor failed")
    assert rows["e-late"].startswith("e-late stopped hw_monitor pending")
    entries = _audit(run_dir)
    finished = sorted((e["host"], e["result"]) for e in entries if e["action"] == "finish")
    assert finished == [("a-canary", "ok"), ("b-lost", "lost"), ("c-gone", "unreachable"), ("d-rest", "ok")]
    (stop,) = [e for e in entries if e["action"] == "wave_stopped"]
    assert stop["message"] == "wave 2: 2 of 3 hosts failed (b-lost, c-gone)"
    assert not [e for e in entries if e["action"] == "start" and e["host"] == "e-late"]
    for host in ("b-lost", "c-gone"):
        assert os.access(os.path.join(run_dir, "reproduce", "%s-hw_monitor.sh" % host), os.X_OK)
