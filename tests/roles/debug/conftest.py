"""The debug role tests run playbooks/debug.yml on the lab containers (tests/roles/conftest.py)."""

from __future__ import annotations

import pytest
from role_play import REPO


@pytest.fixture
def role_playbook():
    return REPO / "playbooks" / "debug.yml"
