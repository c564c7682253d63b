"""Page-table value decoding on the real values of tests/fixtures/logs (parsed by the real parser)."""

from __future__ import annotations

import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file
from ansible_collections.pteguard.remediation.plugins.module_utils.pte_values import (
    PteValueError, analyze_finding, decode_entry)

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")
GIB = 1 << 30


def findings(name, signature=None):
    found = scan_file(os.path.join(LOGS, name + ".log"))["findings"]
    return [f for f in found if signature is None or f.get("signature") == signature]


def codes(result):
    return set(o["code"] for o in result["observations"])


def test_table_entry_fields_from_a_real_walk():
    # PMD of the 5.7 reserved-bit oops: an ordinary user page-table pointer
    entry = decode_entry("3f8822067", "pmd")
    assert entry["kind"] == "table"
    assert entry["present"] and entry["rw"] and entry["user"] and entry["accessed"] and entry["dirty"]
    assert not entry["nx"] and not entry["pse_or_pat"]
    assert entry["pfn"] == "0x3f8822"
    assert entry["problems"] == [] and entry["observations"] == []


def test_leaf_fields_nx_global_and_pfn():
    entry = decode_entry("8000273942ab2163", "pte")
    assert entry["nx"] and entry["global"] and entry["present"] and entry["rw"] and not entry["user"]
    assert entry["pfn"] == "0x273942ab2"
    assert entry["protection_key"] == 0


def test_reserved_bit_oops_is_multi_bit_with_installed_memory():
    """5.7 '#PF reserved bit violation' (a software DMA-pool bug per the thread): not one flipped bit."""
    (finding,) = findings("pte_corruption-pf_reserved_bit-dmesg-5.7", "page_fault_oops")
    # 64 GiB is the most that board (B450 Pro4) takes: an upper bound of installed memory
    result = analyze_finding(finding, installed_ram_bytes=64 * GIB)
    assert "pfn_beyond_memory" in codes(result)
    assert "multi_bit_corruption" in codes(result)
    assert "cpu_reported_reserved_bit" in codes(result)
    assert "single_bit_flip" not in codes(result)
    assert result["points_to"] == "software"
    # the upper levels of the same walk are sane
    assert [e["problems"] for e in result["entries"] if e["level"] != "pte"] == [[], [], [], []]


def test_corrupted_page_table_pte_is_a_kernel_pointer():
    finding = findings("pte_corruption-corrupted_page_table-syslog-6.10", "corrupted_page_table")[0]
    result = analyze_finding(finding)
    pte = [e for e in result["entries"] if e["level"] == "pte"][0]
    assert pte["value"] == "0xffffdbdefffffd9f"
    assert "pointer_like" in codes(result)
    assert result["points_to"] == "software"


def test_bad_pmd_flagged_bad_is_many_bits_off():
    (finding,) = findings("corpus-002", "corrupted_page_table")
    result = analyze_finding(finding)
    pmd = [e for e in result["entries"] if e["level"] == "pmd"][0]
    assert pmd["value"] == "0xffe7a0414d080067"
    assert pmd["reserved_bits"], "bits above 46 are set"
    assert {"reserved_bits", "unused_high_bits", "multi_bit_corruption", "kernel_flagged_bad"} <= codes(result)
    assert result["points_to"] == "software"


def test_legacy_swap_entry_matches_what_the_kernel_printed():
    """4.1: 'Bad swap file entry 007e9058' then 'Bad page map ... pte:fd20b000'."""
    (swap,) = findings("pte_corruption-bad_swap_entry-kernlog-4.1", "bad_swap_entry")
    (bad_map,) = findings("pte_corruption-bad_swap_entry-kernlog-4.1", "bad_page_map")
    result = analyze_finding(bad_map, kernel_version="4.1.0")
    pte = [e for e in result["entries"] if e["level"] == "pte"][0]
    assert pte["kind"] == "not_present"
    (layout,) = pte["swap"]
    assert layout["layout"] == "<4.7" and layout["type"] == 0
    assert int(layout["swp_entry"], 16) == int(swap["entry"], 16)
    assert "swap_entry_shaped" in codes(result)


def test_unknown_kernel_lists_every_swap_layout():
    entry = decode_entry("fd20b000", "pte")
    assert [s["layout"] for s in entry["swap"]] == [">=4.18", "4.7-4.17", "<4.7"]


def test_arm64_dma_overwrite_is_data_like_and_matches_printed_swap_entry():
    """corpus-008 (CM4, suspected DMA corruption): pte:a07070a0506090a, 'Bad swap file entry 40207070a050609'."""
    (swap,) = findings("corpus-008", "bad_swap_entry")
    (bad_map,) = findings("corpus-008", "bad_page_map")
    result = analyze_finding(bad_map, arch="arm64")
    pte = [e for e in result["entries"] if e["level"] == "pte"][0]
    assert pte["swap"][0]["swp_entry"] == swap["entry"]
    assert pte["swap"][0]["plausible"] is False
    assert {"data_like", "not_present_not_swap"} <= codes(result)
    pmd = [e for e in result["entries"] if e["level"] == "pmd"][0]
    assert pmd["kind"] == "table" and pmd["problems"] == []
    assert result["points_to"] == "software"


def test_bit_flip_on_a_real_entry_points_at_hardware():
    """synthetic: the real PMD 3f8822067 (5.7 sample) with bit 45 flipped, on a 16 GiB host."""
    flipped = 0x3f8822067 ^ (1 << 45)
    entry = decode_entry(flipped, "pmd", installed_ram_bytes=16 * GIB)
    flip = [o for o in entry["observations"] if o["code"] == "single_bit_flip"]
    assert flip and flip[0]["candidates"] == [{"bit": 45, "plausible_value": "0x00000003f8822067"}]
    assert entry["points_to"] == "hardware"


def test_reserved_bit_flip_with_known_phys_bits():
    """synthetic: the real PTE-level PGD 8000000111903067 (corpus-002) with bit 50 set, MAXPHYADDR 39."""
    entry = decode_entry(0x8000000111903067 | (1 << 50), "pgd", max_phys_bits=39)
    assert entry["reserved_bits"] == [50]
    assert [c["bit"] for c in entry["observations"][-1]["candidates"]] == [50]
    assert entry["points_to"] == "hardware"


def test_poison_value():
    entry = decode_entry("6b6b6b6b6b6b6b6b", "pte")
    assert "poison_pattern" in codes(entry) and entry["points_to"] == "software"


def test_other_architectures_get_shape_checks_only():
    (finding,) = findings("pte_corruption-bad_pud-riscv-6.1", "bad_page_table_entry")
    result = analyze_finding(finding, arch="riscv64")
    assert result["entries"][0]["level"] == "pud"
    assert "arch_not_decoded" in codes(result) and result["points_to"] == "unknown"


def test_plausible_entries_have_no_findings():
    for finding in findings("pte_corruption-pf_reserved_bit-dmesg-5.7"):
        result = analyze_finding(finding, installed_ram_bytes=64 * GIB)
        assert all(not e["problems"] for e in result["entries"] if e["level"] != "pte")


@pytest.mark.parametrize("value", ["xyz", "1" * 17, -1, True, None])
def test_bad_values_are_clear_errors(value):
    with pytest.raises(PteValueError):
        decode_entry(value, "pte")


def test_bad_level_and_limits():
    with pytest.raises(PteValueError):
        decode_entry("67", "pxd")
    with pytest.raises(PteValueError):
        decode_entry("67", "pte", max_phys_bits=64)
    with pytest.raises(PteValueError):
        decode_entry("67", "pte", installed_ram_bytes=-1)
