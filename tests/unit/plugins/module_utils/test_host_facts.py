"""host_facts on real /proc captures (tests/fixtures/host/README.md says where each came from), and what the
page-table analysis says with them: the host's real memory size and address bits, or that it assumed."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.diagnosis import diagnose
from ansible_collections.pteguard.remediation.plugins.module_utils.host_facts import (
    HostFactsError, host_facts_from_text, parse_cpuinfo, parse_meminfo_total, read_host_facts)
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file
from ansible_collections.pteguard.remediation.plugins.module_utils.pte_values import decode_entry, memory_size_text

HERE = os.path.dirname(__file__)
HOST = os.path.join(HERE, "..", "..", "..", "fixtures", "host")
LOGS = os.path.join(HERE, "..", "..", "..", "fixtures", "logs")
MIB = 1 << 20


def text(name):
    with open(os.path.join(HOST, name)) as handle:
        return handle.read()


def test_x86_cpuinfo_gives_the_address_sizes():
    cpu = parse_cpuinfo(text("cpuinfo-x86_64-epyc-buildhost.txt"))
    assert (cpu["phys_bits"], cpu["virt_bits"]) == (48, 48)
    assert cpu["cpu_vendor"] == "AuthenticAMD" and cpu["cpu_model"] == "AMD EPYC" and cpu["processors"] == 2
    facts = host_facts_from_text(text("meminfo-buildhost.txt"), text("cpuinfo-x86_64-epyc-buildhost.txt"), "x86_64")
    assert facts["memory_bytes"] == 24684092 * 1024
    assert (facts["max_phys_bits"], facts["phys_bits_source"], facts["assumptions"]) == (48, "/proc/cpuinfo", [])


def test_arm64_has_no_address_sizes_so_they_are_assumed_and_said():
    facts = host_facts_from_text(text("meminfo-aarch64-rpi5.txt"), text("cpuinfo-aarch64-rpi5.txt"), "aarch64")
    assert facts["memory_bytes"] == 8246848 * 1024
    assert facts["max_phys_bits"] == 48 and facts["phys_bits_source"] == "assumed"
    assert "arm64 /proc/cpuinfo has no address sizes" in facts["assumptions"][0]
    assert facts["cpu_implementer"] == "0x41" and facts["cpu_part"] == "0xd0b"


def test_unreadable_files_are_said():
    facts = host_facts_from_text(None, None, "x86_64")
    assert facts["memory_bytes"] is None and facts["phys_bits_source"] == "assumed"
    assert any("meminfo unreadable" in a for a in facts["assumptions"])
    assert any("cpuinfo unreadable" in a for a in facts["assumptions"])
    unknown = host_facts_from_text("MemTotal: 1024 kB\n", "processor\t: 0\n", "riscv64")
    assert unknown["max_phys_bits"] is None and "no assumption for riscv64" in unknown["assumptions"][0]


@pytest.mark.parametrize("meminfo", ["MemTotal: lots kB\n", "MemTotal: 12 MB\n"])
def test_bad_meminfo_is_a_clear_error(meminfo):
    with pytest.raises(HostFactsError):
        parse_meminfo_total(meminfo)


def test_reads_this_host():
    facts = read_host_facts()
    assert facts["arch"] == os.uname()[4]
    assert facts["memory_bytes"] and facts["memory_bytes"] > 64 * MIB


@pytest.mark.parametrize("size, shown", [(981 * MIB, "981 MiB"), (1 << 30, "1.0 GiB"), (24684092 * 1024, "23.5 GiB")])
def test_memory_size_is_never_zero_gib(size, shown):
    assert memory_size_text(size) == shown


def _pte_finding():
    return [f for f in scan_file(os.path.join(LOGS, "pte_corruption-pf_reserved_bit-dmesg-5.7.log"))["findings"]
            if f["category"] == "pte_corruption"]


def test_pte_analysis_uses_the_hosts_memory_and_address_bits():
    """the real 5.7 reserved-bit walk on a host like the lab guest: 1 GiB guest (MemTotal 981 MiB is what a
    1 GiB Debian 12 guest reports, below 1 GiB) whose /proc/cpuinfo says 40 bits physical."""
    cpuinfo = text("cpuinfo-x86_64-epyc-buildhost.txt").replace("48 bits physical", "40 bits physical")
    facts = host_facts_from_text("MemTotal:        1004852 kB\n", cpuinfo, "x86_64")
    result = diagnose(_pte_finding(), host_facts=dict(facts, kernel="5.7.0"))
    limits = result["pte_analysis"][0]["entries"][0]["limits"]
    assert limits == "40 physical address bits (/proc/cpuinfo); installed memory 981 MiB (+4 GiB for the PCI " \
                     "hole remap)"
    assert "0 GiB" not in limits and "assumed" not in limits
    assert result["host_facts_used"]["max_phys_bits"] == 40


def test_pte_analysis_says_when_it_assumed():
    arm = host_facts_from_text(text("meminfo-aarch64-rpi5.txt"), text("cpuinfo-aarch64-rpi5.txt"), "aarch64")
    entry = decode_entry("0x0068000081a00f43", "pte", "arm64", arm["memory_bytes"], arm["max_phys_bits"],
                         phys_bits_source=arm["phys_bits_source"])
    assert entry["limits"].startswith("assumed 48 physical address bits (the host does not report them)")
    assert "installed memory 7.9 GiB" in entry["limits"]
    bare = diagnose(copy.deepcopy(_pte_finding()))
    assert bare["pte_analysis"][0]["entries"][0]["limits"] == (
        "assumed 46 physical address bits (the host's were not given); installed memory unknown (addresses "
        "checked against the address width only)")
    assert bare["host_facts_used"]["assumptions"] == []


def test_the_lab_guest_that_printed_0_gib():
    """real: the 1 GiB lab guest (tests/fixtures/host/README.md): 958 MiB and 40 physical address bits."""
    facts = host_facts_from_text(text("meminfo-labguest-1g.txt"), text("cpuinfo-x86_64-qemu-tcg-labguest.txt"),
                                 "x86_64")
    assert facts["memory_bytes"] == 981724 * 1024 and facts["memory_bytes"] < 1 << 30
    assert (facts["max_phys_bits"], facts["virt_bits"], facts["phys_bits_source"]) == (40, 57, "/proc/cpuinfo")
    entry = decode_entry("0x8000000012345067", "pte", "x86_64", facts["memory_bytes"], facts["max_phys_bits"],
                         phys_bits_source=facts["phys_bits_source"])
    assert entry["limits"] == "40 physical address bits (/proc/cpuinfo); installed memory 958 MiB (+4 GiB for " \
                              "the PCI hole remap)"
