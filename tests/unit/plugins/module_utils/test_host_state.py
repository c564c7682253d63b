"""/proc/meminfo HardwareCorrupted and the taint bitmask."""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.host_state import (
    HostStateParseError, decode_taint, host_state_findings, parse_meminfo)

# synthetic: /proc/meminfo lines in the kernel's format (values made up for the test)
MEMINFO = """MemTotal:        8039496 kB
MemFree:         1234567 kB
HardwareCorrupted:     4 kB
AnonHugePages:         0 kB
HugePages_Total:       0
"""


def test_meminfo():
    m = parse_meminfo(MEMINFO)
    assert m["hardware_corrupted_kb"] == 4 and m["mem_total_kb"] == 8039496
    assert m["values"]["HugePages_Total"] == 0
    f = host_state_findings(meminfo=m)
    assert f[0]["category"] == "memory_page_offlined" and f[0]["count"] == 4


def test_meminfo_zero_corrupted_no_finding():
    m = parse_meminfo(MEMINFO.replace("HardwareCorrupted:     4", "HardwareCorrupted:     0"))
    assert host_state_findings(meminfo=m) == []


@pytest.mark.parametrize("value,letters", [
    (0, ""),
    (1, "P"),
    (4096 + 8192, "OE"),
    ("12288\n", "OE"),
    (16 + 32 + 512, "MBW"),
    (1 << 19, "J"),
])
def test_decode_taint(value, letters):
    assert decode_taint(value)["letters"] == letters


def test_taint_hints_and_unknown_bits():
    d = decode_taint((1 << 4) | (1 << 12) | (1 << 30))
    assert d["names"] == ["machine_check", "out_of_tree_module"]
    assert d["unknown_bits"] == [30]
    assert d["hints"] == ["driver", "hardware"]
    f = host_state_findings(taint=d)
    assert [x["signature"] for x in f] == ["taint.M"]


def test_taint_from_oops_letters_stops_at_nothing_but_flag_letters():
    from ansible_collections.pteguard.remediation.plugins.module_utils.taint import decode_taint_letters

    assert decode_taint_letters("Tainted: P           O      6.1.0-18-amd64 #1") == [
        "proprietary_module", "out_of_tree_module"]


@pytest.mark.parametrize("bad", ["-1", "abc", -5, None, "1.5", True])
def test_bad_taint(bad):
    with pytest.raises(HostStateParseError):
        decode_taint(bad)


@pytest.mark.parametrize("bad", [b"\x00\x01", "hello world", "", 7])
def test_bad_meminfo(bad):
    with pytest.raises(HostStateParseError):
        parse_meminfo(bad)
