"""Run the collection's playbooks with ansible-runner and collect per-host outcomes and evidence.

The event handler stays cheap (it runs for every event): it keeps a host's failure or unreachable message and the
results of the evidence collectors, so the CLI writes each finished host's report itself even when another host
hangs and the run is stopped. Every process the run starts carries a marker in its environment and is stopped when
the run ends, however it ends (see run_processes).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

from pteguard import locations, progress, run_processes


# The one task whose result makes a host's report (every evidence kind in one round trip); a host is finished
# when it returned. A host that failed, was unreachable or timed out before it is never shown clean.
EVIDENCE_ACTION = "pteguard.remediation.host_evidence_info"
# Tasks tagged so run only for plain ansible-playbook users (the CLI writes the reports itself).
REPORT_TAG = "diagnose_reports"
# Ansible tags the role argument check "always". The diagnose CLI passes only values it checked itself, and the
# module checks every option again on the host, so the check would only cost each host one more worker pass.
DIAGNOSE_SKIP_TAGS = (REPORT_TAG, "always")

# Only these reach ansible-playbook (ansible-runner writes the environment it is given into the run directory).
_PASS_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "SSH_AUTH_SOCK", "KRB5CCNAME")
_PASS_PREFIXES = ("LC_", "ANSIBLE_")
_TIMED_OUT = re.compile(r"timed out|timeout", re.I)
INVENTORY_TIMEOUT = 120  # seconds for ansible-inventory to parse the inventories


class RunnerError(Exception):
    """The run could not start or finish; the message says why."""


def collections_path(explicit=None):
    """Where the pteguard.remediation collection is installed for this CLI (the order: pteguard.locations)."""
    try:
        return locations.collections_path(explicit)
    except locations.LocationError as exc:
        raise RunnerError(str(exc)) from None


def ansible_config():
    """The ansible.cfg for the run: the user's ANSIBLE_CONFIG, else the project's, else the one in the current folder.

    ansible-runner runs ansible-playbook in <private_data_dir>/project, where none of these would be found.
    """
    if os.environ.get("ANSIBLE_CONFIG"):
        return os.environ["ANSIBLE_CONFIG"]
    project = locations.installed_copy()
    for path in ([os.path.join(project, "ansible.cfg")] if project else []) + [os.path.abspath("ansible.cfg")]:
        if os.path.isfile(path):
            return path
    return None


def run_environment(collections, run_id, host_key_checking=True, connect_timeout=None, task_timeout=None):
    """The whole environment of the run: what Ansible needs from ours, plus the settings pteguard decides."""
    env = {k: v for k, v in os.environ.items() if k in _PASS_ENV or k.startswith(_PASS_PREFIXES)}
    # ansible-runner looks ansible-playbook up on PATH; use the one beside this Python (the .venv)
    bindir = os.path.dirname(sys.executable)
    path = env.get("PATH", os.defpath)
    if bindir not in path.split(os.pathsep):
        env["PATH"] = bindir + os.pathsep + path
    config = ansible_config()
    if config:
        env["ANSIBLE_CONFIG"] = config
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": collections,
        # ansible-runner turns host-key checking off unless told; ansible-playbook's own default is on
        "ANSIBLE_HOST_KEY_CHECKING": "True" if host_key_checking else "False",
        "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
        "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
        "ANSIBLE_PIPELINING": "True",
        # each host goes through its collectors at its own pace: one hung host does not hold the others back
        "ANSIBLE_STRATEGY": "free",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_FORCE_COLOR": "False",
        "ANSIBLE_NOCOLOR": "True",
        run_processes.MARKER: run_id,
    })
    if connect_timeout:
        env["ANSIBLE_TIMEOUT"] = str(connect_timeout)
    if task_timeout:
        env["ANSIBLE_TASK_TIMEOUT"] = str(task_timeout)
    return env


def list_hosts(inventories, env, limit=None):
    """The inventory hosts a run would target, in inventory order; RunnerError naming the file when one does not parse."""
    for inventory in inventories:
        if not os.path.exists(inventory):
            raise RunnerError("inventory %s does not exist" % inventory)
    argv = [os.path.join(os.path.dirname(sys.executable), "ansible-inventory"), "--list"]
    for inventory in inventories:
        argv.extend(["-i", os.path.abspath(inventory)])
    if limit:
        argv.extend(["--limit", limit])
    try:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=INVENTORY_TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        raise RunnerError("ansible-inventory took more than %d s to parse %s" % (INVENTORY_TIMEOUT, ", ".join(inventories)))
    except OSError as exc:
        raise RunnerError("could not run ansible-inventory: %s" % exc)
    if proc.returncode != 0:
        raise RunnerError(inventory_error(proc.stderr) or "ansible-inventory failed (rc %d)" % proc.returncode)
    try:
        listing = json.loads(proc.stdout)
    except ValueError as exc:
        raise RunnerError("ansible-inventory printed no inventory: %s" % exc)
    return _hosts_of(listing)


def inventory_error(stderr):
    """One line out of ansible-inventory's errors: which file failed, and the first parser's reason and position."""
    failed = re.search(r"\[ERROR\]: (.+)", stderr) or re.search(r"ERROR! (.+)", stderr)
    reason = re.search(r"Failed to parse inventory with '[^']+' plugin: (.+)", stderr)
    origin = re.search(r"Origin: (/\S+:\d+:\d+)", stderr)
    message = ": ".join(m.group(1).strip() for m in (failed, reason) if m)
    if message and origin:
        message += " (at %s)" % origin.group(1)
    return message or None


def _hosts_of(listing):
    seen = {}
    for host in (listing.get("_meta") or {}).get("hostvars") or {}:
        seen.setdefault(host, None)
    for name, group in listing.items():
        if name != "_meta" and isinstance(group, dict):
            for host in group.get("hosts") or []:
                seen.setdefault(host, None)
    return list(seen)


class _Events:
    """The event handler: per-host failures and collector results, nothing else."""

    def __init__(self, live=None):
        self.failures = {}
        self.evidence = {}
        self.live = live or progress.NullProgress()

    def __call__(self, event):
        self.live.event(event)
        kind = event.get("event")
        if kind == "runner_on_ok":
            data = event.get("event_data", {})
            if data.get("task_action") == EVIDENCE_ACTION and data.get("host"):
                self.evidence[data["host"]] = data.get("res")
        elif kind in ("runner_on_failed", "runner_on_unreachable", "runner_on_async_failed"):
            data = event.get("event_data", {})
            host = data.get("host")
            if host and not data.get("ignore_errors"):
                res = data.get("res") or {}
                message = _one_line(res.get("msg") or res.get("stderr") or res.get("module_stderr") or "failed")
                status = "unreachable" if kind == "runner_on_unreachable" else "failed"
                if res.get("timedout") or (status == "unreachable" and _TIMED_OUT.search(message)):
                    status = "timeout"
                self.failures[host] = {"status": status, "message": message, "task": data.get("task")}
        return True


def _one_line(text, limit=400):
    """A failure message on one line; long ones keep their start and their end (ssh says what went wrong last)."""
    text = " ".join(str(text).replace("@", " ").split())
    if len(text) <= limit:
        return text
    return text[:limit // 3] + " ... " + text[-(limit - limit // 3 - 5):]


class _Signals:
    """SIGTERM/SIGINT during a run cancel it (ansible-runner then kills ansible-playbook) instead of killing us."""

    def __init__(self):
        self.received = None
        self._saved = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, _frame):
        self.received = signum

    def cancelled(self):
        return self.received is not None

    def __exit__(self, *_exc):
        for sig, handler in self._saved.items():
            signal.signal(sig, handler)


def run_playbook(playbook, hosts, inventories, extravars, work_dir, env, limit=None, forks=25, timeout=None,
                 check=False, verbosity=0, skip_tags=(REPORT_TAG,)):
    """Run one playbook over `hosts` (from list_hosts) with the environment from run_environment.

    Returns {'rc', 'status', 'signal', 'hosts': {host: {'status', 'message'?, 'evidence'?}}, 'artifacts',
    'stdout_tail', 'stopped_processes'}. A host is 'ok' once its host_evidence_info result came back; 'evidence'
    is that result.
    """
    try:
        import ansible_runner
    except ImportError:
        raise RunnerError("ansible-runner is not installed in this Python (%s)" % sys.executable)
    # live progress on a terminal only; a host counts as done once its evidence (or its step result) came back
    events = _Events(progress.live(playbook, hosts, done_actions=(EVIDENCE_ACTION,)))
    os.makedirs(os.path.join(work_dir, "project"), exist_ok=True)
    saved_environ = dict(os.environ)
    result = None
    try:
        with _Signals() as signals:
            # ansible-runner copies os.environ into the run (and its artifact files): give it only `env`
            os.environ.clear()
            os.environ.update(env)
            try:
                result = ansible_runner.run(
                    private_data_dir=work_dir,
                    playbook=playbook,
                    inventory=[os.path.abspath(i) for i in inventories],
                    extravars=extravars,
                    limit=limit,
                    forks=forks,
                    quiet=True,
                    event_handler=events,
                    cancel_callback=signals.cancelled,
                    timeout=timeout,
                    cmdline="--check" if check else None,
                    skip_tags=",".join(skip_tags),
                    verbosity=verbosity,
                    suppress_env_files=True,
                )
            except Exception as exc:  # ansible-runner raises assorted types for configuration problems
                raise RunnerError("ansible-runner could not run %s: %s" % (playbook, exc))
            finally:
                os.environ.clear()
                os.environ.update(saved_environ)
    finally:
        events.live.finish()
        stopped = run_processes.stop(env[run_processes.MARKER])
    outcome = {"rc": result.rc, "status": result.status, "signal": signals.received, "artifacts": work_dir,
               "stopped_processes": stopped, "hosts": {},
               "stdout_tail": _tail(result) if result.rc not in (0, 2, 4) else ""}
    for host in hosts:
        outcome["hosts"][host] = _host_outcome(host, events, result.status, timeout, outcome["stdout_tail"])
    return outcome


def _host_outcome(host, events, run_status, timeout, tail):
    if host in events.failures:
        return dict(events.failures[host])
    evidence = events.evidence.get(host)
    if isinstance(evidence, dict):
        return {"status": "ok", "evidence": evidence}
    if run_status == "timeout":
        return {"status": "timeout", "message": "the run hit its --timeout (%s s) before this host finished" % timeout}
    if run_status == "canceled":
        return {"status": "interrupted", "message": "pteguard was stopped before this host finished"}
    return {"status": "failed", "message": "the playbook did not finish on this host%s"
            % (": " + " ".join(tail.split())[-300:] if tail else "")}


def _tail(result, lines=20):
    try:
        text = result.stdout.read()
    except (OSError, ValueError, AttributeError):
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])
