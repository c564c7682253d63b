"""Decoders: machine-check status, address regions and poison, taint flags."""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.addresses import classify_address
from ansible_collections.pteguard.remediation.plugins.module_utils.mce import decode_mce_status, mce_category
from ansible_collections.pteguard.remediation.plugins.module_utils.host_state import decode_taint
from ansible_collections.pteguard.remediation.plugins.module_utils.taint import decode_taint_letters


@pytest.mark.parametrize("status, ipid, category, severity_class", [
    ("9c00004000010090", None, "memory_error_corrected", "corrected"),  # QEMU corrected memory read (LAB.md)
    ("0xbd000000000000c0", None, "memory_error_uncorrected", "uncorrected"),  # action-optional scrub (LAB.md)
    ("be00000000000090", None, "memory_error_uncorrected", "fatal"),
    ("cc00418000010091", None, "memory_error_corrected", "corrected"),  # corpus-031
    ("dc2040000000011b", "9600050f00", "memory_error_corrected", "corrected"),  # corpus-034, AMD UMC
    ("dc2040000000011b", "b000050f00", "machine_check_other", "corrected"),  # same status, not the UMC
    ("a600000000020408", None, "machine_check_other", "fatal"),  # corpus-039
    ("be00000000800400", None, "machine_check_other", "fatal"),  # corpus-027 internal timer
])
def test_mce_status(status, ipid, category, severity_class):
    decoded = decode_mce_status(status, ipid)
    assert mce_category(decoded) == category
    assert decoded["severity_class"] == severity_class
    assert decoded["valid"] is True


def test_mce_garbage_raises_value_error():
    with pytest.raises(ValueError):
        decode_mce_status("not-hex")


@pytest.mark.parametrize("address, region", [
    ("0x10", "null_page"),
    ("00007f8896d91f48", "user"),
    ("0x6b6b6b6b6b6b6b6b", "non_canonical"),
    ("ffff888100000000", "direct_map"),
    ("ffffc90000123000", "vmalloc"),
    ("ffffea0004000000", "vmemmap"),
    ("ffffffff81234567", "kernel_text"),
    ("ffffffffc0852ffb", "modules"),
])
def test_x86_64_regions(address, region):
    assert classify_address(address)["region"] == region


def test_poison_values_point_at_software():
    slab = classify_address("0x6b6b6b6b6b6b6b6b")
    assert slab["poison"] == "slab_free" and slab["hint"] == "software_use_after_free"
    listed = classify_address("dead000000000100")
    assert listed["poison"] == "list_poison"
    assert classify_address("ffff888100000000").get("poison") is None
    assert classify_address("zz") == {}


def test_arm64_regions():
    assert classify_address("ffff000012345678", "arm64")["region"] == "direct_map"
    assert classify_address("0000ffff12345678", "arm64")["region"] == "user"


def test_taint_letters_and_mask():
    assert decode_taint_letters("Not tainted") == []
    assert decode_taint_letters("Tainted: G    B      OE") == ["bad_page", "out_of_tree_module", "unsigned_module"]
    mask = decode_taint(4096 + 8192 + 32)
    assert mask["letters"] == "BOE"
    assert mask["unknown_bits"] == []
    assert decode_taint(1 << 40)["unknown_bits"] == [40]
