"""Interactive approval through a real pseudo-terminal: `pteguard apply PLAN` without --approve shows the plan, asks
for the change ID on the terminal, and runs only when one is typed (it is recorded); an empty answer or a change ID
with shell metacharacters runs nothing. Real ansible-runner against localhost; hw_monitor probes and changes nothing
(hw_monitor_install false, backend none)."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import time

from e2e_support import explain, tool, write_inventory
from test_cli_runner import CLEAN_LOG, _audit, _fixture_copy, _host, _plan, _runs, _state
# the fixture that checks nothing hw_monitor could write changed (pytest finds it by this name)
from test_cli_runner import watched  # noqa: F401 # pylint: disable=unused-import

PROMPT = b"Change ID to approve this plan (empty cancels): "
DEADLINE = 300  # seconds for apply to re-diagnose, ask, and finish


def _apply_on_a_terminal(env, cwd, plan, answer):
    """Run apply with its stdin, stdout and stderr on a new pty; type `answer` at the prompt. (rc, screen text)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([tool("pteguard"), "apply", str(plan), "--state-dir", _state(cwd)], env=env,
                            cwd=str(cwd), stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
    os.close(slave)
    screen, answered = b"", False
    deadline = time.monotonic() + DEADLINE
    try:
        while time.monotonic() < deadline:
            ready, _w, _x = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                screen += chunk
            if not answered and screen.endswith(PROMPT):
                os.write(master, answer.encode() + b"\r")
                answered = True
            if proc.poll() is not None and not ready:
                break
        proc.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        os.close(master)
    assert answered, screen.decode(errors="replace")
    # the terminal gets colours and a live progress line: the text without its escape sequences
    return proc.returncode, re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", screen.decode(errors="replace")).replace("\r\n", "\n")


def test_a_change_id_typed_at_the_terminal_approves_and_is_recorded(ansible_env, tmp_path, watched):
    log = _fixture_copy(tmp_path, CLEAN_LOG)
    inventory = write_inventory(tmp_path / "inv.yml", {"monhost": _host(log, True)})
    proc = _plan(ansible_env, tmp_path, inventory, tmp_path / "plan.json")
    assert proc.returncode == 0, explain(proc)

    for answer, message in (("", "pteguard apply: not approved: nothing was run"),
                            ("CHG-1;reboot", "pteguard apply: change ID 'CHG-1;reboot' refused")):
        code, screen = _apply_on_a_terminal(ansible_env, tmp_path, tmp_path / "plan.json", answer)
        assert code == 2 and message in screen, screen
        assert re.search(r"monhost +planned +hw_monitor +run", screen), screen  # the plan, shown before the question
        assert not (tmp_path / "state").exists() or _runs(ansible_env, tmp_path) == []

    code, screen = _apply_on_a_terminal(ansible_env, tmp_path, tmp_path / "plan.json", "CHG-TTY-7")
    assert code == 0, screen
    (record,) = _runs(ansible_env, tmp_path)
    assert record["change_id"] == "CHG-TTY-7" and record["hosts"] == {"monitoring": 1}
    entries = _audit(record["run_dir"])
    assert [(e["action"], e["result"]) for e in entries][:1] == [("approve", "approved")]
    assert [(e["host"], e["step"], e["result"]) for e in entries if e["action"] == "finish"] == [
        ("monhost", "hw_monitor", "ok")]
    assert all(e["change_id"] == "CHG-TTY-7" for e in entries)
