"""playbooks/diagnose.yml through the real ansible-playbook and ansible-runner, on localhost and the loopback sshd."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess

import pytest

from e2e_support import LOCAL_INVENTORY, explain, recap, run, schema_errors, tool

HOSTS = ("localhost", "sshhost")
SOURCE_STATUSES = {"read", "missing", "unreadable", "empty"}
REPORT_TASK = "Write the host's report"


@pytest.fixture(scope="module")
def playbook_run(ansible_env, ssh_inventory, tmp_path_factory):
    """One real `ansible-playbook pteguard.remediation.diagnose` over both inventories (reports dir: new)."""
    base = tmp_path_factory.mktemp("playbook")
    reports = base / "reports"
    ring_before = _kernel_ring_tail(ansible_env)
    proc = run([tool("ansible-playbook"), "pteguard.remediation.diagnose", "-i", LOCAL_INVENTORY, "-i", ssh_inventory,
                "-e", json.dumps({"diagnose_report_dir": str(reports)})], ansible_env, cwd=str(base))
    return proc, reports, ring_before


def test_playbook_runs_clean_on_both_hosts(playbook_run):
    proc, _reports, _ring = playbook_run
    assert proc.returncode == 0, explain(proc)
    counters = recap(proc.stdout)
    for host in HOSTS:
        assert host in counters, explain(proc)
        assert counters[host]["failed"] == 0 and counters[host]["unreachable"] == 0, explain(proc)
    # a first run into a new directory: each host's report is written (the directory with the first one)
    assert counters["localhost"]["changed"] == 1 and counters["sshhost"]["changed"] == 1, explain(proc)
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize("host", HOSTS)
def test_report_per_host(playbook_run, host):
    proc, reports, _ring = playbook_run
    path = reports / ("%s.json" % host)
    assert path.is_file(), "no report for %s in %s\n%s" % (host, os.listdir(reports), explain(proc))
    report = json.loads(path.read_text())
    assert report["schema"] == "pteguard.report/1"
    assert report["host"] == host
    assert not schema_errors(report), schema_errors(report)
    assert report["hardware_errors"] is not None and report["disk_health"] is not None
    # both inventory hosts are this machine: the kernel reported is the one running here
    assert report["kernel"]["release"] == os.uname().release
    log = report["kernel_log"]
    assert isinstance(log["findings"], list)
    sources = log["sources"]
    assert isinstance(sources, list) and sources
    for source in sources:
        assert source["status"] in SOURCE_STATUSES, source
        if source["status"] != "read":
            assert source.get("reason"), "a source not read must say why: %r" % source
    read = [s["name"] for s in sources if s["status"] == "read"]
    assert {"journal", "dmesg"} & set(read), "neither the journal nor dmesg was read: %r" % sources
    summary = log["summary"]
    assert summary["findings_returned"] == len(log["findings"])
    assert summary["findings"] == summary["findings_returned"] + summary["findings_dropped"]
    assert sum(summary["by_category"].values()) == summary["findings"]
    for finding in log["findings"]:
        assert finding["source"] in read or any(s.get("path") == finding["source"] for s in sources), finding


# --- role-level idempotence, through ansible-runner (its job events say what each task changed) ---------------


def _runner_job(private_dir, ident, env):
    proc = run([tool("ansible-runner"), "run", str(private_dir), "-p", "pteguard.remediation.diagnose",
                "--ident", ident, "--rotate-artifacts", "0", "-q"], env, cwd=str(private_dir))
    events = []
    for name in sorted(glob.glob(str(private_dir / "artifacts" / ident / "job_events" / "*.json")),
                       key=lambda p: int(os.path.basename(p).split("-", 1)[0])):
        with open(name) as handle:
            events.append(json.load(handle))
    return proc, events


def _report_task_changes(events):
    """{host: changed} for the report-writing task, from runner_on_ok events."""
    changes = {}
    for event in events:
        data = event.get("event_data", {})
        if event.get("event") == "runner_on_ok" and REPORT_TASK in (data.get("task") or ""):
            changes[data["host"]] = bool(data.get("res", {}).get("changed"))
    return changes


def _differences(first, second, path=""):
    """Dotted paths where two JSON values differ."""
    if isinstance(first, dict) and isinstance(second, dict):
        out = []
        for key in sorted(set(first) | set(second), key=str):
            out.extend(_differences(first.get(key), second.get(key), "%s.%s" % (path, key) if path else str(key)))
        return out
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        out = []
        for index, (a, b) in enumerate(zip(first, second)):
            out.extend(_differences(a, b, "%s[%d]" % (path, index)))
        return out
    return [] if first == second else [path or "<root>"]


def _kernel_ring_tail(env):
    """The last kernel ring-buffer line here, to tell a report change from new kernel messages."""
    dmesg = shutil.which("dmesg")
    if dmesg is None:
        return None
    try:
        proc = subprocess.run([dmesg], capture_output=True, text=True, timeout=60, env=env, check=False)
    except subprocess.TimeoutExpired:
        return None
    lines = proc.stdout.splitlines()
    return (len(lines), lines[-1] if lines else "")


def test_second_run_changes_nothing(playbook_run, ansible_env, ssh_inventory, tmp_path):
    """Role-level idempotence: a second run (through ansible-runner this time) into the same report directory."""
    first_proc, reports, before = playbook_run
    assert first_proc.returncode == 0, explain(first_proc)
    first = {h: json.loads((reports / ("%s.json" % h)).read_text()) for h in HOSTS}

    private = tmp_path / "runner"
    (private / "inventory").mkdir(parents=True)
    (private / "env").mkdir()
    (private / "project").mkdir()
    shutil.copyfile(os.path.join(LOCAL_INVENTORY, "hosts.yml"), private / "inventory" / "local.yml")
    shutil.copyfile(ssh_inventory, private / "inventory" / "ssh.yml")
    (private / "env" / "extravars").write_text(json.dumps({"diagnose_report_dir": str(reports)}))
    proc, events = _runner_job(private, "second", ansible_env)
    assert proc.returncode == 0, explain(proc)
    after = _kernel_ring_tail(ansible_env)

    second = {h: json.loads((reports / ("%s.json" % h)).read_text()) for h in HOSTS}
    diffs = {h: _differences(first[h], second[h]) for h in HOSTS}
    if any(diffs.values()) and before != after:
        pytest.skip("the kernel logged new messages during the runs (%r -> %r), so the reports may differ "
                    "legitimately: %r" % (before, after, diffs))
    assert not any(diffs.values()), "the report is not deterministic; fields that differ between runs: %r" % diffs
    assert _report_task_changes(events) == {"localhost": False, "sshhost": False}, events
    # no task of the role changes anything on the second run
    changed = [(e["event_data"].get("task"), e["event_data"].get("host")) for e in events
               if e.get("event") == "runner_on_ok" and e["event_data"].get("res", {}).get("changed")]
    assert changed == [], changed
