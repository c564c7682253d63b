"""rasdaemon: a real SQLite database with rasdaemon's schema (taken from ras-record.c, below) and real
ras-mc-ctl outputs."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.rasdaemon import (
    RasdaemonError, db_findings, memory_location, parse_mc_location, parse_ras_mc_ctl, ras_mc_ctl_findings,
    read_rasdaemon_db, summarize_db)


# --- rasdaemon's schema -------------------------------------------------------------
# rasdaemon's SQLite schema, for building real databases in tests.

# Column names and types are taken from rasdaemon's public source, ras-record.c (the
# ``*_fields[]`` tables that ras_mc_create_table() turns into ``CREATE TABLE IF NOT EXISTS``):
# the current layout (db/ras-record.c, with ppin/microcode in mce_record, dev_name in
# aer_event, disk_errors, memory_failure_event, devlink_event) and the older one of
# mchehab/rasdaemon commit 5662e5376adcc45da43d7818c8ac1882883c18ac (no ppin/microcode,
# no dev_name, no disk/devlink/memory-failure tables). INTEGER PRIMARY KEY id as rasdaemon does.


CURRENT = {
    "mc_event": "id INTEGER PRIMARY KEY, timestamp TEXT, err_count INTEGER, err_type TEXT, err_msg TEXT, "
                "label TEXT, mc INTEGER, top_layer INTEGER, middle_layer INTEGER, lower_layer INTEGER, "
                "address INTEGER, grain INTEGER, syndrome INTEGER, driver_detail TEXT",
    "aer_event": "id INTEGER PRIMARY KEY, timestamp TEXT, dev_name TEXT, err_type TEXT, err_msg TEXT",
    "extlog_event": "id INTEGER PRIMARY KEY, timestamp TEXT, etype INTEGER, error_count INTEGER, "
                    "severity INTEGER, address INTEGER, fru_id BLOB, fru_text TEXT, cper_data BLOB",
    "mce_record": "id INTEGER PRIMARY KEY, timestamp TEXT, mcgcap INTEGER, mcgstatus INTEGER, status INTEGER, "
                  "addr INTEGER, misc INTEGER, ip INTEGER, tsc INTEGER, walltime INTEGER, ppin INTEGER, "
                  "cpu INTEGER, cpuid INTEGER, apicid INTEGER, socketid INTEGER, cs INTEGER, bank INTEGER, "
                  "cpuvendor INTEGER, microcode INTEGER, bank_name TEXT, error_msg TEXT, mcgstatus_msg TEXT, "
                  "mcistatus_msg TEXT, mcastatus_msg TEXT, user_action TEXT, mc_location TEXT",
    "devlink_event": "id INTEGER PRIMARY KEY, timestamp TEXT, bus_name TEXT, dev_name TEXT, driver_name TEXT, "
                     "reporter_name TEXT, msg TEXT",
    "disk_errors": "id INTEGER PRIMARY KEY, timestamp TEXT, dev TEXT, sector INTEGER, nr_sector INTEGER, "
                   "error TEXT, rwbs TEXT, cmd TEXT",
    "memory_failure_event": "id INTEGER PRIMARY KEY, timestamp TEXT, pfn TEXT, page_type TEXT, action_result TEXT",
}

OLD_5662E53 = {
    "mc_event": CURRENT["mc_event"],
    "aer_event": "id INTEGER PRIMARY KEY, timestamp TEXT, err_type TEXT, err_msg TEXT",
    "mce_record": "id INTEGER PRIMARY KEY, timestamp TEXT, mcgcap INTEGER, mcgstatus INTEGER, status INTEGER, "
                  "addr INTEGER, misc INTEGER, ip INTEGER, tsc INTEGER, walltime INTEGER, cpu INTEGER, "
                  "cpuid INTEGER, apicid INTEGER, socketid INTEGER, cs INTEGER, bank INTEGER, "
                  "cpuvendor INTEGER, bank_name TEXT, error_msg TEXT, mcgstatus_msg TEXT, mcistatus_msg TEXT, "
                  "mcastatus_msg TEXT, user_action TEXT, mc_location TEXT",
}


def schema_create(conn, schema):
    for table, cols in schema.items():
        conn.execute("CREATE TABLE IF NOT EXISTS %s (%s)" % (table, cols))


def schema_to_signed(value):
    """rasdaemon binds 64-bit registers with sqlite3_bind_int64: values >= 2**63 are stored negative."""
    return value - (1 << 64) if value >= 1 << 63 else value


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def build_db(path, layout=None, mce_status=0x9C00004000010090):
    conn = sqlite3.connect(str(path))
    schema_create(conn, layout or CURRENT)
    # The values below are those the lab's injected corrected memory read produces
    # (status/addr from LAB.md's QEMU 'mce 0 7 0x9c00004000010090 0x0 0x12345000 0x8c').
    conn.execute("INSERT INTO mc_event (timestamp, err_count, err_type, err_msg, label, mc, top_layer, "
                 "middle_layer, lower_layer, address, grain, syndrome, driver_detail) VALUES "
                 "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 ("2024-05-01 10:00:00 +0000", 1, "Corrected", "memory read error", "DIMM_A1", 0, 0, 0, -1,
                  0x12345000, 64, 0, "area:DRAM"))
    conn.execute("INSERT INTO mc_event (timestamp, err_count, err_type, err_msg, label, mc, top_layer, "
                 "middle_layer, lower_layer, address, grain, syndrome, driver_detail) VALUES "
                 "(?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 ("2024-05-01 10:05:00 +0000", 2, "Uncorrected", "memory scrubbing error", "DIMM_B1", 0, 1, 0,
                  -1, 0x30000000, 64, 0, ""))
    cols = "timestamp, mcgcap, mcgstatus, status, addr, misc, cpu, bank, bank_name, error_msg, mc_location"
    conn.execute("INSERT INTO mce_record (%s) VALUES (?,?,?,?,?,?,?,?,?,?,?)" % cols,
                 ("2024-05-01 10:00:00 +0000", 0x0F000C1C, 0, schema_to_signed(mce_status), 0x12345000, 0x8C,
                  0, 7, "Memory Controller", "MEMORY CONTROLLER RD_CHANNEL0_ERR", "memory_channel=0"))
    if "memory_failure_event" in (layout or CURRENT):
        conn.execute("INSERT INTO memory_failure_event (timestamp, pfn, page_type, action_result) VALUES "
                     "(?,?,?,?)", ("2024-05-01 10:06:00 +0000", "0x30000", "dirty LRU page", "Recovered"))
        conn.execute("INSERT INTO disk_errors (timestamp, dev, sector, nr_sector, error, rwbs, cmd) VALUES "
                     "(?,?,?,?,?,?,?)", ("2024-05-01 11:00:00 +0000", "8:0", 2048, 8, "critical medium error",
                                         "R", ""))
        conn.execute("INSERT INTO extlog_event (timestamp, etype, error_count, severity, address, fru_id, "
                     "fru_text, cper_data) VALUES (?,?,?,?,?,?,?,?)",
                     ("2024-05-01 12:00:00 +0000", 2, 1, 2, 0x4000, b"\x01" * 16, "DIMM_A1", b"\xff\x00"))
    conn.commit()
    conn.close()
    return str(path)


def test_current_schema_all_tables(tmp_path):
    db = build_db(tmp_path / "ras-mc_event.db")
    before = hashlib.sha256(open(db, "rb").read()).hexdigest()
    data = read_rasdaemon_db(db)
    json.dumps(data)
    assert data["tables"]["mc_event"]["count"] == 2
    assert data["missing_tables"] == ["arm_event", "non_standard_event"]
    mce = data["tables"]["mce_record"]["records"][0]
    assert mce["status"] == 0x9C00004000010090  # unsigned again
    assert data["tables"]["extlog_event"]["records"][0]["fru_id"] == "01" * 16
    s = summarize_db(data)
    assert (s["memory_ce"], s["memory_ue"]) == (1, 2)
    assert s["by_label"]["DIMM_B1"] == {"ce": 0, "ue": 2}
    assert (s["mce_corrected"], s["mce_uncorrected"], s["memory_failure"], s["disk_errors"]) == (1, 0, 1, 1)
    cats = sorted(f["category"] for f in db_findings(data))
    assert cats == ["block_io_error", "memory_error_corrected", "memory_error_corrected",
                    "memory_error_corrected", "memory_error_uncorrected", "memory_page_offlined"]
    # read-only: nothing written, no journal left behind
    assert hashlib.sha256(open(db, "rb").read()).hexdigest() == before
    assert sorted(os.listdir(tmp_path)) == ["ras-mc_event.db"]


def test_old_schema_missing_columns_and_tables(tmp_path):
    db = build_db(tmp_path / "old.db", layout=OLD_5662E53, mce_status=0xBE00000000000090)
    data = read_rasdaemon_db(db)
    assert "ppin" in data["missing_columns"]["mce_record"]
    assert data["missing_columns"]["aer_event"] == ["dev_name"]
    assert "memory_failure_event" in data["missing_tables"]
    rec = data["tables"]["mce_record"]["records"][0]
    assert rec["microcode"] is None
    f = [x for x in db_findings(data) if x["signature"] == "rasdaemon.mce_record"][0]
    assert f["category"] == "memory_error_uncorrected" and f["severity"] == "critical"


def test_max_records_newest_first(tmp_path):
    db = build_db(tmp_path / "r.db")
    data = read_rasdaemon_db(db, max_records=1)
    t = data["tables"]["mc_event"]
    assert t["count"] == 2 and t["truncated"] is True
    assert t["records"][0]["label"] == "DIMM_B1"


def test_missing_file(tmp_path):
    with pytest.raises(RasdaemonError, match="does not exist"):
        read_rasdaemon_db(str(tmp_path / "absent.db"))
    assert not (tmp_path / "absent.db").exists()  # mode=ro never creates it


def test_not_a_database(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"\x7fELF" + os.urandom(2048))
    with pytest.raises(RasdaemonError):
        read_rasdaemon_db(str(junk))


def _fixture(name):
    with open(os.path.join(FIXTURES, name)) as fh:
        return fh.read()


def test_errors_amd_umc_mce():
    p = parse_ras_mc_ctl(_fixture("016.txt"))
    ev = p["sections"]["mce"]["events"][0]
    assert ev["time"] is None  # printed as '..'
    # ", CPU 2" is ras-mc-ctl printing mce_record.cpuvendor (2: AMD); cpu= is printed only when not 0
    assert (ev["cpu_vendor"], ev["cpu"], ev["bank"], ev["bank_name"]) == (2, 0, 21, "Unified Memory Controller")
    assert ev["status"] == "0xdc2040000400011b" and ev["addr"] == "0x7d41b7940"
    assert (ev["memory_channel"], ev["csrow"]) == (0, 2)
    assert ev["corrected"] is True and ev["category"] == "memory_error_corrected"
    assert p["sections"]["memory"]["empty"] is True


def test_errors_three_events():
    p = parse_ras_mc_ctl(_fixture("104.txt"))
    assert p["totals"]["mce"] == 3
    fs = ras_mc_ctl_findings(p)
    assert len(fs) == 3
    assert all(f["address"] == "0x319deb440" and f["line"] >= 16 for f in fs)
    assert p["sections"]["memory_failure"]["empty"] is True


def test_summary_no_errors_and_mce_summary():
    p = parse_ras_mc_ctl(_fixture("018.txt"))
    assert p["totals"] == {"memory": 0, "aer": 0, "extlog": 0, "mce": 0}
    assert ras_mc_ctl_findings(p) == []
    p = parse_ras_mc_ctl(_fixture("106.txt"))
    assert p["totals"]["mce"] == 1
    assert p["sections"]["mce"]["summary"][0]["type"] == "Corrected error, no action required."


def test_error_count_table():
    p = parse_ras_mc_ctl(_fixture("105.txt"))
    assert len(p["error_count"]) == 8
    assert p["ce_total"] == 5539 and p["ue_total"] == 0
    f = ras_mc_ctl_findings(p)
    assert f[0]["dimm"] == "CPU_SrcID#1_Ha#0_Chan#0_DIMM#0" and f[0]["count"] == 5539


def test_wrapped_record_is_rejoined():
    # synthetic wrapping of fixture 104's first event over two lines (as terminals/pastes do)
    line = _fixture("104.txt").splitlines()[15]
    cut = line.index(" mcgcap=")
    text = "MCE events:\n%s\n%s\n" % (line[:cut], line[cut + 1:])
    ev = parse_ras_mc_ctl(text)["sections"]["mce"]["events"]
    assert len(ev) == 1 and ev[0]["status"] == "0x9c2040000000011b"


@pytest.mark.parametrize("garbage", [b"\x00\x00", "lorem ipsum\n", "", None])
def test_garbage(garbage):
    with pytest.raises(RasdaemonError):
        parse_ras_mc_ctl(garbage)


# --- mc_location is not a DIMM label -------------------------------------------------

def _mce_db(tmp_path, mc_location, socketid=0):
    """One mce_record row as rasdaemon 0.6.8 on the lab's Debian 12 guest stores the QEMU-injected corrected
    memory read (status 0x9c00004000010090, bank 7, addr 0x12345000): mce-intel.c writes the MCi_STATUS
    corrected-error count (bits 52:38 = 1) into mc_location as "n_errors=1"; no iMC decoder names a channel
    for bank 7 of the Skylake model the lab CPU claims."""
    path = tmp_path / "ras-mc_event.db"
    conn = sqlite3.connect(str(path))
    schema_create(conn, CURRENT)
    cols = "timestamp, mcgcap, mcgstatus, status, addr, misc, cpu, socketid, bank, bank_name, error_msg, " \
           "cpuvendor, mc_location"
    conn.execute("INSERT INTO mce_record (%s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)" % cols,
                 ("2026-11-30 10:00:00 +0000", 0x0F000C1C, 0, schema_to_signed(0x9C00004000010090), 0x12345000,
                  0x8C, 0, socketid, 7, "Memory Controller", "MEMORY CONTROLLER RD_CHANNEL0_ERR", 0, mc_location))
    conn.commit()
    conn.close()
    return read_rasdaemon_db(str(path))


def test_n_errors_is_a_count_not_a_dimm(tmp_path):
    finding = db_findings(_mce_db(tmp_path, "n_errors=1"))[0]
    assert finding["category"] == "memory_error_corrected"
    assert "dimm" not in finding and finding["count"] == 1
    assert finding["mc_location"] == "n_errors=1"


@pytest.mark.parametrize("mc_location, socket, location", [
    ("n_errors=1", 0, None),
    ("memory_channel=0,csrow=1", 0, "channel0/csrow1"),          # AMD SMCA (mce-amd-smca.c)
    ("n_errors=3 memory_channel=2 rank=1", 1, "socket1/channel2/rank1"),  # Intel iMC (mce-intel-*.c)
    ("n_errors=3 memory_channel=2 ranks=0 and 1", 0, "channel2/ranks0+1"),
    ("channel=1, dimm=0", 0, "channel1/dimm0"),                  # Nehalem (mce-intel-nehalem.c)
    ("memory_channel=unspecified", 0, None),                     # Knights Landing
])
def test_mc_location_gives_a_location_path(tmp_path, mc_location, socket, location):
    assert memory_location(parse_mc_location(mc_location), socket) == location
    finding = db_findings(_mce_db(tmp_path, mc_location, socket))[0]
    assert finding.get("dimm") == location
    assert "=" not in (finding.get("dimm") or "")


def test_ras_mc_ctl_mce_location_from_real_outputs():
    for name, location in (("016.txt", "channel0/csrow2"), ("104.txt", "channel0/csrow1")):
        for finding in ras_mc_ctl_findings(parse_ras_mc_ctl(_fixture(name))):
            assert finding["dimm"] == location, name


def test_error_count_labels_are_the_edac_labels():
    labels = [f["dimm"] for f in ras_mc_ctl_findings(parse_ras_mc_ctl(_fixture("105.txt")))]
    assert labels == ["CPU_SrcID#1_Ha#0_Chan#0_DIMM#0"]


def test_mc_event_without_label_is_located_by_its_layers(tmp_path):
    path = tmp_path / "ras-mc_event.db"
    conn = sqlite3.connect(str(path))
    schema_create(conn, CURRENT)
    conn.execute("INSERT INTO mc_event (timestamp, err_count, err_type, err_msg, label, mc, top_layer, "
                 "middle_layer, lower_layer) VALUES (?,?,?,?,?,?,?,?,?)",
                 ("2024-05-01 10:00:00 +0000", 1, "Corrected", "read error", "", 0, 1, 0, -1))
    conn.commit()
    conn.close()
    finding = db_findings(read_rasdaemon_db(str(path)))[0]
    assert finding["dimm"] == "mc0/1:0"


def test_lab_guest_ras_mc_ctl_n_errors_is_a_count():
    """real: rasdaemon 0.6.8 on the lab's Debian 12 guest, the QEMU-injected corrected MCE (110)."""
    parsed = parse_ras_mc_ctl(_fixture("110.txt"))
    ev = parsed["sections"]["mce"]["events"][0]
    assert (ev["n_errors"], ev["bank"], ev["cpu"], ev["cpu_vendor"], ev["location"]) == (1, 7, 0, None, None)
    finding = ras_mc_ctl_findings(parsed)[0]
    assert finding["category"] == "memory_error_corrected" and finding["count"] == 1
    assert "dimm" not in finding
