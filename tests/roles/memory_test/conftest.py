"""Fixtures for the memory_test role tests: real ansible-playbook runs against the lab's Debian 12 nspawn containers.

The container plumbing (booting a container, its inventory, running ansible-playbook with the JSON callback) is every
role test's own (tests/roles/conftest.py, tests/roles/role_play.py). The containers share the host's kernel:
memtester really runs there (on the host's RAM, bounded small), but GRUB can only be exercised on files
(grub-editenv/grub-reboot on /boot/grub/grubenv); booting memtest86+ is the VM tier's job (tests/lab).
"""

from __future__ import annotations

import json
import subprocess

import pytest
from role_play import PLAYBOOK_TIMEOUT, REPO, VENV_BIN, PlayResult

PLAYBOOK = REPO / "playbooks" / "memory_test.yml"
# A grub.cfg that update-grub wrote in the lab's GRUB guest (lab/grub-image.sh records it); a container cannot run
# update-grub itself (grub-probe finds no device under its overlay root).
GRUB_CFG = REPO / "tests" / "fixtures" / "memory_test" / "grub.cfg-lab-grub-guest"


@pytest.fixture
def role_playbook():
    return PLAYBOOK


class MemoryTestResult(PlayResult):
    def result(self) -> dict:
        """The memory_test_result fact."""
        return self.fact("memory_test_result")


@pytest.fixture
def play_class():
    return MemoryTestResult


@pytest.fixture
def grub_host(lab_host):
    """A container whose /boot/grub holds the grub.cfg the lab's GRUB guest got from update-grub, and no grubenv."""
    lab_host.sh("mkdir -p /boot/grub && rm -f /boot/grub/grubenv")
    cfg = GRUB_CFG.read_text()
    proc = subprocess.run(lab_host.ct.ssh_argv("cat > /boot/grub/grub.cfg"), input=cfg, text=True,
                          capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    return lab_host


class FleetResult(MemoryTestResult):
    """One run over several inventory names for the same container: per-host results and failures."""

    def host_tasks(self, name: str) -> list[dict]:
        out = []
        for play in (self.data or {}).get("plays", []):
            for task in play.get("tasks", []):
                res = task.get("hosts", {}).get(name)
                if res is not None:
                    out.append(dict(res, task=task["task"]["name"]))
        return out

    def host_fact(self, name: str, fact: str):
        value = None
        for res in self.host_tasks(name):
            value = (res.get("ansible_facts") or {}).get(fact, value)
        return value

    def host_failures(self, name: str) -> list[str]:
        return [res.get("msg", "") for res in self.host_tasks(name) if res.get("failed") and not res.get("skipped")]

    def host_stats(self, name: str) -> dict:
        return (self.data or {}).get("stats", {}).get(name, {})


@pytest.fixture
def run_fleet(ansible_env):
    """ansible-playbook memory_test.yml over several inventory names for one container, each with its own vars."""
    def _run(host, hosts: dict[str, dict], check: bool = False) -> FleetResult:
        base = json.loads(host.inventory.read_text())["all"]["hosts"]["labct"]
        inventory = host.workdir / "fleet-inventory.json"
        inventory.write_text(json.dumps({"all": {"hosts": {name: dict(base, **hv) for name, hv in hosts.items()}}}))
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)]
        if check:
            argv.append("--check")
        proc = subprocess.run(argv, env=ansible_env, cwd=str(REPO), capture_output=True, text=True,
                              timeout=PLAYBOOK_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        return FleetResult(proc, 0.0)

    return _run
