"""smartctl parser on real outputs (tests/fixtures/tools, sources in the .meta.json sidecars)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils import smartctl
from ansible_collections.pteguard.remediation.plugins.module_utils.smartctl import (
    SmartctlParseError, decode_exit_status, parse_smartctl, verdict_severity)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def _smart_fixtures():
    out = []
    for name in sorted(os.listdir(FIXTURES)):
        if not name.endswith(".meta.json"):
            continue
        meta = json.load(open(os.path.join(FIXTURES, name)))
        if not meta["tool"].startswith("smartctl"):
            continue
        stem = name[: -len(".meta.json")]
        data = [f for f in os.listdir(FIXTURES) if f.startswith(stem + ".") and not f.endswith("meta.json")][0]
        out.append(pytest.param(os.path.join(FIXTURES, data), meta, id=stem))
    return out


def _load(stem):
    for ext in (".json", ".txt"):
        p = os.path.join(FIXTURES, stem + ext)
        if os.path.exists(p):
            with open(p, encoding="utf-8") as fh:
                return fh.read()
    raise AssertionError(stem)


@pytest.mark.parametrize("path,meta", _smart_fixtures())
def test_verdict_matches_label(path, meta):
    with open(path, encoding="utf-8") as fh:
        report = parse_smartctl(fh.read())
    assert report["verdict"] == meta["verdict"]
    model = meta["expect"].get("device_model") or meta["expect"].get("model")
    if model:
        assert report["model"] == model
    json.dumps(report)  # plain data only


def test_sata_text_counters_and_packed_raw_values():
    r = parse_smartctl(_load("003"))
    assert r["protocol"] == "ATA"
    assert (r["reallocated_sectors"], r["pending_sectors"], r["offline_uncorrectable"]) == (0, 0, 0)
    assert r["power_on_hours"] == 4273
    assert r["reallocation_events"] == 4258  # Seagate packs more data into this raw value
    assert r["command_timeouts"] == 1
    assert r["self_tests"][0]["passed"] is True
    assert r["reasons"] == []


def test_failed_health_without_failing_attribute_is_failing():
    r = parse_smartctl(_load("001"))
    assert r["overall_health"] == "FAILED"
    assert r["failing_attributes"] == []
    assert r["verdict"] == "failing"
    assert verdict_severity(r) == "critical"


def test_nvme_text_with_locale_thousands_separator():
    r = parse_smartctl(_load("007"))
    assert r["protocol"] == "NVMe"
    assert r["power_on_hours"] == 6433
    assert r["percentage_used"] == 1
    assert r["critical_warning"] == 0
    assert r["media_errors"] == 0
    assert r["available_spare"] == 100


def test_nvme_json_media_errors_despite_passed_status():
    r = parse_smartctl(_load("012"))
    assert r["smart_status_passed"] is True
    assert r["media_errors"] == 7
    assert r["error_log_entries"] == 62
    codes = [x["code"] for x in r["reasons"]]
    assert "media_errors" in codes
    assert r["verdict"] == "errors-present"
    assert verdict_severity(r) == "error"


def test_sas_json_grown_defects():
    r = parse_smartctl(_load("101"))
    assert r["protocol"] == "SCSI"
    assert r["grown_defects"] == 56
    assert r["read_uncorrected"] == 0
    assert r["exit_status"] is None  # this fixture has no smartctl block
    assert r["verdict"] == "errors-present"


def test_failing_sata_json_exit_bits_attributes_and_self_tests():
    r = parse_smartctl(_load("102"))
    assert r["exit_status"]["value"] == 216
    assert r["exit_status"]["names"] == ["disk_failing", "prefail_attribute_at_threshold",
                                         "error_log_has_errors", "self_test_log_has_errors"]
    assert r["reallocated_sectors"] == 1975
    assert r["pending_sectors"] == 8
    assert r["failing_attributes"][0]["name"] == "Reallocated_Sector_Ct"
    assert r["self_test_errors"] == 3
    failed = [t for t in r["self_tests"] if t["passed"] is False]
    assert failed[0]["lba"] == 104874784
    assert r["error_log_count"] == 56
    assert r["verdict"] == "failing"


def test_attributes_only_output_is_not_failing():
    r = parse_smartctl(_load("103"))
    assert r["model"] is None and r["smart_status_passed"] is None
    assert r["reallocation_events"] == 2111
    assert r["verdict"] == "healthy"


@pytest.mark.parametrize("rc,names", [
    (0, []),
    (2, ["device_open_failed"]),
    (4, ["smart_command_failed"]),
    (64, ["error_log_has_errors"]),
    (255, [n for _b, n, _d in smartctl.EXIT_STATUS_BITS]),
])
def test_decode_exit_status(rc, names):
    d = decode_exit_status(rc)
    assert d["names"] == names
    assert d["value"] == rc


@pytest.mark.parametrize("bad", [-1, 256, "x", None])
def test_decode_exit_status_rejects(bad):
    with pytest.raises(SmartctlParseError):
        decode_exit_status(bad)


def test_rc_overrides_and_open_failure_is_unreadable():
    # synthetic: shape of smartctl's JSON when the device cannot be opened (no real sample gathered)
    doc = {"json_format_version": [1, 0],
           "smartctl": {"version": [7, 3], "exit_status": 2,
                        "messages": [{"string": "Smartctl open device: /dev/sdz failed: No such device",
                                      "severity": "error"}]},
           "device": {"name": "/dev/sdz", "info_name": "/dev/sdz", "type": "scsi", "protocol": "SCSI"}}
    r = parse_smartctl(json.dumps(doc))
    assert r["verdict"] == "unreadable"
    assert "No such device" in r["reasons"][0]["message"]
    assert verdict_severity(r) == "warning"
    # the process's own exit status wins over the JSON's
    r2 = parse_smartctl(_load("010"), rc=2)
    assert r2["verdict"] == "unreadable"


def test_text_open_failure_is_unreadable():
    # synthetic: the two lines smartctl prints when open() fails
    text = ("smartctl 7.3 2022-02-28 r5338 [x86_64-linux-6.1.0-18-amd64] (local build)\n"
            "Copyright (C) 2002-22, Bruce Allen, Christian Franke, www.smartmontools.org\n\n"
            "Smartctl open device: /dev/sdz failed: No such device\n")
    r = parse_smartctl(text, rc=2)
    assert r["verdict"] == "unreadable"


@pytest.mark.parametrize("garbage", [
    b"\x7fELF\x02\x01\x01\x00\x00\x00\x00",
    "\x01\x02\x03\x04" * 50,
    '{"json_format_version": [1, 0], "smartctl": {"version": [7,',
    "[1, 2, 3]",
    '{"hello": "world"}',
    "",
    "just some unrelated words\nwith no smartctl in them\n",
])
def test_garbage_raises_value_error(garbage):
    with pytest.raises(ValueError):
        parse_smartctl(garbage)


def test_truncated_real_json_raises_clear_error():
    text = _load("012")
    with pytest.raises(SmartctlParseError, match="truncated"):
        parse_smartctl(text[: len(text) // 2])


def test_self_test_progress_ata_nvme_scsi():
    """Real ATA status from fixture 102 (no test running); the running cases are SYNTHETIC edits of the same keys
    (smartctl's JSON names: ata_smart_data.self_test.status, nvme_self_test_log.current_self_test_*,
    scsi_self_test_0.result; values per ATA8-ACS / NVMe / SPC: 15 = in progress)."""
    doc = json.loads(_load("102"))
    assert parse_smartctl(json.dumps(doc))["self_test_in_progress"] is False
    doc["ata_smart_data"]["self_test"]["status"] = {"value": 249, "string": "in progress, 90% remaining",
                                                    "remaining_percent": 90}
    report = parse_smartctl(json.dumps(doc))
    assert report["self_test_in_progress"] is True and report["self_test_remaining_percent"] == 90
    nvme = {"device": {"name": "/dev/nvme0", "protocol": "NVMe"},
            "nvme_self_test_log": {"current_self_test_operation": {"value": 2, "string": "Extended self-test"},
                                   "current_self_test_completion_percent": 30}}
    report = parse_smartctl(json.dumps(nvme))
    assert report["self_test_in_progress"] is True and report["self_test_remaining_percent"] == 70
    scsi = {"device": {"name": "/dev/sda", "protocol": "SCSI"},
            "scsi_self_test_0": {"code": {"value": 2, "string": "Background long"},
                                 "result": {"value": 15, "string": "Self test in progress ..."}}}
    assert parse_smartctl(json.dumps(scsi))["self_test_in_progress"] is True
    assert parse_smartctl(json.dumps({"device": {"name": "/dev/sdb"}}))["self_test_in_progress"] is None
