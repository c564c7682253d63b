"""dmidecode memory-device parser and the host inventory collector, on real dmidecode outputs.

170-172: full dmidecode of a Dell PowerEdge R440 (3.6), a QEMU Standard PC guest and a Supermicro X9DRW (2.12), from
the linuxhw/DMI collection; 173: a non-root run (sources in tests/fixtures/tools/17x.meta.json). The /proc/modules
lines are synthetic, labelled so, in the format kernel/module/procfs.c prints (m_show: name size refs deps state
address, then the taint flags in parentheses); the lab test reads a real guest's.
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.dmidecode import (
    NOT_ROOT, DmidecodeError, memory_devices, size_bytes, unreadable_reason)
from ansible_collections.pteguard.remediation.plugins.module_utils.host_inventory import (
    collect_inventory, parse_proc_modules)

from .recorded_host import FIXTURES, RecordedHost, fixture


def _meta(number):
    with open(os.path.join(FIXTURES, "%s.meta.json" % number), encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.parametrize("number", ["170", "171", "172"])
def test_populated_slots_of_real_outputs(number):
    expect = _meta(number)["expect"]
    parsed = memory_devices(fixture("%s.txt" % number))
    assert parsed["slots"] == expect["slots"]
    assert [d["locator"] for d in parsed["dimms"]] == expect["dimms"]
    assert parsed["empty_slots"] == expect["slots"] - len(expect["dimms"])
    assert {d["part_number"] for d in parsed["dimms"]} == {expect["part_number"]}


def test_dell_fields_and_redacted_serial_is_none():
    first = memory_devices(fixture("170.txt"))["dimms"][0]
    assert first == {"handle": "0x1100", "size": "16 GB", "size_bytes": 16 << 30, "locator": "A1",
                     "bank_locator": None, "manufacturer": "00CE00B300CE", "serial": None,
                     "part_number": "M393A2K43BB1-CTD", "type": "DDR4", "speed": "2666 MT/s", "asset_tag": None,
                     "rank": "2"}


def test_old_dmidecode_sizes_in_mb_and_firmware_placeholders_are_not_parts():
    dimms = memory_devices(fixture("172.txt"))["dimms"]
    assert all(d["size_bytes"] == 16384 << 20 for d in dimms)
    assert dimms[0]["bank_locator"] == "P0_Node0_Channel0_Dimm0"
    assert dimms[0]["manufacturer"] == "Hynix Semiconductor"  # trailing blanks stripped
    assert not any("PartNum" in (d["part_number"] or "") for d in dimms)


def test_qemu_dimm_has_no_part_number():
    (dimm,) = memory_devices(fixture("171.txt"))["dimms"]
    assert dimm["manufacturer"] == "QEMU" and dimm["part_number"] is None and dimm["size_bytes"] == 4 << 30


def test_not_dmidecode_output_is_an_error_and_sizes():
    with pytest.raises(DmidecodeError):
        memory_devices("MemTotal: 1 kB\n")
    assert size_bytes("No Module Installed") is None and size_bytes("512 kB") == 512 << 10


def test_non_root_run_says_it_needs_root():
    assert unreadable_reason(1, fixture("173.stdout.txt"), fixture("173.stderr.txt")) == NOT_ROOT
    assert unreadable_reason(0, fixture("170.txt"), "") is None
    assert unreadable_reason(2, "", "dmidecode: invalid option -- 'x'\n").startswith("dmidecode exited 2: ")


PROC_MODULES = (  # synthetic (format of kernel/module/procfs.c)
    "nvidia_uvm 1605632 0 - Live 0x0000000000000000 (POE)\n"
    "pteguard_testmod 16384 0 - Live 0xffffffffc0a1e000 (OE)\n"
    "ext4 1003520 1 - Live 0xffffffffc0800000\n")


def test_proc_modules_keeps_only_tainting_modules():
    assert parse_proc_modules(PROC_MODULES) == [("nvidia_uvm", "POE"), ("pteguard_testmod", "OE")]


def _inventory_host(dmidecode=None):
    files = {"/proc/modules": PROC_MODULES, "/sys/module/nvidia_uvm/version": "535.183.01\n",
             "/sys/module/nvidia_uvm/srcversion": "A8C1F0E3D2B7E6E0C1D2F3A\n",
             "/sys/class/dmi/id/bios_vendor": "Dell Inc.\n", "/sys/class/dmi/id/bios_version": "2.18.1\n",
             "/sys/class/dmi/id/bios_date": "03/07/2023\n", "/sys/class/dmi/id/product_name": "PowerEdge R440\n"}
    files.update({"/sys/class/dmi/id/%s" % k: "" for k in ("board_vendor", "board_name", "sys_vendor")})
    outputs = {"dmidecode -t 17": dmidecode} if dmidecode else {}
    return RecordedHost(bins=("dmidecode",) if dmidecode else (), outputs=outputs, files=files)


def test_inventory_reads_modules_firmware_and_dimms():
    out = collect_inventory(_inventory_host((0, fixture("170.txt"), "")))
    assert out["modules"][0] == {"name": "nvidia_uvm", "taint": "POE", "version": "535.183.01",
                                 "srcversion": "A8C1F0E3D2B7E6E0C1D2F3A"}
    assert out["modules"][1]["name"] == "pteguard_testmod"
    assert out["firmware"] == {"bios_vendor": "Dell Inc.", "bios_version": "2.18.1", "bios_date": "03/07/2023",
                               "product_name": "PowerEdge R440"}
    assert [d["locator"] for d in out["dimms"]] == ["A1", "A2"] and out["dimm_slots"] == 16
    assert out["notes"] == []


def test_inventory_without_root_or_dmidecode_says_so_and_never_fails():
    out = collect_inventory(_inventory_host((1, fixture("173.stdout.txt"), fixture("173.stderr.txt"))))
    assert out["dimms"] is None and out["notes"] == ["DIMMs: " + NOT_ROOT]
    assert out["firmware"]["bios_version"] == "2.18.1"
    out = collect_inventory(_inventory_host())
    assert out["dimms"] is None and out["notes"] == ["DIMMs: dmidecode is not installed"]
