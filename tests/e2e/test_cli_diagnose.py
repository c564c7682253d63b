"""The real `pteguard diagnose` CLI (ansible-runner underneath) on localhost, the loopback sshd and a dead host."""

from __future__ import annotations

import json
import os

import pytest

from e2e_support import (LOCAL_INVENTORY, diagnose_cli, explain, free_port, schema_errors, ssh_host_vars,
                         write_inventory)


def _diagnose(env, cwd, inventories, *extra):
    return diagnose_cli(env, cwd, inventories, *extra)


def _table(stdout):
    """{host: [columns...]} from the text table (columns are separated by two or more spaces)."""
    lines = stdout.splitlines()
    assert lines and lines[0].split()[:2] == ["HOST", "STATUS"], stdout
    rows = {}
    for line in lines[1:]:
        if line.startswith(("note:", "reports:", "summary:")) or not line.strip():
            continue
        cells = [c for c in line.split("  ") if c.strip()]
        rows[cells[0].strip()] = [c.strip() for c in cells]
    return rows


RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}


@pytest.fixture(scope="module")
def dead_inventory(sshd, tmp_path_factory):
    """`deadhost`: the sshd host's settings, but a loopback port nothing listens on."""
    path = tmp_path_factory.mktemp("dead") / "inventory.yml"
    closed = free_port()  # picked free and left unbound: connections are refused
    return write_inventory(path, {"deadhost": ssh_host_vars(sshd, port=closed)})


def test_table_lists_both_hosts_ok(ansible_env, ssh_inventory, tmp_path):
    proc = _diagnose(ansible_env, tmp_path, [LOCAL_INVENTORY, ssh_inventory])
    assert proc.returncode in (0, 1), explain(proc)
    rows = _table(proc.stdout)
    assert set(rows) == {"localhost", "sshhost"}, explain(proc)
    for host, cells in rows.items():
        assert cells[1] == "ok", explain(proc)
        assert cells[2] == os.uname().release, explain(proc)
    # one report per host under reports/<run id>/, and reports/latest points at it
    latest = tmp_path / "reports" / "latest"
    assert latest.is_symlink(), explain(proc)
    worst = -1
    for host, cells in rows.items():
        report = json.loads((latest / ("%s.json" % host)).read_text())
        assert report["schema"] == "pteguard.report/1" and report["host"] == host
        assert not schema_errors(report), schema_errors(report)
        # one round trip gave every evidence kind, and each collector says it read its evidence
        assert report["hardware_errors"] is not None and report["disk_health"] is not None
        assert {c["name"] for c in report["collectors"]} == {"kernel_log", "hardware_errors", "disk_health"}
        summary = report["kernel_log"]["summary"]
        assert cells[3] == (summary["highest_severity"] or "none") and cells[4] == str(summary["findings"])
        if summary["highest_severity"]:
            worst = max(worst, RANK[summary["highest_severity"]])
    # exit 1 exactly when a host has a finding at or above the default --fail-on (error)
    assert proc.returncode == (1 if worst >= RANK["error"] else 0), explain(proc)
    assert "Traceback" not in proc.stdout + proc.stderr


def test_unreachable_host_is_reported_and_others_still_ok(ansible_env, ssh_inventory, dead_inventory, tmp_path):
    proc = _diagnose(ansible_env, tmp_path, [LOCAL_INVENTORY, ssh_inventory, dead_inventory], "--format", "json")
    assert proc.returncode == 2, explain(proc)
    document = json.loads(proc.stdout)
    hosts = {row["host"]: row for row in document["hosts"]}
    assert set(hosts) == {"localhost", "sshhost", "deadhost"}, hosts
    assert hosts["deadhost"]["status"] == "unreachable", hosts["deadhost"]
    assert hosts["deadhost"].get("message"), hosts["deadhost"]
    assert "summary" not in hosts["deadhost"], "a host that did not finish must not show findings"
    for host in ("localhost", "sshhost"):
        assert hosts[host]["status"] == "ok", hosts[host]
        assert isinstance(hosts[host]["summary"]["findings"], int)
        assert os.path.isfile(hosts[host]["report"])
    assert not os.path.exists(os.path.join(document["run"]["report_dir"], "deadhost.json"))
    assert os.path.isdir(document["run"]["artifacts"])
