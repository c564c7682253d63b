"""What `pteguard diagnose`, `compliance`, `plan` and `apply` put on a terminal, and what they put anywhere else.

Real runs (ansible-runner) against the loopback sshd host and localhost reading a real kernel log
(tests/fixtures/logs, sources in its README). The terminal is a real pseudo-terminal (os.openpty) with a known
size: live progress and colour must appear there, and never in a pipe; NO_COLOR removes the colour and keeps the
progress; --json leaves only the document on stdout; --quiet leaves stdout empty and the exit code as it was.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import struct
import subprocess
import termios
import time

import yaml

from e2e_support import COLLECTIONS, FIXTURE_LOGS, explain, run, ssh_host_vars, tool, write_inventory
from pteguard import remediation_steps

PTE_LOG = os.path.join(FIXTURE_LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")
DEADLINE = 300  # seconds for one command on the pseudo-terminal
CLEAR_LINE = "\r\x1b[K"  # how the progress line redraws itself
SGR_COLOUR = "\x1b[3"  # the start of a foreground colour (31 red ... 36 cyan)


def _fleet(sshd, tmp_path):
    local = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
             "diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [PTE_LOG]}
    return write_inventory(tmp_path / "fleet.yml", {"ptehost": local, "sshhost": ssh_host_vars(sshd)})


def _argv(command, inventory, cwd, *extra):
    return [tool("pteguard"), command, "-i", inventory, "--report-dir", str(cwd / "reports"), "--work-dir",
            str(cwd / "work"), "--collections-path", COLLECTIONS, "--timeout", "200", *extra]


def _on_terminal(argv, env, cwd, stdout_too=True):
    """Run argv with stderr (and stdout when stdout_too) on a new pseudo-terminal of 160x40.

    Returns (rc, terminal text, stdout text when stdout was a pipe). Bounded by DEADLINE.
    """
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    proc = subprocess.Popen(argv, env=env, cwd=str(cwd), stdin=subprocess.DEVNULL,
                            stdout=slave if stdout_too else subprocess.PIPE, stderr=slave, start_new_session=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + DEADLINE
    piped = b""
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([master], [], [], 1.0)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every holder of the slave side closed it
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            raise AssertionError("%s did not finish within %d s" % (argv, DEADLINE))
        if not stdout_too:
            piped = proc.stdout.read()
        rc = proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.stdout:
            proc.stdout.close()
    return rc, b"".join(chunks).decode("utf-8", "replace"), piped.decode("utf-8", "replace")


def test_terminal_gets_live_progress_and_a_coloured_table(ansible_env, sshd, tmp_path):
    inventory = _fleet(sshd, tmp_path)
    rc, screen, _piped = _on_terminal(_argv("diagnose", inventory, tmp_path), ansible_env, tmp_path)
    # the status line: playbook, hosts done of total, elapsed time; redrawn in place
    assert CLEAR_LINE + "\x1b[2mdiagnose  0/2 hosts  0:0" in screen, screen
    assert "2/2 hosts" in screen or screen.count("  ok ") >= 2, screen
    # each finished host gets its own line, its outcome coloured
    for host in ("ptehost", "sshhost"):
        assert any(host in line and "\x1b[32mok" in line for line in screen.splitlines()), screen
    # the summary table in colour (ok green; the page-table corruption's critical severity red), then the summary
    assert "\x1b[1mHOST" in screen and "\x1b[31mcritical" in screen, screen
    assert "summary: 2 hosts: 2 " in screen and "exit %d" % rc in screen, screen
    assert rc == 1, screen  # a critical finding on ptehost, everything read


def test_no_color_keeps_progress_and_drops_colour(ansible_env, sshd, tmp_path):
    inventory = _fleet(sshd, tmp_path)
    env = dict(ansible_env, NO_COLOR="1")
    rc, screen, _piped = _on_terminal(_argv("diagnose", inventory, tmp_path), env, tmp_path)
    assert CLEAR_LINE + "diagnose  0/2 hosts" in screen, screen
    assert SGR_COLOUR not in screen and "\x1b[1m" not in screen and "\x1b[2m" not in screen, screen
    assert "HOST" in screen and rc == 1, screen


def test_json_on_a_terminal_keeps_stdout_to_the_document(ansible_env, sshd, tmp_path):
    inventory = _fleet(sshd, tmp_path)
    rc, screen, stdout = _on_terminal(_argv("diagnose", inventory, tmp_path, "--json"), ansible_env, tmp_path,
                                      stdout_too=False)
    document = json.loads(stdout)  # the whole of stdout is one JSON document
    assert {row["host"]: row["status"] for row in document["hosts"]} == {"ptehost": "ok", "sshhost": "ok"}
    assert "\x1b" not in stdout
    assert CLEAR_LINE in screen and "HOST" not in screen, screen  # progress on the terminal, no table there
    assert rc == 1


def test_quiet_on_a_terminal_prints_nothing_but_keeps_the_exit_code(ansible_env, sshd, tmp_path):
    inventory = _fleet(sshd, tmp_path)
    rc, screen, _piped = _on_terminal(_argv("diagnose", inventory, tmp_path, "--quiet"), ansible_env, tmp_path)
    assert screen.strip() == "", screen
    assert rc == 1


def test_without_a_terminal_no_escape_codes_and_no_progress(ansible_env, sshd, tmp_path):
    inventory = _fleet(sshd, tmp_path)
    proc = run(_argv("diagnose", inventory, tmp_path), ansible_env, cwd=str(tmp_path))
    assert proc.returncode == 1, explain(proc)
    assert "\x1b" not in proc.stdout and "\x1b" not in proc.stderr and "\r" not in proc.stderr, explain(proc)
    assert "hosts  0:0" not in proc.stderr, explain(proc)
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:2] == ["HOST", "STATUS"] and "summary: 2 hosts: 2 ok; exit 1 (findings)" in lines
    quiet = run(_argv("diagnose", inventory, tmp_path, "-q"), ansible_env, cwd=str(tmp_path))
    assert quiet.returncode == proc.returncode and quiet.stdout == "" and quiet.stderr == "", explain(quiet)


def test_compliance_and_plan_on_a_terminal(ansible_env, sshd, tmp_path):
    inventory = _fleet(sshd, tmp_path)
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"version": 1, "checks": {"no_new_events": {}}}))
    argv = _argv("compliance", inventory, tmp_path, "--policy", str(policy), "--baseline-dir",
                 str(tmp_path / "baseline"))
    rc, screen, _piped = _on_terminal(argv, ansible_env, tmp_path)
    assert CLEAR_LINE + "\x1b[2mdiagnose  0/2 hosts" in screen, screen
    assert "\x1b[31mfail" in screen and "\x1b[32mpass" in screen, screen  # ptehost fails, sshhost passes
    assert "compliance: \x1b[31mfail" in screen and rc == 1, screen

    plan = tmp_path / "plan.json"
    proc = run(_argv("plan", inventory, tmp_path, "--output", str(plan), "--json"), ansible_env, cwd=str(tmp_path))
    assert proc.returncode in (0, 4), explain(proc)
    printed = json.loads(proc.stdout)
    assert printed == json.loads(plan.read_text()), "plan --json prints the plan it wrote"
    assert "\x1b" not in proc.stdout + proc.stderr


def test_remediate_and_resume_json_and_quiet(ansible_env, tmp_path):
    """remediate --json: only the run's document on stdout; resume of the finished run --json: the same hosts;
    -q: nothing. The host has no opt-in, so no step that could change it runs (the plan skips them)."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [PTE_LOG],
            "hw_monitor_backend_preference": "none", "hw_monitor_install": False}
    inventory = write_inventory(tmp_path / "one.yml", {"ptehost": host})
    state = str(tmp_path / "state")
    proc = run(_argv("remediate", inventory, tmp_path, "--approve", "CHG-1", "--state-dir", state, "--json"),
               ansible_env, cwd=str(tmp_path), timeout=400)
    document = json.loads(proc.stdout)
    assert [h["host"] for h in document["hosts"]] == ["ptehost"] and document["exit_code"] == proc.returncode
    ran = [s["step"] for s in document["hosts"][0]["steps"] if s["status"] != "skipped"]
    # only steps that need no opt-in (read-only) ran; every step that could change the host lacks its opt-in
    assert ran and not any(remediation_steps.BY_NAME[name].opt_ins for name in ran), document
    assert "\x1b" not in proc.stdout + proc.stderr
    resume = run([tool("pteguard"), "resume", document["run"], "--state-dir", state, "--json"], ansible_env,
                 cwd=str(tmp_path))
    again = json.loads(resume.stdout)
    assert again["hosts"] == document["hosts"] and resume.returncode == proc.returncode, explain(resume)
    quiet = run([tool("pteguard"), "resume", document["run"], "--state-dir", state, "-q"], ansible_env,
                cwd=str(tmp_path))
    assert quiet.stdout == "" and quiet.returncode == proc.returncode, explain(quiet)
