"""Change IDs, maintenance windows, waves, the audit log, the run database and reproduce scripts (pure functions and
real files/SQLite in tmp_path)."""

from __future__ import annotations

import datetime
import json
import shlex
import sqlite3

import pytest

from pteguard import audit_log, change_control, reproduce_script, run_db

UTC = datetime.timezone.utc


@pytest.mark.parametrize("text", ["CHG-1", "CHG0012345", "INC.2026:11+30_a"])
def test_change_ids_accepted(text):
    assert change_control.change_id(text) == text


@pytest.mark.parametrize("text", ["CHG-1; rm -rf /", "$(id)", "`id`", "a b", "CHG|x", "", "-rf", "x" * 81, "CHG\n1",
                                  "C'1", 'C"1', "C>1", "C&1", "C*", "C\\1"])
def test_change_ids_with_shell_metacharacters_refused(text):
    with pytest.raises(ValueError, match="change ID .* refused"):
        change_control.change_id(text)


def _at(day, hour, minute=0):  # 2026-11-30 is a Monday
    return datetime.datetime(2026, 11, 30, hour, minute, tzinfo=UTC) + datetime.timedelta(days=day)


def test_window_within_a_day():
    spec = change_control.window("20:00-23:00")
    assert change_control.window_open(spec, _at(0, 20))
    assert not change_control.window_open(spec, _at(0, 23))
    assert not change_control.window_open(spec, _at(0, 19, 59))


def test_window_across_midnight_belongs_to_its_start_day():
    spec = change_control.window("Sat 22:00-04:00")
    assert change_control.window_open(spec, _at(5, 23))   # Saturday 23:00
    assert change_control.window_open(spec, _at(6, 3))    # Sunday 03:00, still Saturday's window
    assert not change_control.window_open(spec, _at(6, 23))  # Sunday evening
    assert not change_control.window_open(spec, _at(0, 3))   # Monday 03:00


def test_window_day_ranges():
    assert change_control.window("Mon-Fri 01:00-02:00")["days"] == [0, 1, 2, 3, 4]
    assert change_control.window("Fri-Mon 01:00-02:00")["days"] == [0, 4, 5, 6]
    assert change_control.window_open(None)


@pytest.mark.parametrize("text", ["22-04", "22:00", "25:00-01:00", "10:61-11:00", "10:00-10:00", "Xyz 01:00-02:00",
                                  "tomorrow", "1:00-2:00", "01:00-02:00 ../../etc/localtime", "01:00-02:00 UTC UTC"])
def test_window_in_the_wrong_format(text):
    with pytest.raises(ValueError, match="maintenance window"):
        change_control.window(text)


def test_window_in_a_time_zone_follows_its_daylight_saving():
    spec = change_control.window("Sat 01:00-05:00 Europe/Berlin")
    assert spec["tz"] == "Europe/Berlin" and change_control.window("01:00-02:00")["tz"] == "UTC"
    # winter (CET, UTC+1): Saturday 2026-12-05 01:30 in Berlin is 00:30 UTC
    assert change_control.window_open(spec, _at(5, 0, 30))
    assert not change_control.window_open(spec, _at(5, 4, 30))  # 05:30 in Berlin
    assert not change_control.window_open(spec, _at(4, 23, 30))  # Saturday 00:30 in Berlin: not yet
    # summer (CEST, UTC+2): Saturday 2026-07-04 01:30 in Berlin is Friday 23:30 UTC
    friday = datetime.datetime(2026, 7, 3, 23, 30, tzinfo=UTC)
    assert change_control.window_open(spec, friday)
    assert not change_control.window_open(spec, friday + datetime.timedelta(days=1))  # Sunday 01:30 in Berlin
    assert change_control.window_open(change_control.window("01:00-02:00 UTC"), _at(2, 1, 15))


def test_window_in_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(ValueError, match="time zone 'Mars/Olympus_Mons' is not known"):
        change_control.window("22:00-04:00 Mars/Olympus_Mons")


def test_waves_canary_first_then_percentages():
    hosts = ["h%d" % i for i in range(10)]
    assert change_control.waves(hosts, change_control.serial("1,30%,100%")) == [
        ["h0"], ["h1", "h2", "h3"], ["h4", "h5", "h6", "h7", "h8", "h9"]]
    assert change_control.waves(hosts[:3], change_control.serial("1")) == [["h0"], ["h1"], ["h2"]]


@pytest.mark.parametrize("text", ["0", "1,,2", "101%", "a", "-1", "0%"])
def test_serial_refused(text):
    with pytest.raises(ValueError, match="--serial"):
        change_control.serial(text)


@pytest.mark.parametrize("text", ["101", "-1", "x", "50%"])
def test_max_fail_percentage_refused(text):
    with pytest.raises(ValueError, match="--max-fail-percentage"):
        change_control.percentage(text)


def test_audit_log_lines_and_torn_last_line(tmp_path):
    log = audit_log.AuditLog(str(tmp_path), "r1", "alice", "CHG-1")
    log.write("start", host="h", step="hw_monitor")
    log.write("finish", host="h", step="hw_monitor", result="ok")
    with open(tmp_path / audit_log.FILE, "a") as handle:
        handle.write('{"action": "sta')  # what a kill mid-write leaves
    entries = audit_log.read(str(tmp_path))
    assert [(e["action"], e["who"], e["change_id"], e["host"], e["result"]) for e in entries] == [
        ("start", "alice", "CHG-1", "h", None), ("finish", "alice", "CHG-1", "h", "ok")]
    assert all(e["time"].endswith("Z") for e in entries)


def _plan():
    return {"digest": "d" * 64, "hosts": [
        {"host": "a", "state": "planned", "evidence": {"sha256": "1"}, "steps": [{"step": "memory_test"},
                                                                                 {"step": "hw_monitor"}]},
        {"host": "b", "state": "not_evaluated", "message": "unreachable", "evidence": {"sha256": "2"},
         "steps": []}]}


def test_run_db_records_steps_and_jumps(tmp_path):
    db = run_db.RunDB(str(tmp_path))
    db.create_run("r1", "alice", "CHG-1", _plan(), {"serial": [1]}, str(tmp_path / "r1"))
    assert [(h["host"], h["state"]) for h in db.hosts("r1")] == [("a", "planned"), ("b", "not_evaluated")]
    db.start_steps("r1", [("a", 0)])
    assert db.requeue_running("r1") == [("a", "memory_test")]
    db.finish_step("r1", "a", 0, "done", outcome="errors", host_state="replace_dimm", then=[])
    assert [(s["step"], s["status"]) for s in db.steps("r1", "a")] == [("memory_test", "done"),
                                                                       ("hw_monitor", "dropped")]
    assert db.next_step("r1", "a") is None
    assert db.host_state("r1", "a") == "replace_dimm"
    db.close()
    again = run_db.RunDB(str(tmp_path))  # what a new process sees
    assert again.run("r1")["change_id"] == "CHG-1"
    assert json.loads(again.run("r1")["plan"])["digest"] == "d" * 64


def test_run_db_transaction_is_all_or_nothing(tmp_path):
    db = run_db.RunDB(str(tmp_path))
    db.create_run("r1", "alice", "CHG-1", _plan(), {}, str(tmp_path / "r1"))
    with pytest.raises(sqlite3.IntegrityError):
        db.create_run("r1", "bob", "CHG-2", _plan(), {}, str(tmp_path / "r1"))  # same id: the whole insert fails
    assert [r["who"] for r in db.runs()] == ["alice"]
    assert len(db.steps("r1")) == 2


def test_reproduce_script_quotes_inventory_data(tmp_path):
    host = "web1;touch /tmp/pwned"
    path = reproduce_script.write(str(tmp_path), "x.sh", "r1", "CHG-1", host, "hw_monitor",
                                  "pteguard.remediation.hw_monitor", ["/inv $(id).yml"], {"a": "b'c"},
                                  {"ANSIBLE_CONFIG": "/etc/a b.cfg", "SECRET": "no"}, "failed\nrm -rf /")
    text = open(path).read()
    assert "SECRET" not in text
    command = [line for line in text.splitlines() if line.startswith("exec ")][0]
    words = shlex.split(command[len("exec "):])
    assert words[1:] == ["-i", "/inv $(id).yml", "--limit", host, "-e", '{"a": "b\'c"}',
                         "pteguard.remediation.hw_monitor"]
    assert "# It failed with: failed rm -rf /" in text  # the message stays one comment line
    assert "export ANSIBLE_CONFIG='/etc/a b.cfg'" in text
