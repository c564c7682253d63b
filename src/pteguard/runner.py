"""Run the collection's playbooks with ansible-runner and collect per-host outcomes.

The event handler stays cheap (it runs for every event) and keeps only what
tells a host's fate: the last failure or unreachable message.
"""

from __future__ import annotations

import datetime
import os
import sys

from pteguard import locations


class RunnerError(Exception):
    """The run could not start or finish; the message says why."""


def collections_path(explicit=None):
    """Where the pteguard.remediation collection is installed for this CLI (the order: pteguard.locations)."""
    try:
        return locations.collections_path(explicit)
    except locations.LocationError as exc:
        raise RunnerError(str(exc)) from None


def new_run_dir(base):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(base, "%s-%d" % (stamp, os.getpid()))
    os.makedirs(path)
    return path


def run_playbook(playbook, inventories, extravars, work_dir, collections, limit=None, forks=25, timeout=None,
                 check=False, verbosity=0):
    """Run one playbook; return {'rc', 'status', 'hosts': {host: {'status', 'message'}}, 'artifacts'}."""
    try:
        import ansible_runner
    except ImportError:
        raise RunnerError("ansible-runner is not installed in this Python (%s)" % sys.executable)
    for inventory in inventories:
        if not os.path.exists(inventory):
            raise RunnerError("inventory %s does not exist" % inventory)
    outcomes = {}

    def on_event(event):
        kind = event.get("event")
        if kind in ("runner_on_failed", "runner_on_unreachable", "runner_on_async_failed"):
            data = event.get("event_data", {})
            host = data.get("host")
            if host and not data.get("ignore_errors"):
                res = data.get("res") or {}
                message = res.get("msg") or res.get("stderr") or res.get("module_stderr") or "failed"
                outcomes[host] = {
                    "status": "unreachable" if kind == "runner_on_unreachable" else "failed",
                    "message": " ".join(str(message).split())[:400],
                    "task": data.get("task"),
                }
        return True

    envvars = {
        "ANSIBLE_COLLECTIONS_PATH": collections,
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_NOCOLOR": "True",
    }
    # ansible-runner looks ansible-playbook up on PATH; use the one beside this Python (the .venv)
    bindir = os.path.dirname(sys.executable)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    cmdline = []
    if check:
        cmdline.append("--check")
    os.makedirs(os.path.join(work_dir, "project"), exist_ok=True)
    try:
        result = ansible_runner.run(
            private_data_dir=work_dir,
            playbook=playbook,
            inventory=[os.path.abspath(i) for i in inventories],
            extravars=extravars,
            envvars=envvars,
            limit=limit,
            forks=forks,
            quiet=True,
            event_handler=on_event,
            timeout=timeout,
            cmdline=" ".join(cmdline) if cmdline else None,
            verbosity=verbosity,
            rotate_artifacts=5,
        )
    except Exception as exc:  # ansible-runner raises assorted types for configuration problems
        raise RunnerError("ansible-runner could not run %s: %s" % (playbook, exc))
    stats = result.stats or {}
    hosts = {}
    for host in stats.get("processed", {}):
        hosts[host] = {"status": "ok"}
    for key, status in (("failures", "failed"), ("dark", "unreachable")):
        for host in stats.get(key, {}):
            hosts[host] = {"status": status}
    for host, outcome in outcomes.items():
        hosts.setdefault(host, {}).update(outcome)
    if result.status == "timeout":
        for host, info in hosts.items():
            if info["status"] == "ok":
                info.update(status="timeout", message="the run hit its time limit before finishing")
    return {"rc": result.rc, "status": result.status, "hosts": hosts, "artifacts": work_dir,
            "stdout_tail": _tail(result) if result.rc not in (0, 2, 4) else ""}


def _tail(result, lines=20):
    try:
        text = result.stdout.read()
    except (OSError, ValueError, AttributeError):
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
