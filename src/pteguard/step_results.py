"""What a step's playbook run says about each host, read from ansible-runner's own event files afterwards.

runner.run_playbook's per-host outcome is the diagnose playbook's (a host is done when its evidence collectors ran);
for a step, a host is done when the play recap counts it and no task failed or was unreachable there. The step's
result is the fact `pteguard_step_result` its role sets ({outcome, evidence}); none means outcome 'ok'.
"""

from __future__ import annotations

import glob
import json
import os

RESULT_FACT = "pteguard_step_result"


def _events(work_dir):
    for path in glob.glob(os.path.join(work_dir, "artifacts", "*", "job_events", "*.json")):
        try:
            with open(path, encoding="utf-8") as handle:
                yield json.load(handle)
        except (OSError, ValueError):
            continue


def read(work_dir):
    """({host: 'ok'|'failed'|'unreachable'} from the play recap, {host: step result}) of one step run."""
    recap, results = {}, {}
    for event in _events(work_dir):
        kind, data = event.get("event"), event.get("event_data") or {}
        if kind == "playbook_on_stats":
            for host in set(data.get("ok") or {}) | set(data.get("skipped") or {}) | set(data.get("changed") or {}):
                recap.setdefault(host, "ok")
            for host in data.get("failures") or {}:
                recap[host] = "failed"
            for host in data.get("dark") or {}:
                recap[host] = "unreachable"
        elif kind == "runner_on_ok":
            fact = ((data.get("res") or {}).get("ansible_facts") or {}).get(RESULT_FACT)
            if isinstance(fact, dict) and data.get("host"):
                results[data["host"]] = fact
    return recap, results


def host_result(host, outcome, recap, results):
    """(status, outcome word, detail) of `host` after one step run: status done, failed, unreachable, timeout or
    interrupted."""
    entry = outcome["hosts"].get(host) or {}
    if "task" in entry:  # a task failed or the host was unreachable (runner's event handler saw it)
        return entry["status"], None, entry.get("message")
    if outcome.get("signal") is not None or outcome.get("status") == "canceled":
        return "interrupted", None, "pteguard was stopped before this host finished"
    if outcome.get("status") == "timeout" and recap.get(host) != "ok":
        return "timeout", None, "the step hit --timeout before this host finished"
    state = recap.get(host)
    if state == "ok":
        result = results.get(host) or {}
        return "done", str(result.get("outcome") or "ok"), json.dumps(result.get("evidence"))[:2000] \
            if result.get("evidence") else None
    if state in ("failed", "unreachable"):
        return state, None, entry.get("message") or "the step %s on this host" % state
    return "failed", None, entry.get("message") or "the playbook did not finish on this host"
