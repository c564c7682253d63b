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


# a failed one of these means the host went down (a reboot) and did not answer again within the role's timeout;
# the roles' waits after their own reboots (memory_test, stress) are wait_for_connection
_REBOOT_ACTIONS = {prefix + name for prefix in ("", "ansible.builtin.", "ansible.legacy.")
                   for name in ("reboot", "wait_for_connection")}
# actions that run on the controller only: their results say nothing about whether the host answered
_CONTROLLER_ACTIONS = {prefix + name for prefix in ("", "ansible.builtin.", "ansible.legacy.") for name in (
    "set_fact", "debug", "assert", "fail", "meta", "include_tasks", "import_tasks", "include_role", "import_role",
    "include_vars", "add_host", "group_by", "set_stats", "pause", "validate_argument_spec")}


def answered(event):
    """The host of this event ran a task on the host itself and it came back (not a controller-side action)."""
    data = event.get("event_data") or {}
    return event.get("event") == "runner_on_ok" and bool(data.get("host")) and \
        data.get("task_action") not in _CONTROLLER_ACTIONS and \
        not (data.get("res") or {}).get("_ansible_delegated_vars")


def _reboot_not_started(res):
    """The reboot module's own words when its reboot command failed: the host never went down, it is not lost."""
    return str((res or {}).get("msg") or "").startswith("Reboot command failed")


def read(work_dir):
    """({host: 'ok'|'failed'|'unreachable'|'lost'} from the play recap, {host: step result}) of one step run.

    'lost': the host answered tasks of this step, then stopped answering (unreachable), or a reboot waited for it in
    vain; what a host that went down (rebooting) and never came back looks like from the controller.
    """
    recap, results, reached, reboot_timeouts = {}, {}, set(), set()
    for event in _events(work_dir):
        kind, data = event.get("event"), event.get("event_data") or {}
        if answered(event):
            reached.add(data["host"])
        if kind == "runner_on_failed" and data.get("task_action") in _REBOOT_ACTIONS and data.get("host") \
                and not _reboot_not_started(data.get("res")):
            reboot_timeouts.add(data["host"])
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
    for host, state in recap.items():
        if (state == "unreachable" and host in reached) or (state == "failed" and host in reboot_timeouts):
            recap[host] = "lost"
    return recap, results


def host_result(host, outcome, recap, results):
    """(status, outcome word, detail) of `host` after one step run: status done, failed, unreachable, lost, timeout
    or interrupted."""
    entry = outcome["hosts"].get(host) or {}
    if recap.get(host) == "lost":
        return "lost", None, "stopped answering during the step and did not come back (went down or rebooted): %s" \
            % (entry.get("message") or "no message")
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
