"""What every role test shares: a booted lab container as an Ansible host, and one ansible-playbook run's result.

The fixtures that boot containers and run playbooks are in tests/roles/conftest.py; each role's folder names its
playbook (fixture `role_playbook`) and, when it reads more of a run, its result class (fixture `play_class`).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"
PLAYBOOK_TIMEOUT = 300.0
TIMINGS: dict[str, list[float]] = {}


def record(key: str, seconds: float) -> None:
    TIMINGS.setdefault(key, []).append(seconds)


class Host:
    """A booted container plus what ansible-playbook and testinfra need to reach it."""

    def __init__(self, ct, image, workdir: Path):
        self.ct = ct
        self.image = image
        self.workdir = workdir
        self.inventory = workdir / "inventory.yml"
        self.ssh_config = workdir / "ssh_config"
        ssh_opts = [
            "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=%s" % image.known_hosts,
            "-o", "HostKeyAlias=pteguard-lab", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10",
        ]
        self.inventory.write_text(json.dumps({"all": {"hosts": {"labct": {
            "ansible_host": ct.address,
            "ansible_port": ct.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(image.ssh_key),
            "ansible_ssh_common_args": " ".join(ssh_opts),
            "ansible_python_interpreter": "/usr/bin/python3",
        }}}}, indent=1))
        self.ssh_config.write_text(
            "Host labct\n  HostName %s\n  Port %d\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n"
            "  UserKnownHostsFile %s\n  HostKeyAlias pteguard-lab\n  StrictHostKeyChecking yes\n"
            "  ConnectTimeout 10\n" % (ct.address, ct.port, image.ssh_key, image.known_hosts))
        self._testinfra = None

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.ct.ssh(command, timeout=60, check=check)

    @property
    def testinfra(self):
        if self._testinfra is None:
            import testinfra

            self._testinfra = testinfra.get_host("ssh://labct", ssh_config=str(self.ssh_config))
        return self._testinfra


class PlayResult:
    """One ansible-playbook run on host `labct`, read from the hwm_json callback's document."""

    def __init__(self, proc: subprocess.CompletedProcess, seconds: float):
        self.proc = proc
        self.seconds = seconds
        try:
            self.data = json.loads(proc.stdout)
        except ValueError:
            self.data = None

    def explain(self) -> str:
        return "rc=%s\nstdout (tail):\n%s\nstderr (tail):\n%s" % (
            self.proc.returncode, self.proc.stdout[-6000:], self.proc.stderr[-3000:])

    @property
    def stats(self) -> dict:
        return (self.data or {}).get("stats", {}).get("labct", {})

    def task_results(self) -> dict:
        """Task name -> the host's result (last one when a name repeats)."""
        out = {}
        for play in (self.data or {}).get("plays", []):
            for task in play.get("tasks", []):
                res = task.get("hosts", {}).get("labct")
                if res is not None:
                    out[task["task"]["name"]] = res
        return out

    def changed_tasks(self) -> list[str]:
        return [name for name, res in self.task_results().items() if res.get("changed")]

    def fact(self, name: str):
        """A fact as the last task that set it left it (None when none did)."""
        value = None
        for res in self.task_results().values():
            facts = res.get("ansible_facts") or {}
            if name in facts:
                value = facts[name]
        return value

    def failure_messages(self) -> list[str]:
        return [res.get("msg", "") for res in self.task_results().values() if res.get("failed")]

    def messages(self) -> list[str]:
        return [res["msg"] for res in self.task_results().values() if isinstance(res.get("msg"), str)]


def run_playbook(env: dict, inventory: Path, playbook: Path, check: bool = False, extra_vars: dict | None = None,
                 label: str = "playbook run") -> tuple[subprocess.CompletedProcess, float]:
    """ansible-playbook, bounded by PLAYBOOK_TIMEOUT (a test failure, not a hang): (process, seconds)."""
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(playbook)]
    if check:
        argv.append("--check")
    if extra_vars:
        argv += ["--extra-vars", json.dumps(extra_vars)]
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, env=env, cwd=str(REPO), capture_output=True, text=True,
                              timeout=PLAYBOOK_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        pytest.fail("ansible-playbook timed out after %ss: %s" % (PLAYBOOK_TIMEOUT, exc))
    seconds = time.monotonic() - started
    record(label, seconds)
    return proc, seconds
