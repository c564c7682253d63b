"""The hw_monitor role tests run playbooks/hw_monitor.yml (containers and runs: tests/roles/conftest.py)."""

from __future__ import annotations

import pytest
from role_play import REPO, PlayResult


class HwMonitorPlay(PlayResult):
    def facts(self) -> dict:
        """The hw_monitor_* facts the role set (from its set_fact results)."""
        facts: dict = {}
        for res in self.task_results().values():
            for key, value in (res.get("ansible_facts") or {}).items():
                if key.startswith("hw_monitor_"):
                    facts[key] = value
        return facts


@pytest.fixture
def role_playbook():
    return REPO / "playbooks" / "hw_monitor.yml"


@pytest.fixture
def play_class():
    return HwMonitorPlay
