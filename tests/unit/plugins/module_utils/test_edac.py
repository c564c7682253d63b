"""EDAC sysfs walker (fake trees in tmp_path) and edac-util / sysfs-dump text parser (real outputs)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.edac import (
    EdacParseError, edac_error_locations, parse_edac_text, read_edac_sysfs)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def _write(base, rel, value):
    path = base / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("%s\n" % value)


def make_tree(root, rank=False):
    """A fake EDAC tree shaped like skx_edac/sb_edac's (dimmN) or amd64_edac's (rankN)."""
    kind = "rank" if rank else "dimm"
    for mc in (0, 1):
        _write(root, "mc%d/mc_name" % mc, "Skylake Socket#%d IMC#0" % mc)
        _write(root, "mc%d/size_mb" % mc, 16384)
        _write(root, "mc%d/ce_noinfo_count" % mc, 0)
        _write(root, "mc%d/ue_noinfo_count" % mc, 0)
        for d in (0, 1):
            base = "mc%d/%s%d/" % (mc, kind, d)
            _write(root, base + "dimm_label", "CPU_SrcID#%d_MC#0_Chan#%d_DIMM#0" % (mc, d))
            _write(root, base + "dimm_location", "channel %d slot 0" % d)
            _write(root, base + "size", 8192)
            _write(root, base + "dimm_mem_type", "Registered-DDR4")
            ce = 5 if (mc, d) == (1, 1) else 0
            ue = 1 if (mc, d) == (0, 1) else 0
            _write(root, base + "dimm_ce_count", ce)
            _write(root, base + "dimm_ue_count", ue)
        _write(root, "mc%d/ce_count" % mc, 5 if mc == 1 else 0)
        _write(root, "mc%d/ue_count" % mc, 1 if mc == 0 else 0)
    return root


@pytest.mark.parametrize("rank", [False, True])
def test_sysfs_tree_with_labels(tmp_path, rank):
    root = make_tree(tmp_path / "mc", rank=rank)
    data = read_edac_sysfs(str(root))
    assert data["present"] is True
    assert [c["name"] for c in data["controllers"]] == ["mc0", "mc1"]
    assert data["ce_total"] == 5 and data["ue_total"] == 1
    mod = data["controllers"][1]["modules"][1]
    assert mod["label"] == "CPU_SrcID#1_MC#0_Chan#1_DIMM#0"
    assert mod["kind"] == ("rank" if rank else "dimm")
    assert mod["size"] == 8192 and mod["ce_count"] == 5
    locs = edac_error_locations(data)
    assert {(x["mc"], x["ce_count"], x["ue_count"]) for x in locs} == {("mc1", 5, 0), ("mc0", 0, 1)}
    assert data["errors"] == []


def test_missing_root_is_reported_not_raised(tmp_path):
    data = read_edac_sysfs(str(tmp_path / "nope"))
    assert data["present"] is False
    assert "does not exist" in data["reason"]


def test_empty_root_like_the_lab_guest(tmp_path):
    (tmp_path / "mc").mkdir()
    (tmp_path / "mc" / "power").mkdir()
    data = read_edac_sysfs(str(tmp_path / "mc"))
    assert data["present"] is True and data["controllers"] == []
    assert "no memory controllers" in data["reason"]


def test_legacy_csrow_layout_and_noinfo(tmp_path):
    root = tmp_path / "mc"
    _write(root, "mc0/ce_count", 7)
    _write(root, "mc0/ue_count", 0)
    _write(root, "mc0/ce_noinfo_count", 3)
    _write(root, "mc0/csrow0/ce_count", 4)
    _write(root, "mc0/csrow0/ue_count", 0)
    _write(root, "mc0/csrow0/ch0_ce_count", 4)
    _write(root, "mc0/csrow0/ch0_dimm_label", "DIMM_A1")
    _write(root, "mc0/csrow0/ch1_ce_count", 0)
    data = read_edac_sysfs(str(root))
    locs = edac_error_locations(data)
    assert {"mc": "mc0", "location": "csrow0/ch0", "label": "DIMM_A1", "dimm_location": None,
            "ce_count": 4, "ue_count": 0} in locs
    assert any(x["location"] == "noinfo" and x["ce_count"] == 3 for x in locs)


def test_unreadable_counter_is_listed(tmp_path):
    root = make_tree(tmp_path / "mc")
    bad = root / "mc0" / "ce_count"
    bad.unlink()
    bad.mkdir()  # reading a directory fails with EISDIR
    data = read_edac_sysfs(str(root))
    assert any(e["path"].endswith("mc0/ce_count") for e in data["errors"])


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return fh.read()


def test_real_grep_dump_rank_counts():
    data = parse_edac_text(_fixture("020.txt"))
    assert data["ce_total"] == 1
    assert data["ue_total"] is None
    hit = [e for e in data["entries"] if e["count"]]
    assert [(e["mc"], e["location"]) for e in hit] == [("mc0", "rank4")]


def test_real_edac_util_report_full():
    data = parse_edac_text(_fixture("022.txt"))
    assert data["memory_controllers"] == 4
    assert data["ce_total"] == 0 and data["ue_total"] == 0
    assert data["source"] == "edac-util-report-full"


def test_real_path_value_dump():
    data = parse_edac_text(_fixture("109.txt"))
    assert data["memory_controllers"] == 1
    assert data["ce_total"] == 0 and data["ue_total"] == 0
    assert sum(1 for e in data["entries"] if e["location"].startswith("csrow")) == 8


def test_edac_util_default_no_errors():
    # synthetic: edac-util's one-line answer when all counters are zero
    data = parse_edac_text("edac-util: No errors to report.\n")
    assert data["ce_total"] == 0 and data["ue_total"] == 0


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02", "hello\nworld\n", "", 42])
def test_garbage(garbage):
    with pytest.raises(EdacParseError):
        parse_edac_text(garbage)
