"""Fixtures for the memory_test role tests: real ansible-playbook runs against the lab's Debian 12 nspawn containers.

The container plumbing (booting a container, its inventory, running ansible-playbook with the JSON callback) is the
hw_monitor role tests' own, loaded from their conftest rather than copied. The containers share the host's kernel:
memtester really runs there (on the host's RAM, bounded small), but GRUB can only be exercised on files
(grub-editenv/grub-reboot on /boot/grub/grubenv); booting memtest86+ is the VM tier's job (tests/lab).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("hw_monitor_role_conftest", HERE.parent / "hw_monitor" / "conftest.py")
_hwm = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_hwm)

REPO = _hwm.REPO
PLAYBOOK = REPO / "playbooks" / "memory_test.yml"
# A grub.cfg that update-grub wrote in the lab's GRUB guest (lab/grub-image.sh records it); a container cannot run
# update-grub itself (grub-probe finds no device under its overlay root).
GRUB_CFG = REPO / "tests" / "fixtures" / "memory_test" / "grub.cfg-lab-grub-guest"

lab_image = _hwm.lab_image
hwm_tmp = _hwm.hwm_tmp
ansible_env = _hwm.ansible_env
lab_host = _hwm.lab_host
hwm_run_play = _hwm.run_play
_hwm.PLAYBOOK = PLAYBOOK  # this copy of the module only: hw_monitor's own tests load theirs


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "lab: real-kernel lab tests (QEMU guests, nspawn containers; root)")


class MemoryTestResult(_hwm.PlayResult):
    def fact(self, name: str):
        """A fact, as the last task that set it left it (None when none did)."""
        value = None
        for res in self.task_results().values():
            facts = res.get("ansible_facts") or {}
            if name in facts:
                value = facts[name]
        return value

    def result(self) -> dict:
        """The memory_test_result fact."""
        return self.fact("memory_test_result")

    def failure_messages(self) -> list[str]:
        return [res.get("msg", "") for res in self.task_results().values() if res.get("failed")]


@pytest.fixture
def run_play(hwm_run_play):
    """hw_monitor's ansible-playbook runner (on this private copy of its module, pointed at memory_test.yml)."""
    def _run(host, check: bool = False, extra_vars: dict | None = None) -> MemoryTestResult:
        res = hwm_run_play(host, check=check, extra_vars=extra_vars)
        return MemoryTestResult(res.proc, res.seconds)

    return _run


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
        argv = [str(_hwm.VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK)]
        if check:
            argv.append("--check")
        proc = subprocess.run(argv, env=ansible_env, cwd=str(REPO), capture_output=True, text=True,
                              timeout=_hwm.PLAYBOOK_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        return FleetResult(proc, 0.0)

    return _run
