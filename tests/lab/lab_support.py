"""Helpers for the lab tests that run pteguard itself against the guests."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pteguard_lab.cli import inventory

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PTEGUARD = os.path.join(os.path.dirname(sys.executable), "pteguard")
DIAGNOSE_TIMEOUT = 900


def diagnose(vms, workdir, label):
    """Run the real CLI on these VMs; returns {host: report} and the CLI's JSON rows."""
    run_dir = workdir / ("diagnose-" + label)
    run_dir.mkdir()
    inv = run_dir / "inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [vm.to_dict() for vm in vms], "containers": []})))
    env = dict(os.environ, ANSIBLE_HOME=str(run_dir / "ansible-home"))
    proc = subprocess.run(
        [PTEGUARD, "diagnose", "-i", str(inv), "--format", "json", "--fail-on", "never",
         "--report-dir", str(run_dir / "reports"), "--work-dir", str(run_dir / "runs"),
         "--timeout", str(DIAGNOSE_TIMEOUT - 60)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=DIAGNOSE_TIMEOUT, check=False)
    assert proc.returncode == 0, "pteguard diagnose failed (%d): %s %s" % (proc.returncode, proc.stderr, proc.stdout)
    rows = json.loads(proc.stdout)["hosts"]
    reports = {}
    for row in rows:
        assert row["status"] == "ok", row
        with open(row["report"]) as handle:
            reports[row["host"]] = json.load(handle)
    return reports, rows


def own_vm(lab_image, lab_accel, lab_workdir, name):
    """A fault VM of a test module's own (a generator for a module-scoped fixture): booted, then stopped."""
    from pteguard_lab.vm import boot_vms, stop_all

    vms = boot_vms(lab_image, [name], lab_workdir, accel=lab_accel)
    try:
        yield vms[0]
    finally:
        errors = stop_all(vms)
        assert not errors, errors


def findings(report, category):
    return [f for f in report["kernel_log"]["findings"] if f["category"] == category]


def keep_artifact(name, text):
    """Keep a real capture of a guest (how some fixtures were recorded) when PTEGUARD_LAB_ARTIFACTS names a folder."""
    folder = os.environ.get("PTEGUARD_LAB_ARTIFACTS")
    if folder:
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, name), "w", encoding="utf-8") as handle:
            handle.write(text)
