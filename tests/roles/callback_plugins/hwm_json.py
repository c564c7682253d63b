# Test-only stdout callback: the whole run as one JSON document (ansible-core 2.21 ships no json callback).
from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: hwm_json
type: stdout
short_description: One JSON document per run (the role tests and the lab tests that run playbooks)
description:
  - Prints the plays, their tasks with each host's result, and the per-host stats as one JSON document.
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "hwm_json"

    def __init__(self, display=None):
        super().__init__(display)
        self.plays = []

    def v2_playbook_on_play_start(self, play):
        self.plays.append({"play": {"name": play.get_name()}, "tasks": []})

    def _task_start(self, task):
        if self.plays:
            self.plays[-1]["tasks"].append({"task": {"name": task.get_name()}, "hosts": {}})

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._task_start(task)

    def v2_playbook_on_handler_task_start(self, task):
        self._task_start(task)

    def _record(self, result, **extra):
        if not self.plays or not self.plays[-1]["tasks"]:
            return
        data = dict(result._result)
        data.update(extra)
        self.plays[-1]["tasks"][-1]["hosts"][result._host.get_name()] = json.loads(
            json.dumps(data, default=str))

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed.keys())
        out = {"plays": self.plays, "stats": dict((h, stats.summarize(h)) for h in hosts)}
        self._display.display(json.dumps(out, indent=1, default=str))
