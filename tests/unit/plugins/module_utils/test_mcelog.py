"""mcelog text parser on real records (fixtures 013, 015, 107, 108)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.mcelog import (
    McelogParseError, classify_record, decode_status, parse_mcelog)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return fh.read()


def test_corrected_with_address():
    r = parse_mcelog(_fixture("013.txt"))["records"]
    assert len(r) == 1
    assert (r[0]["cpu"], r[0]["bank"], r[0]["address"]) == (0, 2, "389f000")
    assert r[0]["uncorrected"] is False
    assert r[0]["time"] == 1462783860


def test_uncorrected_pcc_internal_error():
    out = parse_mcelog(_fixture("015.txt"))
    assert out["messages"] == ["failed to prefill DIMM database from DMI data", "mcelog read: No such device"]
    r = out["records"][0]
    assert (r["cpu"], r["bank"], r["socket"], r["status"]) == (9, 5, 1, "fa00000000400405")
    assert r["uncorrected"] is True and r["processor_context_corrupt"] is True
    assert (r["cpu_vendor"], r["cpu_family"], r["cpu_model"]) == ("Intel", 6, 47)
    assert r["decoded_status"]["mcacod_class"] == "internal_unclassified"
    assert (r["category"], r["severity"]) == ("machine_check_other", "critical")
    json.dumps(out)


def test_uncorrected_without_address():
    r = parse_mcelog(_fixture("107.txt"))["records"][0]
    assert r["tsc"] == "41cc435c49086" and r["address"] is None
    assert r["uncorrected"] is True


def test_syslog_prefixed_partial_records():
    out = parse_mcelog(_fixture("108.txt"))
    assert len(out["records"]) == 2
    first, second = out["records"]
    assert first["partial"] is True and first["status"] == "900000400009008f"
    assert first["category"] == "memory_error_corrected"
    assert first["socket"] == 2
    assert (second["mce"], second["cpu"], second["bank"]) == (15, 2, 9)
    assert second["partial"] is True


@pytest.mark.parametrize("status,flags,kind,unc", [
    ("0x9c00004000010090", ["VAL", "EN", "MISCV", "ADDRV"], "memory", False),
    ("bd000000000000c0", ["VAL", "UC", "EN", "MISCV", "ADDRV", "S"], "memory", True),
    (0xBE00000000000090, ["VAL", "UC", "EN", "MISCV", "ADDRV", "PCC"], "memory", True),
    ("fa00000000400405", ["VAL", "OVER", "UC", "EN", "MISCV", "PCC"], "other", True),
])
def test_decode_status(status, flags, kind, unc):
    d = decode_status(status)
    assert d["flags"] == flags and d["kind"] == kind and d["uncorrected"] is unc


def test_classify_amd_umc_by_bank_name():
    rec = {"decoded_status": decode_status("0x9c2040000000011b"), "bank_name": "Unified Memory Controller"}
    assert classify_record(rec) == ("memory_error_corrected", "warning")


def test_empty_output_means_no_records():
    assert parse_mcelog("") == {"records": [], "messages": []}


@pytest.mark.parametrize("garbage", [b"\x00\xff\x00", "nothing to see here\n", 3.5])
def test_garbage(garbage):
    with pytest.raises(McelogParseError):
        parse_mcelog(garbage)


def test_bad_status_value():
    with pytest.raises(ValueError):
        decode_status("zz")
