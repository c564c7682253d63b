"""The hardware-error collector core driven by recorded real outputs (tests/fixtures/tools, sources in .meta.json).

104: ras-mc-ctl --errors (NixOS infra, AMD Zen); 013/015: mcelog (andikleen/mcelog issues); 113: /proc/meminfo of a
kernel without CONFIG_MEMORY_FAILURE. The EDAC trees are tmp_path directories (no EDAC output recorded here).
"""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError
from ansible_collections.pteguard.remediation.plugins.module_utils.hw_errors_collect import (
    collect_hw_errors, edac_findings)

from .recorded_host import RecordedHost, fixture


def paths(tmp_path, **overrides):
    """Defaults that point at nothing on this machine, so only what a test records is read."""
    base = {"rasdaemon_db": str(tmp_path / "ras-mc_event.db"), "mcelog_log": str(tmp_path / "mcelog.log"),
            "mcelog_device": str(tmp_path / "mcelog"), "edac_root": str(tmp_path / "edac" / "mc"),
            "meminfo_path": "/proc/meminfo", "tainted_path": "/proc/sys/kernel/tainted"}
    base.update(overrides)
    return base


PROC = {"/proc/meminfo": fixture("117.txt"), "/proc/sys/kernel/tainted": "0\n"}


def by_name(out):
    """The collector's sources (one list, source_status vocabulary) by name."""
    return {entry["name"]: entry for entry in out["sources"]}


def test_ras_mc_ctl_recorded_output_when_the_database_is_missing(tmp_path):
    host = RecordedHost(bins=("ras-mc-ctl", "systemctl"), files=PROC, outputs={
        "ras-mc-ctl --errors": (0, fixture("104.txt"), ""),
        "systemctl is-active rasdaemon.service": (3, "inactive\n", ""),
    })
    out = collect_hw_errors(host, **paths(tmp_path))
    assert out["backends"]["rasdaemon"]["service"] == "inactive"
    assert out["backends"]["rasdaemon"]["installed"] is True
    assert by_name(out)["rasdaemon_db"]["status"] == "missing"
    assert by_name(out)["ras_mc_ctl"] == {"name": "ras_mc_ctl", "status": "read"}
    mce = [f for f in out["findings"] if f["source"].startswith("ras")]
    assert len(mce) == 3 and {f["category"] for f in mce} == {"memory_error_corrected"}
    assert out["rasdaemon"]["summary"]["mce"] == 3
    # no mcelog here: every mcelog source says why
    assert by_name(out)["mcelog_log"]["reason"].endswith("mcelog.log does not exist")
    assert by_name(out)["mcelog_client"] == {"name": "mcelog_client", "status": "missing",
                                             "reason": "mcelog not installed"}


def test_ras_mc_ctl_failure_is_a_reason(tmp_path):
    host = RecordedHost(bins=("ras-mc-ctl",), files=PROC, outputs={
        "ras-mc-ctl --errors": (2, "", "Can't connect to the database\n")})
    out = collect_hw_errors(host, **paths(tmp_path))
    assert by_name(out)["ras_mc_ctl"] == {
        "name": "ras_mc_ctl", "status": "unreadable",
        "reason": "ras-mc-ctl --errors exited 2: Can't connect to the database"}


def test_mcelog_log_file_and_client_recorded_outputs(tmp_path):
    log = str(tmp_path / "mcelog.log")
    host = RecordedHost(bins=("mcelog",), files=dict(PROC, **{log: fixture("015.txt"), str(tmp_path / "mcelog"): ""}),
                        outputs={"mcelog --client": (0, fixture("013.txt"), "")})
    out = collect_hw_errors(host, use_ras_mc_ctl=False, **paths(tmp_path))
    assert out["backends"]["mcelog"] == {"installed": True, "device_present": True, "log_present": True,
                                         "service": None}
    recs = [f for f in out["findings"] if f["signature"] == "mcelog.record"]
    assert [(f["source"], f["cpu"], f["bank"]) for f in recs] == [("mcelog_log", 9, 5), ("mcelog_client", 0, 2)]
    assert recs[0]["severity"] == "critical" and recs[0]["mce_status"] == "fa00000000400405"
    assert recs[1]["address"] == "389f000"
    assert "ras_mc_ctl" not in out["sources"]


def test_meminfo_without_hardware_corrupted_and_untainted_kernel(tmp_path):
    out = collect_hw_errors(RecordedHost(files=PROC), use_ras_mc_ctl=False, use_mcelog_client=False,
                            **paths(tmp_path))
    assert out["hardware_corrupted_kb"] is None
    assert by_name(out)["meminfo"] == {
        "name": "meminfo", "status": "read",
        "reason": "no HardwareCorrupted line (kernel without CONFIG_MEMORY_FAILURE)"}
    assert out["taint"]["value"] == 0 and by_name(out)["taint"] == {"name": "taint", "status": "read"}
    assert by_name(out)["edac"]["status"] == "missing"  # no EDAC tree
    assert out["findings"] == []


def test_unreadable_proc_files_are_reasons(tmp_path):
    out = collect_hw_errors(RecordedHost(), use_ras_mc_ctl=False, use_mcelog_client=False,
                            **paths(tmp_path, meminfo_path=str(tmp_path / "no-meminfo"),
                                    tainted_path=str(tmp_path / "no-tainted")))
    assert by_name(out)["meminfo"]["reason"].startswith("cannot read %s" % (tmp_path / "no-meminfo"))
    assert by_name(out)["taint"]["status"] == "unreadable"
    assert out["hardware_corrupted_kb"] is None and out["taint"] is None


def test_edac_counters_become_findings_per_place():
    places = [{"mc": "mc0", "location": "dimm1", "label": "DIMM_A2", "ce_count": 3, "ue_count": 1},
              {"mc": "mc1", "location": "rank0", "label": "", "ce_count": 0, "ue_count": 0}]
    assert [(f["signature"], f["dimm"], f["count"], f["severity"]) for f in edac_findings(places)] == [
        ("edac.ue_count", "DIMM_A2", 1, "critical"), ("edac.ce_count", "DIMM_A2", 3, "warning")]
    assert edac_findings(places)[1]["message"] == "EDAC: 3 corrected errors on DIMM_A2"


def test_bad_arguments_are_refused_before_any_read(tmp_path):
    host = RecordedHost()
    with pytest.raises(CollectError, match="max_records must be at least 1"):
        collect_hw_errors(host, max_records=0, **paths(tmp_path))
    assert host.calls == []
