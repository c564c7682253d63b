"""Every `pteguard diagnose` and `compliance` run writes its renderings into the run's report folder.

Real runs through ansible-runner: `ptehost` (local connection) reads a real 6.10 syslog with page-table corruption,
`calmhost` a real log with no finding (tests/fixtures/logs, sources in its README), and `deadhost` is the loopback
sshd's settings on a port nothing listens on (unreachable). The files are read back after the run: the fleet JSON
validates against the published schema, and every format agrees on each host, the unreachable one included (shown
as not evaluated, never left out or shown clean).
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET

import yaml
from prometheus_client.parser import text_string_to_metric_families

from e2e_support import COLLECTIONS, FIXTURE_LOGS, explain, free_port, run, ssh_host_vars, tool, write_inventory
from pteguard import fleet_view

PTE_LOG = os.path.join(FIXTURE_LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")
CLEAN_LOG = os.path.join(FIXTURE_LOGS, "none-wsl_boot_recovery_complete.log")
ALL_FILES = {"fleet.json", "report.html", "report.md", "junit.xml", "pteguard.prom"}


def _local(log):
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [log]}


def _inventory(sshd, tmp_path):
    return write_inventory(tmp_path / "fleet.yml", {
        "ptehost": _local(PTE_LOG), "calmhost": _local(CLEAN_LOG),
        "deadhost": dict(ssh_host_vars(sshd, port=free_port()), ansible_timeout=5),
    })


def _cli(env, cwd, command, inventory, *extra):
    argv = [tool("pteguard"), command, "-i", inventory, "--report-dir", str(cwd / "reports"), "--work-dir",
            str(cwd / "work"), "--collections-path", COLLECTIONS, "--timeout", "200", "--connect-timeout", "5",
            *extra]
    return run(argv, env, cwd=str(cwd))


def _rendered(folder):
    return {n for n in os.listdir(folder) if n in ALL_FILES}


def _junit_outcomes(path):
    """{host: failure|error|pass} of the per-host 'findings' test cases."""
    outcomes = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        if case.get("name") == "findings":
            outcomes[case.get("classname")] = ("failure" if case.find("failure") is not None else
                                               "error" if case.find("error") is not None else "pass")
    return outcomes


def _metric(path, name):
    for family in text_string_to_metric_families(path.read_text()):
        if family.name == name:
            return {s.labels["host"]: s.value for s in family.samples}
    return {}


def test_diagnose_writes_every_format_and_they_agree(ansible_env, sshd, tmp_path):
    proc = _cli(ansible_env, tmp_path, "diagnose", _inventory(sshd, tmp_path), "--json")
    assert proc.returncode == 2, explain(proc)  # deadhost unreachable outranks ptehost's findings
    document = json.loads(proc.stdout)
    folder = tmp_path / "reports" / document["run"]["id"]
    assert _rendered(folder) == ALL_FILES, explain(proc)
    assert sorted(document["files"]) == sorted(str(folder / n) for n in ALL_FILES)

    fleet = json.loads((folder / "fleet.json").read_text())
    assert not fleet_view.schema_errors(fleet), fleet_view.schema_errors(fleet)
    verdicts = {h["host"]: h["verdict"] for h in fleet["hosts"]}
    assert verdicts == {"ptehost": "findings", "calmhost": "clean", "deadhost": "not_evaluated"}, verdicts
    assert {h["host"]: h["status"] for h in fleet["hosts"]}["deadhost"] == "unreachable"

    assert _junit_outcomes(folder / "junit.xml") == {"ptehost": "failure", "calmhost": "pass", "deadhost": "error"}
    evaluated = _metric(folder / "pteguard.prom", "pteguard_host_evaluated")
    assert evaluated == {"ptehost": 1.0, "calmhost": 1.0, "deadhost": 0.0}, evaluated

    markdown = (folder / "report.md").read_text()
    page = (folder / "report.html").read_text()
    for host in ("ptehost", "calmhost", "deadhost"):
        assert host in markdown and 'data-host="%s"' % host in page
    assert 'data-host="deadhost" data-cause="not_evaluated" data-verdict="not_evaluated"' in page


def test_report_formats_chooses_and_report_reads_the_run_back(ansible_env, sshd, tmp_path):
    inventory = _inventory(sshd, tmp_path)
    proc = _cli(ansible_env, tmp_path, "diagnose", inventory, "-l", "ptehost,calmhost", "--report-formats",
                "markdown,junit", "--quiet")
    assert proc.returncode == 1 and proc.stdout == "", explain(proc)
    folder = tmp_path / "reports" / "latest"
    assert _rendered(folder) == {"report.md", "junit.xml"}
    # the fleet JSON beside the host reports is never mistaken for one: `pteguard report` reads the run back
    proc = _cli(ansible_env, tmp_path, "diagnose", inventory, "-l", "calmhost", "--report-formats", "json")
    assert proc.returncode == 0, explain(proc)
    again = run([tool("pteguard"), "report", "latest", "--format", "json", "--report-dir", str(tmp_path / "reports"),
                 "--work-dir", str(tmp_path / "work")], ansible_env, cwd=str(tmp_path))
    assert again.returncode == 0, explain(again)
    assert [h["host"] for h in json.loads(again.stdout)["hosts"]] == ["calmhost"]
    assert _rendered(tmp_path / "reports" / "latest") == {"fleet.json"}
    bad = _cli(ansible_env, tmp_path, "diagnose", inventory, "--report-formats", "pdf")
    assert bad.returncode == 2 and "unknown format 'pdf'" in bad.stderr and "Traceback" not in bad.stderr


def test_compliance_writes_every_format(ansible_env, sshd, tmp_path):
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"version": 1, "checks": {"no_new_events": {}}}))
    proc = _cli(ansible_env, tmp_path, "compliance", _inventory(sshd, tmp_path), "-l", "ptehost,calmhost",
                "--policy", str(policy), "--baseline-dir", str(tmp_path / "baseline"), "--json")
    assert proc.returncode == 1, explain(proc)
    document = json.loads(proc.stdout)
    folder = tmp_path / "reports" / document["compliance"]["run_id"]
    assert _rendered(folder) == ALL_FILES and (folder / "compliance.json").is_file()
    fleet = json.loads((folder / "fleet.json").read_text())
    assert not fleet_view.schema_errors(fleet)
    assert {h["host"]: h["compliance"] for h in fleet["hosts"]} == {"ptehost": "fail", "calmhost": "pass"}
    assert _metric(folder / "pteguard.prom", "pteguard_compliance_host") == {"ptehost": 0.0, "calmhost": 1.0}


def test_a_host_never_takes_the_name_of_a_run_file():
    """Hosts called 'fleet' or 'compliance' get a hashed report name: the run's own files cannot overwrite them."""
    from pteguard.parsers.report import report_file_name

    for host in ("fleet", "compliance"):
        name = report_file_name(host)
        assert name.startswith(host + "-") and name not in (fleet_view.FLEET_FILE, fleet_view.COMPLIANCE_FILE)
    assert report_file_name("fleet1") == "fleet1.json"
