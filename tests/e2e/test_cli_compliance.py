"""`pteguard compliance` and `pteguard report` through the real CLI on localhost (local connection, real playbook).

Two hosts read real kernel logs (tests/fixtures/logs, sources in its README): after the baseline, `pte` gets a log
with page-table corruption (a real 6.10 syslog), `calm` keeps a log with no finding. Every format written from the
same run must agree on the verdicts, and every JSON document validates against the published schema.
"""

from __future__ import annotations

import html.parser
import json
import os
import xml.etree.ElementTree as ET

import yaml
from prometheus_client.parser import text_string_to_metric_families

from e2e_support import COLLECTIONS, FIXTURE_LOGS, explain, run, tool, write_inventory
from pteguard import fleet_view

CLEAN_LOG = os.path.join(FIXTURE_LOGS, "none-wsl_boot_recovery_complete.log")
PTE_LOG = os.path.join(FIXTURE_LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")
POLICY = {"version": 1, "checks": {"no_new_events": {}, "kernel": {"min_version": "3.0"}}}


def _host(log):
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [log]}


def _compliance(env, cwd, inventory, *extra, policy=None):
    policy_path = cwd / "policy.yml"
    if not policy_path.exists():
        policy_path.write_text(yaml.safe_dump(POLICY if policy is None else policy))
    argv = [tool("pteguard"), "compliance", "-i", inventory, "--policy", str(policy_path), "--report-dir",
            str(cwd / "reports"), "--work-dir", str(cwd / "work"), "--collections-path", COLLECTIONS,
            "--baseline-dir", str(cwd / "baseline"), "--timeout", "200", "--format", "json"]
    return run(argv + list(extra), env, cwd=str(cwd))


def _valid(document):
    errors = fleet_view.schema_errors(document)
    assert not errors, errors


def _verdicts_from_every_format(report_dir):
    """{format: {host: pass|fail|unknown}} read back from each file written beside the reports."""
    found = {}
    compliance = json.loads((report_dir / "compliance.json").read_text())
    _valid(compliance)
    found["compliance.json"] = {h["host"]: h["result"] for h in compliance["hosts"]}

    suites = ET.parse(report_dir / "junit.xml").getroot()
    per_host = {}
    for case in suites.iter("testcase"):
        if case.get("name") == "findings":
            continue
        outcome = "fail" if case.find("failure") is not None else "unknown" if case.find("error") is not None \
            else "pass"
        previous = per_host.get(case.get("classname"), "pass")
        per_host[case.get("classname")] = max(previous, outcome, key=["pass", "unknown", "fail"].index)
    found["junit.xml"] = per_host

    metrics = {}
    for family in text_string_to_metric_families((report_dir / "pteguard.prom").read_text()):
        if family.name == "pteguard_compliance_host":
            for sample in family.samples:
                metrics[sample.labels["host"]] = {1: "pass", 0: "fail", -1: "unknown"}[int(sample.value)]
    found["pteguard.prom"] = metrics

    markdown = (report_dir / "report.md").read_text()
    rows = [line.split("|") for line in markdown.splitlines() if line.startswith("| ") and "---" not in line]
    found["report.md"] = {cells[1].strip(): cells[8].strip() for cells in rows[1:] if len(cells) > 9}

    found["report.html"] = _html_verdicts((report_dir / "report.html").read_text())
    return found


class _HostRows(html.parser.HTMLParser):
    """data-host -> data-verdict of the host rows (<tr>) and host sections (<section>) of the HTML report."""

    def __init__(self):
        super().__init__()
        self.rows, self.sections = {}, {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-host" in attrs and tag in ("tr", "section"):
            (self.rows if tag == "tr" else self.sections)[attrs["data-host"]] = attrs["data-verdict"]


def _html_verdicts(text):
    parser = _HostRows()
    parser.feed(text)
    assert parser.rows == parser.sections, (parser.rows, parser.sections)
    return parser.rows


def test_baseline_then_new_corruption_fails_one_host_and_every_format_agrees(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"pte": _host(CLEAN_LOG), "calm": _host(CLEAN_LOG)})
    first = _compliance(ansible_env, tmp_path, inventory, "--update-baseline")
    assert first.returncode == 0, explain(first)
    stored = json.loads((tmp_path / "baseline" / "baseline.json").read_text())
    _valid(stored)
    assert stored["fleet"]["hosts"] == ["calm", "pte"]

    write_inventory(tmp_path / "inv.yml", {"pte": _host(PTE_LOG), "calm": _host(CLEAN_LOG)})
    second = _compliance(ansible_env, tmp_path, inventory)
    assert second.returncode == 1, explain(second)
    result = json.loads(second.stdout)["compliance"]
    hosts = {h["host"]: h for h in result["hosts"]}
    assert result["result"] == "fail" and hosts["pte"]["result"] == "fail" and hosts["calm"]["result"] == "pass"
    events = next(c for c in hosts["pte"]["checks"] if c["check"] == "no_new_events")
    assert events["result"] == "fail" and "since the baseline" in events["message"], events
    assert any("Corrupted page table" in d for d in events["details"]), events

    report_dir = tmp_path / "reports" / "latest"
    for name in os.listdir(report_dir):
        if name.endswith(".json"):
            _valid(json.loads((report_dir / name).read_text()))
    expected = {"pte": "fail", "calm": "pass"}
    verdicts = _verdicts_from_every_format(report_dir)
    assert set(verdicts) == {"compliance.json", "junit.xml", "pteguard.prom", "report.md", "report.html"}
    for fmt, found in verdicts.items():
        assert found == expected, (fmt, verdicts)

    # `pteguard report latest --format json`: the same verdicts, one schema-valid document
    proc = run([tool("pteguard"), "report", "latest", "--report-dir", str(tmp_path / "reports"), "--work-dir",
                str(tmp_path / "work"), "--format", "json"], ansible_env, cwd=str(tmp_path))
    assert proc.returncode == 0, explain(proc)
    document = json.loads(proc.stdout)
    _valid(document)
    assert {h["host"]: h["compliance"] for h in document["hosts"]} == expected


def test_bad_policy_is_refused_per_key_and_nothing_written(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"calm": _host(CLEAN_LOG)})
    bad = {"version": 1, "checks": {"no_new_event": {}, "kernel": {"min_version": 5}}}
    proc = _compliance(ansible_env, tmp_path, inventory, "--update-baseline", policy=bad)
    assert proc.returncode == 2, explain(proc)
    lines = proc.stderr.strip().splitlines()
    assert any("checks: Additional properties are not allowed ('no_new_event' was unexpected)" in l for l in lines)
    assert any("checks.kernel.min_version: 5 is not of type 'string'" in l for l in lines), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "reports").exists() and not (tmp_path / "baseline").exists()


def test_baseline_of_another_fleet_is_refused_and_kept(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"calm": _host(CLEAN_LOG)})
    assert _compliance(ansible_env, tmp_path, inventory, "--update-baseline").returncode == 0
    before = (tmp_path / "baseline" / "baseline.json").read_bytes()
    # the same inventory file now lists another host set
    write_inventory(tmp_path / "inv.yml", {"calm": _host(CLEAN_LOG), "other": _host(CLEAN_LOG)})
    proc = _compliance(ansible_env, tmp_path, inventory, "--update-baseline")
    assert proc.returncode == 2, explain(proc)
    assert "another host set (new: other" in proc.stderr, explain(proc)
    # another inventory file altogether: refused before anything connects
    other = write_inventory(tmp_path / "other.yml", {"calm": _host(CLEAN_LOG)})
    runs = len(os.listdir(tmp_path / "reports"))
    proc = _compliance(ansible_env, tmp_path, other, "--update-baseline")
    assert proc.returncode == 2 and "made for another fleet" in proc.stderr, explain(proc)
    assert len(os.listdir(tmp_path / "reports")) == runs
    assert (tmp_path / "baseline" / "baseline.json").read_bytes() == before


def test_report_refuses_missing_and_half_written_runs(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"calm": _host(CLEAN_LOG)})
    assert _compliance(ansible_env, tmp_path, inventory).returncode == 0
    report_dir = tmp_path / "reports" / "latest"
    out = tmp_path / "out.html"
    out.write_text("previous")

    def report(run_name):
        return run([tool("pteguard"), "report", run_name, "--report-dir", str(tmp_path / "reports"), "--work-dir",
                    str(tmp_path / "work"), "--format", "html", "--output", str(out)], ansible_env, cwd=str(tmp_path))

    proc = report("no-such-run")
    assert proc.returncode == 2 and "no report directory" in proc.stderr, explain(proc)
    (report_dir / "calm.json").write_text('{"schema": "pteguard.report/1", "host": "ca')
    proc = report("latest")
    assert proc.returncode == 2 and "calm.json is not complete JSON (half-written" in proc.stderr, explain(proc)
    (report_dir / "calm.json").unlink()
    proc = report("latest")
    assert proc.returncode == 2 and "lists reports that are missing: calm.json" in proc.stderr, explain(proc)
    assert out.read_text() == "previous" and "Traceback" not in proc.stderr
