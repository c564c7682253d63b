"""hw_error_info against fake sysfs/proc trees, a real rasdaemon-schema database and real tool outputs."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pteguard.remediation.plugins.modules import hw_error_info

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")

# rasdaemon's mc_event and mce_record tables as ras-record.c creates them (see
# tests/unit/plugins/module_utils/test_rasdaemon.py for the source note).
MC_EVENT = ("id INTEGER PRIMARY KEY, timestamp TEXT, err_count INTEGER, err_type TEXT, err_msg TEXT, label TEXT, "
            "mc INTEGER, top_layer INTEGER, middle_layer INTEGER, lower_layer INTEGER, address INTEGER, "
            "grain INTEGER, syndrome INTEGER, driver_detail TEXT")
MCE_RECORD = ("id INTEGER PRIMARY KEY, timestamp TEXT, mcgcap INTEGER, mcgstatus INTEGER, status INTEGER, "
              "addr INTEGER, misc INTEGER, ip INTEGER, tsc INTEGER, walltime INTEGER, ppin INTEGER, cpu INTEGER, "
              "cpuid INTEGER, apicid INTEGER, socketid INTEGER, cs INTEGER, bank INTEGER, cpuvendor INTEGER, "
              "microcode INTEGER, bank_name TEXT, error_msg TEXT, mcgstatus_msg TEXT, mcistatus_msg TEXT, "
              "mcastatus_msg TEXT, user_action TEXT, mc_location TEXT")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


class Host:
    def __init__(self, bins=(), outputs=None):
        self.bins = set(bins)
        self.outputs = outputs or {}
        self.calls = []

    def get_bin_path(self, module, name, required=False, opt_dirs=None):
        return "/usr/bin/%s" % name if name in self.bins else None

    def run_command(self, module, args, **kwargs):
        assert isinstance(args, list)
        assert kwargs.get("environ_update") == {"LC_ALL": "C"}
        self.calls.append(args)
        key = " ".join([os.path.basename(args[0])] + args[1:])
        return self.outputs.get(key, (4, "", "no such unit"))


def run(monkeypatch, capsys, host, args):
    def get_bin_path(module, *args, **kwargs):
        return host.get_bin_path(module, *args, **kwargs)

    def run_command(module, *args, **kwargs):
        return host.run_command(module, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            hw_error_info.main()
    return exc.value.code, json.loads(capsys.readouterr().out)


def fake_host(tmp_path, edac=True, hwcorrupt=0, taint=0):
    proc = tmp_path / "proc"
    proc.mkdir()
    # synthetic /proc/meminfo lines in the kernel's format
    (proc / "meminfo").write_text("MemTotal:        8039496 kB\nHardwareCorrupted:   %d kB\n" % hwcorrupt)
    (proc / "tainted").write_text("%d\n" % taint)
    mc = tmp_path / "edac" / "mc"
    mc.mkdir(parents=True)
    if edac:
        d = mc / "mc0"
        (d / "dimm0").mkdir(parents=True)
        (d / "dimm1").mkdir()
        for name, val in (("ce_count", 3), ("ue_count", 0), ("ce_noinfo_count", 0), ("mc_name", "Skylake IMC#0")):
            (d / name).write_text("%s\n" % val)
        for dimm, label, ce in (("dimm0", "CPU_SrcID#0_MC#0_Chan#0_DIMM#0", 0),
                                ("dimm1", "CPU_SrcID#0_MC#0_Chan#1_DIMM#0", 3)):
            (d / dimm / "dimm_label").write_text(label + "\n")
            (d / dimm / "dimm_ce_count").write_text("%d\n" % ce)
            (d / dimm / "dimm_ue_count").write_text("0\n")
            (d / dimm / "size").write_text("8192\n")
    return {"edac_root": str(mc), "meminfo_path": str(proc / "meminfo"), "tainted_path": str(proc / "tainted"),
            "rasdaemon_db": str(tmp_path / "ras" / "ras-mc_event.db"), "mcelog_log": str(tmp_path / "mcelog.log"),
            "mcelog_device": str(tmp_path / "dev-mcelog")}


def source(out, name):
    """One entry of the module's sources list (source_status vocabulary)."""
    return next(entry for entry in out["sources"] if entry["name"] == name)


def test_lab_like_host_nothing_but_empty_edac(monkeypatch, capsys, tmp_path):
    """Debian 12 guest: no rasdaemon records, no mcelog device, EDAC without controllers."""
    args = fake_host(tmp_path, edac=False)
    rc, out = run(monkeypatch, capsys, Host(bins=("systemctl",)), args)
    assert rc == 0 and out["changed"] is False
    assert out["findings"] == []
    unread = {u["name"]: u["reason"] for u in out["sources"] if u["status"] != "read"}
    assert "does not exist" in unread["rasdaemon_db"]
    assert unread["ras_mc_ctl"] == "ras-mc-ctl not installed"
    assert unread["mcelog_client"] == "mcelog not installed"
    assert "no memory controllers" in unread["edac"]
    assert out["backends"]["rasdaemon"]["service"] is None  # not installed: systemd is not asked
    assert out["hardware_corrupted_kb"] == 0 and out["taint"]["value"] == 0


def test_edac_taint_and_hwpoison_findings(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, hwcorrupt=4, taint=(1 << 4) | (1 << 12))
    rc, out = run(monkeypatch, capsys, Host(), args)
    cats = sorted((f["category"], f["source"]) for f in out["findings"])
    assert cats == [("machine_check_other", "taint"), ("memory_error_corrected", "edac"),
                    ("memory_page_offlined", "meminfo")]
    edac_f = [f for f in out["findings"] if f["source"] == "edac"][0]
    assert edac_f["dimm"] == "CPU_SrcID#0_MC#0_Chan#1_DIMM#0" and edac_f["count"] == 3
    assert out["taint"]["letters"] == "MO"
    assert out["backends"]["edac"]["controllers"] == 1


def test_rasdaemon_database_read_only(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, edac=False)
    os.makedirs(os.path.dirname(args["rasdaemon_db"]))
    conn = sqlite3.connect(args["rasdaemon_db"])
    conn.execute("CREATE TABLE mc_event (%s)" % MC_EVENT)
    conn.execute("CREATE TABLE mce_record (%s)" % MCE_RECORD)
    conn.execute("INSERT INTO mce_record (timestamp, status, addr, cpu, bank, bank_name, error_msg) VALUES "
                 "(?,?,?,?,?,?,?)", ("2024-05-01 10:00:00 +0000", 0x9C00004000010090 - (1 << 64), 0x12345000, 0, 7,
                                     "Memory Controller", "MEMORY CONTROLLER RD_CHANNEL0_ERR"))
    conn.commit()
    conn.close()
    before = open(args["rasdaemon_db"], "rb").read()
    host = Host(bins=("systemctl", "rasdaemon", "ras-mc-ctl"),
                outputs={"systemctl is-active rasdaemon.service": (0, "active\n", "")})
    rc, out = run(monkeypatch, capsys, host, args)
    assert out["backends"]["rasdaemon"] == {
        "installed": True, "service": "active", "db_path": args["rasdaemon_db"], "db_readable": True,
        "ras_mc_ctl": "/usr/bin/ras-mc-ctl"}
    f = out["findings"]
    assert len(f) == 1 and f[0]["category"] == "memory_error_corrected"
    assert f[0]["mce_status"] == "0x9c00004000010090" and f[0]["address"] == "0x12345000"
    assert out["rasdaemon"]["summary"]["mce_corrected"] == 1
    assert not [c for c in host.calls if "ras-mc-ctl" in c[0]]  # DB read: no need for the CLI
    assert open(args["rasdaemon_db"], "rb").read() == before


def test_ras_mc_ctl_fallback_real_output(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, edac=False)
    host = Host(bins=("ras-mc-ctl",), outputs={"ras-mc-ctl --errors": (0, fixture("104.txt"), "")})
    rc, out = run(monkeypatch, capsys, host, args)
    assert source(out, "ras_mc_ctl") == {"name": "ras_mc_ctl", "status": "read"}
    mem = [f for f in out["findings"] if f["source"] == "ras-mc-ctl"]
    assert len(mem) == 3 and {f["category"] for f in mem} == {"memory_error_corrected"}
    assert out["rasdaemon"]["summary"]["mce"] == 3


def test_ras_mc_ctl_failure_reason(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, edac=False)
    host = Host(bins=("ras-mc-ctl",), outputs={"ras-mc-ctl --errors": (
        1, "", "DBI connect('dbname=/var/lib/rasdaemon/ras-mc_event.db','',...) failed: unable to open database file")})
    rc, out = run(monkeypatch, capsys, host, args)
    reason = source(out, "ras_mc_ctl")["reason"]
    assert reason.startswith("ras-mc-ctl --errors exited 1") and "unable to open database" in reason


def test_mcelog_log_and_client(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, edac=False)
    with open(args["mcelog_log"], "w") as fh:
        fh.write(fixture("015.txt"))
    open(args["mcelog_device"], "w").close()
    host = Host(bins=("mcelog",), outputs={"mcelog --client": (0, fixture("013.txt"), "")})
    rc, out = run(monkeypatch, capsys, host, args)
    assert out["backends"]["mcelog"]["device_present"] is True
    recs = out["mcelog"]["records"]
    assert [r["source"] for r in recs] == ["mcelog_log", "mcelog_client"]
    f = [x for x in out["findings"] if x["source"].startswith("mcelog")]
    assert f[0]["severity"] == "critical" and f[0]["mce_status"] == "fa00000000400405"
    assert f[1]["address"] == "389f000"


def test_mcelog_device_absent_reason(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, edac=False)
    host = Host(bins=("mcelog",))
    rc, out = run(monkeypatch, capsys, host, args)
    assert "CONFIG_X86_MCELOG_LEGACY" in source(out, "mcelog_client")["reason"]
    assert not [c for c in host.calls if "mcelog" in c[0]]  # never run without its device


def test_garbage_sources_are_reasons_not_tracebacks(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path, edac=False)
    with open(args["tainted_path"], "w") as fh:
        fh.write("not-a-number\n")
    with open(args["meminfo_path"], "wb") as fh:
        fh.write(b"\x00\x01\x02")
    os.makedirs(os.path.dirname(args["rasdaemon_db"]))
    with open(args["rasdaemon_db"], "wb") as fh:
        fh.write(b"SQLite format 3\x00" + b"\xff" * 200)
    with open(args["mcelog_log"], "wb") as fh:
        fh.write(b"\x00\x00binary")
    rc, out = run(monkeypatch, capsys, Host(), args)
    assert rc == 0
    srcs = {u["name"] for u in out["sources"] if u["status"] == "unreadable"}
    assert {"taint", "meminfo", "rasdaemon_db", "mcelog_log"} <= srcs
    assert out["taint"] is None and out["hardware_corrupted_kb"] is None


def test_check_mode_is_the_same_read(monkeypatch, capsys, tmp_path):
    args = fake_host(tmp_path)
    args["_ansible_check_mode"] = True
    rc, out = run(monkeypatch, capsys, Host(), args)
    assert rc == 0 and out["changed"] is False
    assert any(f["source"] == "edac" for f in out["findings"])
