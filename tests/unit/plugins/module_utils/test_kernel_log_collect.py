"""The kernel-log collector core driven by recorded real journalctl and dmesg outputs (tests/fixtures/logs, each
with its public source in the .json beside it) and by real files in tmp_path (kern.log, crash dumps, pstore).

machine_check_other-cache_corrected-journal-nuc.log: a Home Assistant NUC's journal (journalctl output);
pte_corruption-pf_reserved_bit-dmesg-5.7.log and pte_corruption-bad_pud-riscv-6.1.log: dmesg outputs.
"""

from __future__ import annotations

import gzip
import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError
from ansible_collections.pteguard.remediation.plugins.module_utils.host_facts import read_host_facts
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_log_collect import (
    collect_kernel_log, kernel_identity, unread_warning)

from .recorded_host import RecordedHost

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")
HOST = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "host")
JOURNAL = "machine_check_other-cache_corrected-journal-nuc.log"
DMESG = "pte_corruption-pf_reserved_bit-dmesg-5.7.log"
CURSOR = "s=6f0c2d;i=1a2b;b=9e1;m=3f;t=5e;x=77"
JOURNAL_ARGV = "journalctl -k -b 0 -o short-iso-precise --no-pager -q -n 500000"
CURSOR_ARGV = "journalctl -k -b 0 -n 1 -o json --no-pager -q"


def log(name):
    with open(os.path.join(LOGS, name), "rb") as handle:
        return handle.read()


def expected(name):
    with open(os.path.join(LOGS, name[:-len(".log")] + ".json"), encoding="utf-8") as handle:
        return json.load(handle)


def nothing_else(tmp_path):
    """Options pointing the file sources at empty tmp_path places, so only what a test records is read."""
    return {"kern_log_paths": [str(tmp_path / "kern.log")], "crash_dir": str(tmp_path / "crash"),
            "pstore_dirs": [str(tmp_path / "pstore")]}


def journal_host(**more):
    outputs = {CURSOR_ARGV: (0, json.dumps({"__CURSOR": CURSOR, "MESSAGE": "x"}) + "\n", ""),
               JOURNAL_ARGV: (0, log(JOURNAL), "")}
    outputs.update(more)
    return RecordedHost(bins=("journalctl", "grep", "zgrep", "dmesg"), outputs=outputs)


def test_journal_is_read_with_its_cursor_and_files_are_not(tmp_path):
    host = journal_host()
    out = collect_kernel_log(host, **nothing_else(tmp_path))
    assert out["cursor"] == CURSOR
    journal = [s for s in out["sources"] if s["name"] == "journal"]
    assert journal == [{"name": "journal", "boot": 0, "status": "read", "findings": out["summary"]["findings"]}]
    assert set(out["summary"]["by_category"]) == set(expected(JOURNAL)["labels"])
    assert all(f["source"] == "journal" and f["boot"] == 0 for f in out["findings"])
    # the journal had kernel messages: dmesg and kern.log are not read (auto), crash and pstore always are
    assert not any(c[0].endswith("dmesg") for c in host.calls)
    assert {s["name"]: s["status"] for s in out["sources"][1:]} == {"crash": "missing", "pstore": "missing"}
    assert unread_warning(out["sources"]) is None


def test_without_journal_dmesg_and_kern_log_are_read(tmp_path):
    (tmp_path / "kern.log").write_bytes(log("pte_corruption-bad_pud-riscv-6.1.log"))
    host = RecordedHost(bins=("journalctl", "dmesg"), outputs={
        CURSOR_ARGV: (0, "", ""),  # journald holds nothing for this boot (a container)
        "dmesg": (0, log(DMESG), ""),
    })
    out = collect_kernel_log(host, engine="python", **nothing_else(tmp_path))
    status = {(s["name"], s.get("path")): s["status"] for s in out["sources"]}
    assert status[("journal", None)] == "empty"
    assert status[("dmesg", None)] == "read"
    assert status[("kern_log", str(tmp_path / "kern.log"))] == "read"
    by_source = {}
    for finding in out["findings"]:
        by_source.setdefault(finding["source"], set()).add(finding["category"])
    assert "pte_corruption" in by_source["dmesg"]
    assert by_source["dmesg"] <= set(expected(DMESG)["labels"])
    assert "pte_corruption" in by_source[str(tmp_path / "kern.log")]
    assert "cursor" not in out


def test_a_dmesg_that_fails_is_unreadable_and_the_host_warned(tmp_path):
    host = RecordedHost(bins=("dmesg",), outputs={
        "dmesg": (1, b"", "dmesg: read kernel buffer failed: Operation not permitted\n")})
    out = collect_kernel_log(host, sources=["dmesg"])
    assert out["sources"] == [{"name": "dmesg", "status": "unreadable",
                               "reason": "dmesg exited with 1: dmesg: read kernel buffer failed: "
                                         "Operation not permitted"}]
    assert out["summary"]["findings"] == 0 and out["summary"]["sources_read"] == 0
    assert "no kernel-log source could be read: dmesg: dmesg exited with 1" in unread_warning(out["sources"])


def test_a_rejected_since_fails_instead_of_reading_another_range(tmp_path):
    since = "s=not-a-cursor"
    host = journal_host(**{"journalctl -k -n 1 -o cat --no-pager -q --after-cursor=" + since: (
        1, b"", "Failed to seek to cursor: Invalid argument\n")})
    with pytest.raises(CollectError) as info:
        collect_kernel_log(host, since=since, **nothing_else(tmp_path))
    assert str(info.value) == ("journalctl rejected since=%s (read as a cursor): Failed to seek to cursor: "
                               "Invalid argument" % since)
    assert info.value.details == {"since": since}
    assert not any("short-iso-precise" in c for call in host.calls for c in call), "the log was read anyway"


def test_pstore_and_crash_records_survive_a_journal_that_fills_the_cap(tmp_path):
    pstore = tmp_path / "pstore"
    pstore.mkdir()
    (pstore / "dmesg-efi-1").write_bytes(log(DMESG))
    crash = tmp_path / "crash" / "202401010000"
    crash.mkdir(parents=True)
    (crash / "dmesg.202401010000").write_bytes(gzip.decompress(gzip.compress(log(DMESG))))
    host = journal_host()
    options = nothing_else(tmp_path)
    options["max_findings"] = 3
    out = collect_kernel_log(host, engine="python", **options)
    sources = {f["source"] for f in out["findings"]}
    assert str(pstore / "dmesg-efi-1") in sources and str(crash / "dmesg.202401010000") in sources, sources
    assert out["summary"]["findings_returned"] == 3
    assert out["summary"]["findings_dropped"] == out["summary"]["findings"] - 3 > 0


@pytest.mark.parametrize("bad, message", [({"boots": 0}, "boots must be 1 or more"),
                                          ({"max_lines": 0}, "max_lines is out of range: 0"),
                                          ({"sources": ["syslog"]}, "unknown kernel-log sources: syslog")])
def test_bad_options_are_refused(bad, message):
    with pytest.raises(CollectError, match=message):
        collect_kernel_log(RecordedHost(), **bad)


def test_engine_grep_without_grep_is_refused():
    with pytest.raises(CollectError, match="grep is not installed"):
        collect_kernel_log(RecordedHost(), engine="grep", sources=["kern_log"])


def test_host_facts_are_read_through_the_host():
    with open(os.path.join(HOST, "meminfo-aarch64-rpi5.txt"), encoding="utf-8") as m, \
            open(os.path.join(HOST, "cpuinfo-aarch64-rpi5.txt"), encoding="utf-8") as c:
        host = RecordedHost(files={"/proc/meminfo": m.read(), "/proc/cpuinfo": c.read()}, machine="aarch64")
    facts = read_host_facts(host)
    assert facts["arch"] == "aarch64" and facts["phys_bits_source"] == "assumed"
    kernel = kernel_identity(host, facts)
    assert kernel["release"] == "6.1.0-recorded" and kernel["machine"] == "aarch64"
    assert kernel["memory_bytes"] == facts["memory_bytes"] > 0
