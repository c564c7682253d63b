"""One hung host never loses the run: per-host bounds, the overall --timeout and SIGTERM, and no process left.

Two real ways to hang: a TCP listener on loopback that sends an SSH banner and then says nothing (key exchange
never starts), and a host whose module never returns (its interpreter is a script that sleeps).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time

import pytest

from e2e_support import (
    LOCAL_INVENTORY, diagnose_cli, explain, json_rows, run_processes_left, ssh_host_vars, tool, write_inventory,
)

WAIT = 120  # seconds, longest wait for a process to appear or exit


@pytest.fixture
def stalled_listener():
    """127.0.0.1:<port>: accepts, sends an SSH banner, then stalls until the test ends."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.5)
    stop = threading.Event()
    held = []

    def serve():
        while not stop.is_set():
            try:
                conn, _addr = server.accept()
            except OSError:
                continue
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


@pytest.fixture
def hang_script(tmp_path):
    """An 'interpreter' that never returns: a module run through it hangs."""
    path = tmp_path / "hang-interpreter"
    path.write_text("#!/bin/sh\nexec sleep 3600\n")
    path.chmod(0o755)
    return path


def _hung_inventory(tmp_path, sshd, hang_script, stalled_port=None):
    hosts = {"hung": {"ansible_connection": "local", "ansible_python_interpreter": str(hang_script)}}
    if stalled_port:
        hosts["stalled"] = ssh_host_vars(sshd, port=stalled_port)
    return write_inventory(tmp_path / "hung.yml", hosts)


def _no_leftovers(run, tmp_path):
    left = run_processes_left(("PTEGUARD_RUN=%s" % run["id"]).encode(), str(tmp_path).encode())
    assert left == [], "processes of the run still alive: %s" % _describe(left)


def _describe(pids):
    out = []
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as handle:
                out.append("%d %s" % (pid, handle.read().replace(b"\0", b" ").decode(errors="replace")))
        except OSError:
            pass
    return out


def test_hung_hosts_marked_timeout_others_reported(ansible_env, ssh_inventory, sshd, hang_script, stalled_listener,
                                                   tmp_path):
    inventory = _hung_inventory(tmp_path, sshd, hang_script, stalled_listener)
    proc = diagnose_cli(ansible_env, tmp_path, [LOCAL_INVENTORY, ssh_inventory, inventory], "--format", "json",
                        "--connect-timeout", "5", "--host-timeout", "60")
    run, rows = json_rows(proc)
    assert proc.returncode == 5, explain(proc)
    for host in ("hung", "stalled"):
        assert rows[host]["status"] == "timeout", rows[host]
        assert "summary" not in rows[host]
    for host in ("localhost", "sshhost"):
        assert rows[host]["status"] == "ok", rows[host]
        assert isinstance(rows[host]["summary"]["findings"], int)
        assert run["reports"][host] == "%s.json" % host
    _no_leftovers(run, tmp_path)


def test_overall_timeout_keeps_finished_hosts(ansible_env, hang_script, sshd, tmp_path):
    inventory = _hung_inventory(tmp_path, sshd, hang_script)
    argv_extra = ("--format", "json", "--host-timeout", "3000")
    proc = diagnose_cli(ansible_env, tmp_path, [LOCAL_INVENTORY, inventory], *argv_extra, "--timeout", "60")
    run, rows = json_rows(proc)
    assert proc.returncode == 5, explain(proc)
    assert run["status"] == "timeout"
    assert rows["hung"]["status"] == "timeout", rows
    assert rows["localhost"]["status"] == "ok", rows
    assert run["reports"]["localhost"] == "localhost.json"
    _no_leftovers(run, tmp_path)


def test_sigterm_stops_every_process_of_the_run(ansible_env, hang_script, sshd, tmp_path):
    inventory = _hung_inventory(tmp_path, sshd, hang_script)
    argv = [tool("pteguard"), "diagnose", "-i", inventory, "--format", "json", "--report-dir",
            str(tmp_path / "reports"), "--work-dir", str(tmp_path / "work"), "--host-timeout", "3000"]
    proc = subprocess.Popen(argv, env=ansible_env, cwd=str(tmp_path), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + WAIT
        while not run_processes_left(str(hang_script).encode()) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate(timeout=30)
            time.sleep(0.2)
        assert run_processes_left(str(hang_script).encode()), "the hung module never started"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    run, rows = json_rows(subprocess.CompletedProcess(argv, proc.returncode, out, err))
    assert rows["hung"]["status"] == "interrupted", rows
    assert run["stopped_processes"] >= 1
    _no_leftovers(run, tmp_path)
