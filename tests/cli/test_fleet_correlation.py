"""Fleet correlation and RMA bundles over a run of host reports built by the real parsers and report builder.

Kernel logs are real (tests/fixtures/logs, sources in their .json); DIMM inventories are parsed from real dmidecode
outputs (tests/fixtures/tools/170, 172). Synthetic, labelled so: which host has which log, the tainting-module
entries (name/taint/version as /proc/modules and /sys/module print them), the BIOS strings of the fleet, and in
test_rma_matches_the_slot the pairing of a GHES label with the Dell board's slot name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pteguard import fleet_view, render_templates, rma
from pteguard.analyze import analyze_sources
from pteguard.parsers.dmidecode import memory_devices
from pteguard.parsers.report import host_report, report_file_name, report_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGS = os.path.join(ROOT, "fixtures", "logs")
TOOLS = os.path.join(ROOT, "fixtures", "tools")
PTEGUARD = os.path.join(os.path.dirname(sys.executable), "pteguard")
PTE = "pte_corruption-corrupted_page_table-syslog-6.10.log"
CLEAN = "none-wsl_boot_recovery_complete.log"
CE = "memory_error_corrected-edac_sbridge-dmesgT.log"
UE = "memory_error_uncorrected-ghes_recoverable-syslog.log"


def _dimms(number):
    with open(os.path.join(TOOLS, "%s.txt" % number), encoding="utf-8") as handle:
        return memory_devices(handle.read())["dimms"]


def _report(host, log, modules=(), bios="2.18.1", dimms=None, release="6.1.0-31-amd64", rewrite=None):
    source = analyze_sources([os.path.join(LOGS, log)])["sources"][0]
    findings = source["findings"]
    for finding in findings:
        finding.update(rewrite or {})
    kernel_log = {"kernel": {"release": release, "version": "#1", "machine": "x86_64"},
                  "summary": source["summary"], "findings": findings,
                  "sources": [{"name": "kern_log", "path": log, "status": "read"}]}
    inventory = {"modules": [dict(name=m[0], taint="OE", version=m[1]) for m in modules],
                 "firmware": {"bios_vendor": "Dell Inc.", "bios_version": bios}, "dimms": dimms,
                 "dimm_slots": len(dimms) if dimms is not None else None,
                 "notes": [] if dimms is not None else ["DIMMs: dmidecode needs root to read the SMBIOS table"]}
    report = host_report(host, kernel_log, extras={"inventory": inventory})
    assert not fleet_view.schema_errors(report), fleet_view.schema_errors(report)
    return report


def _run(tmp_path, reports):
    run_dir = tmp_path / "20261130T080000Z-1"
    run_dir.mkdir()
    for report in reports:
        (run_dir / report_file_name(report["host"])).write_text(report_text(report))
    return str(run_dir)


def _fleet(tmp_path):
    """Five hosts with module acme 1.2 (four show page-table corruption), forty without it (all clean)."""
    reports = [_report("m%d" % i, PTE if i < 4 else CLEAN, modules=[("acme", "1.2")]) for i in range(5)]
    reports += [_report("c%02d" % i, CLEAN, bios="2.19.0") for i in range(40)]
    return _run(tmp_path, reports)


def test_module_group_rate_against_the_rest(tmp_path):
    view = fleet_view.build(_fleet(tmp_path))
    groups = {g["what"]: g for g in view["correlation"]}
    module = groups["module acme 1.2"]
    assert module["text"] == "4 of 5 hosts with module acme 1.2 show page-table corruption, 0 of 40 without it"
    assert module["affected_hosts"] == ["m0", "m1", "m2", "m3"] and module["kind"] == "module"
    assert view["correlation"][0]["what"] in ("module acme 1.2", "BIOS Dell Inc. 2.18.1")  # most telling first
    assert groups["BIOS Dell Inc. 2.18.1"]["affected"] == 4 and "BIOS Dell Inc. 2.19.0" not in groups
    assert groups["kernel 6.1.0-31-amd64"]["text"].startswith("4 of 45 hosts with kernel 6.1.0-31-amd64")


def test_every_rendering_carries_the_correlation(tmp_path):
    view = fleet_view.build(_fleet(tmp_path))
    document = json.loads(render_templates.json_document(view))
    assert not fleet_view.schema_errors(document)
    sentence = "4 of 5 hosts with module acme 1.2 show page-table corruption, 0 of 40 without it"
    assert sentence in [g["text"] for g in document["correlation"]]
    assert sentence in render_templates.markdown(view)
    assert sentence in render_templates.html(view)


def test_dimm_part_groups_from_dmidecode(tmp_path):
    reports = [_report("ce1", CE, dimms=_dimms("172")), _report("ok1", CLEAN, dimms=_dimms("172")),
               _report("ok2", CLEAN, dimms=_dimms("170"))]
    groups = {g["what"]: g for g in fleet_view.build(_run(tmp_path, reports))["correlation"]}
    part = groups["DIMM part HMT42GR7BFR4C-RD"]
    assert (part["affected"], part["hosts"], part["rest_affected"], part["rest"]) == (1, 2, 0, 1)
    assert "corrected memory errors" in part["text"]
    assert "DIMM part M393A2K43BB1-CTD" not in groups  # no affected host has it


def test_rma_bundle_per_suspect_dimm_through_the_cli(tmp_path):
    reports = [_report("ue1", UE, dimms=_dimms("172")), _report("ok1", CLEAN, dimms=_dimms("172"))]
    run_dir = _run(tmp_path, reports)
    out = tmp_path / "rma"
    proc = subprocess.run([PTEGUARD, "report", run_dir, "--rma", str(out)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    (path,) = proc.stdout.split()
    assert os.path.dirname(path) == str(out)
    document = json.loads(open(path, encoding="utf-8").read())
    assert not fleet_view.schema_errors(document)
    assert document["host"] == "ue1" and document["dimm_label"] == "B2"
    assert "uncorrected memory error" in document["reasons"]
    assert document["error_counts"]["kernel_log"]["uncorrected"] >= 1
    assert document["timeline"][0]["time"].startswith("Nov 26 09:36:22")
    # the Supermicro board calls its slots P1-DIMMB1...: no guess, the host's DIMMs are listed instead
    assert document["slot"] is None and "no SMBIOS slot matches" in document["slot_match"]
    assert [d["locator"] for d in document["host_dimms"]][0] == "P1-DIMMA1"


def test_rma_matches_the_slot_and_says_when_nothing_is_suspect(tmp_path):
    report = _report("ue1", UE, dimms=_dimms("170"), rewrite={"dimm": "A1"})  # synthetic pairing (docstring)
    (document,) = rma.bundles([report])
    assert document["slot"]["locator"] == "A1" and document["slot"]["part_number"] == "M393A2K43BB1-CTD"
    assert document["slot_match"] == "matched on the SMBIOS locator" and document["host_dimms"] is None
    no_inventory = _report("ue2", UE)
    (document,) = rma.bundles([no_inventory])
    assert document["slot"] is None and "dmidecode needs root" in document["slot_match"]
    run_dir = _run(tmp_path, [_report("ok1", CLEAN)])
    proc = subprocess.run([PTEGUARD, "report", run_dir, "--rma", str(tmp_path / "rma")], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0 and proc.stdout == "" and "no suspect DIMM" in proc.stderr


def test_every_rendering_written_together_is_the_one_report_renders_alone(tmp_path):
    """write_all loads the run once for all five renderings; each must be what `pteguard report --format` gives."""
    from pteguard import report_cmd

    run_dir = _run(tmp_path, [_report("web1", PTE, modules=[("nvidia", "535.1")]), _report("web2", CLEAN),
                              _report("db1", UE, dimms=_dimms(170))])
    written = report_cmd.write_all(run_dir)
    assert [os.path.basename(p) for p in written] == [report_cmd.FILES[f] for f in report_cmd.FORMATS]
    for fmt in report_cmd.FORMATS:
        with open(os.path.join(run_dir, report_cmd.FILES[fmt]), encoding="utf-8") as handle:
            assert handle.read() == report_cmd.render(run_dir, fmt), fmt
