"""The audit log of a run: one JSON object per line, per action on a host (who, when, change ID, result).

Each line is written whole and synced before the action it records goes on, so a killed controller loses nothing
that happened before the kill.
"""

from __future__ import annotations

import datetime
import json
import os

FILE = "audit.jsonl"


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AuditLog:
    def __init__(self, run_dir, run_id, who, change_id):
        self.path = os.path.join(run_dir, FILE)
        self.base = {"run": run_id, "who": who, "change_id": change_id}

    def write(self, action, host=None, step=None, result=None, message=None):
        entry = dict(self.base, time=now(), action=action, host=host, step=step, result=result, message=message)
        line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def read(run_dir):
    """Every entry of a run's audit log (a torn last line, from a kill mid-write, is left out)."""
    entries = []
    try:
        with open(os.path.join(run_dir, FILE), encoding="utf-8") as handle:
            for line in handle:
                try:
                    entries.append(json.loads(line))
                except ValueError:
                    continue
    except FileNotFoundError:
        pass
    return entries
