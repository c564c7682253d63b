"""The disk_health role tests run playbooks/disk_health.yml on the lab containers (tests/roles/conftest.py): Debian 12
with smartmontools and e2fsprogs. The containers share this machine's kernel: lsblk there lists this machine's disks,
but the device cgroup keeps them from opening any, so SMART is unreadable there; reading a real disk is the VM
tier's job (tests/lab/test_disk_health_step.py).
"""

from __future__ import annotations

import pytest
from role_play import REPO


@pytest.fixture
def role_playbook():
    return REPO / "playbooks" / "disk_health.yml"
