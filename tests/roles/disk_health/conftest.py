"""Fixtures for the disk_health role tests: the hw_monitor role tests' container fixtures, reused (not copied).

Lab nspawn containers booted from the cached lab image (Debian 12 with smartmontools and e2fsprogs, systemd, sshd on
127.0.0.N), real ansible-playbook over SSH; see tests/roles/hw_monitor/conftest.py. The containers share this
machine's kernel: lsblk there lists this machine's disks, but the device cgroup keeps them from opening any, so SMART
is unreadable there; reading a real disk is the VM tier's job (tests/lab/test_disk_health_step.py).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "pteguard_disk_health_role_fixtures", Path(__file__).resolve().parent.parent / "hw_monitor" / "conftest.py")
_HWM = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_HWM)

lab_image = _HWM.lab_image
hwm_tmp = _HWM.hwm_tmp
ansible_env = _HWM.ansible_env
lab_host = _HWM.lab_host
pytest_configure = _HWM.pytest_configure

_HWM.PLAYBOOK = _HWM.REPO / "playbooks" / "disk_health.yml"
hwm_run_play = _HWM.run_play


class DiskHealthPlay(_HWM.PlayResult):
    def fact(self, name):
        value = None
        for res in self.task_results().values():
            value = (res.get("ansible_facts") or {}).get(name, value)
        return value

    def failure_messages(self):
        return [res.get("msg", "") for res in self.task_results().values() if res.get("failed")]


@pytest.fixture
def run_play(hwm_run_play):
    def _run(host, check=False, extra_vars=None):
        res = hwm_run_play(host, check=check, extra_vars=extra_vars)
        return DiskHealthPlay(res.proc, res.seconds)

    return _run
