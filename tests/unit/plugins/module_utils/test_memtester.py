"""memtester output parser, verdict and sizing, on real memtester outputs."""

from __future__ import annotations

import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.memtester import (
    MemtesterParseError, apply_backspaces, decode_exit, loops_completed, parse_memtester, plan_size_mb, verdict)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")


def fixture(*parts):
    with open(os.path.join(FIXTURES, *parts), encoding="utf-8") as fh:
        return fh.read()


def test_failure_on_the_tests_own_progress_line_is_attributed_to_that_test():
    parsed = parse_memtester(fixture("memory_test", "memtester-4.3.0-failure-lima-memtester.txt"))
    assert parsed["version"] == "4.3.0"
    assert parsed["got_bytes"] == 1468006400 and parsed["locked"] is True
    assert parsed["loops_started"] == 1 and parsed["loops_planned"] is None
    assert len(parsed["failures"]) == 4
    first = parsed["failures"][0]
    assert first == {"test": "Solid Bits", "loop": 1, "kind": "mismatch", "expected": "0xffffffff",
                     "actual": "0xffffff00", "where": "offset", "address": "0x099e03bc"}
    assert [t["name"] for t in parsed["tests"] if t["status"] == "failed"] == ["Solid Bits"]
    assert sum(t["status"] == "ok" for t in parsed["tests"]) == 9
    assert parsed["done"] is False
    v = verdict(parsed, 4)
    assert v["result"] == "failed"
    assert v["addresses"][:2] == ["0x099e03bc", "0x099e03c0"]
    assert "a data-pattern test failed" in v["reasons"]


def test_passing_run_recorded_in_the_lab():
    text = fixture("memory_test", "memtester-4.6.0-pass-lab.txt")
    assert "\b" in text  # the real progress spinner is in the capture
    parsed = parse_memtester(text)
    assert parsed["version"] == "4.6.0"
    assert parsed["done"] is True and parsed["failures"] == []
    assert parsed["loops_started"] == 1 and parsed["loops_planned"] == 1
    assert parsed["locked"] is False  # the container may not mlock: memtester said so and went on unlocked
    assert all(t["status"] == "ok" for t in parsed["tests"]) and len(parsed["tests"]) >= 15
    assert loops_completed(parsed) == 1
    assert verdict(parsed, 0) == {"result": "passed", "addresses": [], "reasons": [
        "memory was not locked (mlock refused): pages may have been swapped during the test"]}
    assert verdict(dict(parsed, locked=True), 0) == {"result": "passed", "reasons": [], "addresses": []}
    # the same output with a non-zero status or a time-out is not a pass
    assert verdict(parsed, 4)["result"] == "failed"
    assert verdict(parsed, None, timed_out=True)["result"] == "incomplete"
    assert verdict(parsed, 0, kernel_errors=["EDAC MC0: 1 CE"])["result"] == "failed"


def test_cut_output_is_incomplete_not_passed():
    text = fixture("memory_test", "memtester-4.6.0-pass-lab.txt")
    cut = text[: text.index("Loop 1")] + "Loop 1/1:\n  Stuck Address       : ok\n"
    parsed = parse_memtester(cut)
    assert parsed["done"] is False
    v = verdict(parsed, None, timed_out=True)
    assert v["result"] == "incomplete" and "after 0 complete loop(s)" in v["reasons"][0]


def test_nonstarter_exit_is_incomplete_with_the_reason():
    parsed = parse_memtester("memtester version 4.5.1 (64-bit)\nwant 8MB (8388608 bytes)\n")
    v = verdict(parsed, 1)
    assert v["result"] == "incomplete"
    assert v["reasons"] == ["could not allocate or lock the memory to test"]


def test_not_memtester_output_raises():
    with pytest.raises(MemtesterParseError):
        parse_memtester("bash: memtester: command not found\n")
    with pytest.raises(MemtesterParseError):
        parse_memtester(None)


def test_backspaces_and_exit_bits():
    assert apply_backspaces("testing  1\b\b\b\b\b\b\b\b\b\bok") == "ok"
    assert decode_exit(0) == []
    assert decode_exit(6) == ["the stuck-address test failed (possible bad address line)", "a data-pattern test failed"]


def test_size_comes_from_memavailable_with_a_margin():
    meminfo = fixture("host", "meminfo-buildhost.txt")
    plan = plan_size_mb(meminfo)
    avail = plan["available_mb"]
    assert avail > 1000
    assert plan["limit_mb"] == avail // 2 - 256 and plan["size_mb"] == plan["limit_mb"]
    small = plan_size_mb(meminfo, size_mb=64)
    assert small["size_mb"] == 64 and small["why"] is None
    cut = plan_size_mb(meminfo, size_mb=10 ** 7)
    assert cut["size_mb"] == plan["limit_mb"] and cut["why"].startswith("requested 10000000 MiB cut to")
    tiny = plan_size_mb("MemTotal: 262144 kB\nMemAvailable: 300000 kB\n")
    assert tiny["size_mb"] == 0 and "below the 4 MiB minimum" in tiny["why"]
    assert plan_size_mb("MemTotal: 1 kB\n")["why"].startswith("MemAvailable missing")


# --- KernelMemoryWatch: the kernel-log window of an online test, on recorded real kernel logs --------------------
# memory_error_corrected-edac_sbridge-dmesgT.log: an EDAC/MCE corrected memory read error (grondo/edac-utils#10);
# pte_corruption-pf_reserved_bit-dmesg-5.7.log: a dmesg without memory errors (both in tests/fixtures/logs with
# their sources in the .json beside them).

import os as _os  # noqa: E402

from ansible_collections.pteguard.remediation.plugins.module_utils.memtester import (  # noqa: E402
    KernelMemoryWatch, evidence_line)

from .recorded_host import RecordedHost  # noqa: E402

_LOGS = _os.path.join(_os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")
_CURSOR = "s=6f0c2d;i=1a2b;b=9e1;m=3f;t=5e;x=77"
_CURSOR_ARGV = "journalctl -k -b 0 -n 1 -o json --no-pager -q"
_READ_ARGV = "journalctl -k -b 0 -o short-iso-precise --no-pager -q -n 500000"


def _log(name):
    with open(_os.path.join(_LOGS, name), "rb") as handle:
        return handle.read()


def test_watch_takes_the_journal_cursor_first_and_reads_only_after_it():
    cursor_out = (0, '{"__CURSOR": "%s"}\n' % _CURSOR, "")
    host = RecordedHost(bins=("journalctl",), outputs={
        _CURSOR_ARGV: cursor_out,
        _READ_ARGV: (0, _log("pte_corruption-pf_reserved_bit-dmesg-5.7.log"), ""),
        "journalctl -k -n 1 -o cat --no-pager -q --after-cursor=" + _CURSOR: (0, "x\n", ""),
        _READ_ARGV + " --after-cursor=" + _CURSOR: (0, _log("memory_error_corrected-edac_sbridge-dmesgT.log"), ""),
    })
    watch = KernelMemoryWatch(host)
    assert watch.start() == "journal cursor" and watch.cursor == _CURSOR
    found = watch.poll()
    assert watch.polls == 1 and found, found
    assert {f["category"] for f in found} <= {"memory_error_corrected", "machine_check_other"}
    assert any(f["category"] == "memory_error_corrected" for f in found)
    # every later read is bounded by the cursor taken before the test
    assert host.calls[-1][-1] == "--after-cursor=" + _CURSOR
    assert all(f["evidence"] == evidence_line(f) for f in found)


def test_watch_counts_dmesg_where_the_journal_has_no_kernel_messages():
    clean = _log("pte_corruption-pf_reserved_bit-dmesg-5.7.log")
    outputs = {_CURSOR_ARGV: (0, "", ""), "dmesg": (0, clean, "")}
    host = RecordedHost(bins=("journalctl", "dmesg"), outputs=outputs)
    watch = KernelMemoryWatch(host)
    assert watch.start() == "dmesg count" and watch.baseline == 0
    assert watch.poll() == []
    host.outputs["dmesg"] = (0, clean.rstrip(b"\n") + b"\n" + _log("memory_error_corrected-edac_sbridge-dmesgT.log"),
                             "")
    found = watch.poll()
    assert found and found[0]["category"] in ("memory_error_corrected", "machine_check_other")
    assert watch.polls == 2


def test_watch_says_when_nobody_can_read_the_kernel_log():
    host = RecordedHost(bins=("journalctl", "dmesg"), outputs={
        _CURSOR_ARGV: (0, "", ""), "dmesg": (1, "", "dmesg: read kernel buffer failed: Operation not permitted")})
    watch = KernelMemoryWatch(host)
    assert watch.start() == "none"
    assert watch.reason.endswith("dmesg: read kernel buffer failed: Operation not permitted): memory errors the "
                                 "kernel reports were not watched")
    assert watch.poll() == [] and watch.polls == 0


def test_evidence_line_carries_the_machine_check_details():
    line = evidence_line({"category": "memory_error_corrected", "message": "mce: [Hardware Error]: Machine check "
                          "events logged", "mce_status": "0x9c00004000010090", "address": "0x12345000", "bank": 7})
    assert line == ("memory_error_corrected: mce: [Hardware Error]: Machine check events logged (status "
                    "0x9c00004000010090, address 0x12345000, bank 7)")
