"""The stress role tests run playbooks/stress.yml on the lab containers (tests/roles/conftest.py): Debian 12 with fio
and dd. The containers share this machine's kernel and cannot open block devices, so reading a real disk is the VM
tier's job (tests/lab/test_stress_reproduction.py).
"""

from __future__ import annotations

import pytest
from role_play import REPO, PlayResult


class StressPlay(PlayResult):
    def reproduction(self):
        """The stress_reproduction fact as the role set it (None when the role stopped before)."""
        return self.fact("stress_reproduction")

    def step_result(self):
        return self.fact("pteguard_step_result")


@pytest.fixture
def role_playbook():
    return REPO / "playbooks" / "stress.yml"


@pytest.fixture
def play_class():
    return StressPlay
