"""Per-task timing for `bench/fleet.py --profile` (a benchmark aid, not part of the collection)."""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: fleet_timing
type: aggregate
short_description: per-task wall time and summed host time, for the fleet benchmark
description:
  - When the playbook ends, writes one JSON document to the file named by the ANSIBLE_FLEET_TIMING_FILE environment
    variable - the playbook's own span and, per task in order, its first host start, last host end and the time
    its hosts spent in it (from each host's start to its result, so queueing for a fork is not counted).
requirements:
  - ANSIBLE_FLEET_TIMING_FILE set in the environment
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fleet_timing"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._playbook_start = time.time()
        self._tasks = {}
        self._host_start = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._tasks.setdefault(task._uuid, {"task": task.get_name().strip(), "action": task.action, "hosts": 0,
                                            "first_start": None, "last_end": None, "host_seconds": 0.0})

    def v2_runner_on_start(self, host, task):
        now = time.time()
        self._host_start[(task._uuid, host.name)] = now
        entry = self._tasks.get(task._uuid)
        if entry is not None and entry["first_start"] is None:
            entry["first_start"] = now

    def _finished(self, result):
        now = time.time()
        entry = self._tasks.get(result.task._uuid)
        start = self._host_start.pop((result.task._uuid, result.host.name), None)
        if entry is None or start is None:
            return
        entry["hosts"] += 1
        entry["host_seconds"] += now - start
        entry["last_end"] = now

    def v2_runner_on_ok(self, result):
        self._finished(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._finished(result)

    def v2_runner_on_skipped(self, result):
        self._finished(result)

    def v2_runner_on_unreachable(self, result):
        self._finished(result)

    def v2_playbook_on_stats(self, stats):
        path = os.environ.get("ANSIBLE_FLEET_TIMING_FILE")
        if not path:
            return
        tasks = []
        for entry in self._tasks.values():
            if entry["first_start"] is not None and entry["last_end"] is not None:
                tasks.append(dict(entry, wall=entry["last_end"] - entry["first_start"]))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"playbook_seconds": time.time() - self._playbook_start, "tasks": tasks}, handle)
