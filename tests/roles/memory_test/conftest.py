"""Fixtures for the memory_test role tests: real ansible-playbook runs against the lab's Debian 12 nspawn containers.

The container plumbing (booting a container, its inventory, running ansible-playbook with the JSON callback) is the
hw_monitor role tests' own, loaded from their conftest rather than copied. The containers share the host's kernel:
memtester really runs there (on the host's RAM, bounded small), but GRUB can only be exercised on files
(grub-editenv/grub-reboot on /boot/grub/grubenv); booting memtest86+ is the VM tier's job (tests/lab).
"""

from __future__ import annotations

import importlib.util
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
