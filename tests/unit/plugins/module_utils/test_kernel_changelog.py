"""Changelog ranges and memory/page-table/DMA/module findings on real kernel package changelogs."""

from __future__ import annotations

import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_changelog import (
    ChangelogError, applies_to_arch, classify, entries_between, module_pattern, parse_debian_changelog,
    parse_rpm_changelog, scan_entries,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "kernel_update")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


@pytest.fixture(scope="module")
def debian_entries():
    return parse_debian_changelog(fixture("debian-linux-signed-amd64-6.1.176-changelog-excerpt.txt"))


def test_debian_entries_and_the_signed_wrapper(debian_entries):
    assert [(e["source"], e["version"]) for e in debian_entries] == [
        ("linux-signed-amd64", "6.1.176+1"), ("linux", "6.1.174-1"), ("linux", "6.1.172-1"),
        ("linux", "6.1.170-3"), ("linux", "6.1.170-2")]
    assert debian_entries[0]["signed_version"] == "6.1.176-1"
    assert debian_entries[1]["signed_version"] is None
    first = debian_entries[0]["items"]
    assert "- [x86] ASoC: amd: yc: Add DMI quirk for ASUS EXPERTBOOK BM1403CDA" in first
    # a wrapped item is one change
    assert ("- btrfs: tracepoints: get correct superblock from dentry in event btrfs_sync_file() (CVE-2026-43117)"
            in first)


def test_range_uses_the_signed_version(debian_entries):
    # running 6.1.170-3, candidate 6.1.176-1: the signed 6.1.176+1 entry stands for 6.1.176-1 and is in range
    chosen, unreadable = entries_between("debian", debian_entries, "6.1.170-3", "6.1.176-1")
    assert [e["version"] for e in chosen] == ["6.1.176+1", "6.1.174-1", "6.1.172-1"]
    assert unreadable == 0
    chosen, unused = entries_between("debian", debian_entries, "6.1.176-1", "6.1.176-1")
    assert chosen == []
    chosen, unused = entries_between("debian", debian_entries, None, "6.1.170-2")
    assert [e["version"] for e in chosen] == ["6.1.170-2"]


def test_scan_finds_memory_page_table_dma_and_module_changes(debian_entries):
    chosen, unused = entries_between("debian", debian_entries, "6.1.170-3", "6.1.176-1")
    result = scan_entries(chosen, module_name="nvme", arch="amd64")
    changes = dict((f["change"], f["areas"]) for f in result["findings"])
    assert changes["- ata: ahci: force 32-bit DMA for JMicron JMB582/JMB585"] == ["dma"]
    assert changes["- mm/page_alloc: clear page->private in free_pages_prepare() (CVE-2026-43303)"] == [
        "memory_management"]
    assert changes["- mm/huge_memory: update file PMD counter before folio_put() (CVE-2026-53189)"] == [
        "page_tables", "memory_management"]
    assert changes["- nvme-pci: fix missed admin queue sq doorbell write"] == ["module:nvme"]
    # other architectures' items are left out on amd64
    assert "- [arm64] mm: fix VA-range sanity check (CVE-2023-53989)" not in changes
    assert "- [x86] iommu/vt-d: Disable DMAR for Intel Q35 IGFX" in changes
    # ordinary changes are not findings
    assert "- HID: quirks: add HID_QUIRK_ALWAYS_POLL for 8BitDo Pro 3" not in changes
    assert "- nfp: fix swapped arguments in nfp_encode_basic_qdr() calls" not in changes
    assert result["by_area"]["module:nvme"] >= 2
    assert result["changes_read"] > 1000
    assert result["findings_dropped"] == 0


def test_findings_are_bounded_and_counted(debian_entries):
    result = scan_entries(debian_entries, max_findings=3)
    assert len(result["findings"]) == 3
    assert result["findings_dropped"] > 0
    assert sum(result["by_area"].values()) >= 3 + result["findings_dropped"]


def test_rpm_changelog_both_header_styles():
    entries = parse_rpm_changelog(fixture("rpm-changelog-elrepo-kernel-ml-el9-excerpt.txt"))
    assert [e["version"] for e in entries] == [
        "5.19.12-0.rc4", "5.19.11-0.rc3", "5.19.10-0.rc2", "5.19.10-0.rc1", None, "5.14.0-70.22.1.el9_0"]
    chosen, unreadable = entries_between("redhat", entries, "5.19.10-0.rc1", "5.19.12-0.rc4")
    assert [e["version"] for e in chosen] == ["5.19.12-0.rc4", "5.19.11-0.rc3", "5.19.10-0.rc2"]
    assert unreadable == 1  # the entry without a version
    result = scan_entries([entries[-1]])
    # RHEL wraps a long item onto lines that start with "- " too, so its second half (IOMMU) is its own item
    assert [f["change"][:30] for f in result["findings"]] == [
        "- remapping is enabled by IOMM", "- rhel config: Set DMAR_UNITS_", "- iommu/vt-d: Make DMAR_UNITS_"]
    assert result["by_area"] == {"dma": 3}


@pytest.mark.parametrize("name,text,hit", [
    ("nvme", "nvme-pci: add quirk", True), ("nvme_core", "nvme-core: fix", True), ("nvme", "nvmet: fix", False),
    ("i915", "[x86] drm/i915/psr: Do not use pipe_src", True), ("e1000", "e1000e: fix", False),
])
def test_module_names(name, text, hit):
    assert bool(classify(text, (name, module_pattern(name)))) is hit


@pytest.mark.parametrize("bad", ["", "a b", "x;rm", "../nvme", "n" * 80])
def test_bad_module_name(bad):
    with pytest.raises(ChangelogError, match="not a kernel module name"):
        module_pattern(bad)


def test_arch_tags():
    assert applies_to_arch("- [x86] foo", "amd64")
    assert applies_to_arch("- [arm*] foo", "arm64")
    assert not applies_to_arch("- [arm64,armhf] foo", "amd64")
    assert applies_to_arch("- plain", "amd64")
    assert applies_to_arch("- [arm64] foo", None)


def test_text_that_is_no_changelog():
    with pytest.raises(ChangelogError, match="no Debian changelog entry header"):
        parse_debian_changelog("just some words\n")
    with pytest.raises(ChangelogError, match="no rpm changelog entry header"):
        parse_rpm_changelog("just some words\n")
    assert parse_debian_changelog("") == []
