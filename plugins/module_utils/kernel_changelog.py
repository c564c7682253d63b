# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel package changelogs: the entries between two versions, and the changes that touch memory management,
page tables, DMA/IOMMU or a named module (pure, no Ansible import).

Debian: /usr/share/doc/<package>/changelog.Debian.gz or changelog.gz, entries headed `source (version) dist;
urgency=...`. The signed kernel's entries are `linux-signed-amd64 (6.1.176+1)` and say "Sign kernel from linux
6.1.176-1": their version for range checks is the one they sign, since 6.1.176+1 sorts after 6.1.176-1.
RedHat: `rpm -q --changelog <package>`, entries headed `* Tue Apr 30 2024 Name <mail> [5.14.0-427.16.1.el9_4]`
(RHEL kernels) or `... - 6.8.9-300` (Fedora).
"""

from __future__ import annotations

import re

from .package_versions import VersionError, compare

AREAS = ("page_tables", "memory_management", "dma")
_BULLET = re.compile(r"^\s*[*+-]\s+")
_DEB_HEADER = re.compile(r"^(?P<source>[a-z0-9][a-z0-9.+-]*) \((?P<version>[^() ]+)\) (?P<dist>[^;]*);")
_DEB_SIGNED = re.compile(r"Sign kernel from linux (?P<version>\S+)")
_RPM_HEADER = re.compile(r"^\* (?P<date>\w{3} \w{3} +\d+ \d{4}) (?P<who>.*?)(?: \[(?P<v1>[^\]]+)\]| - (?P<v2>\S+))?\s*$")

# A change line's subsystem prefix ("mm/hugetlb:", "x86/mm:") or words; matched case-insensitively.
_AREA_PATTERNS = {
    "page_tables": re.compile(
        r"(?<![\w-])(page[ _-]?tables?|pgtables?|pgtable[\w]*|ptes?|pmds?|puds?|p4ds?|pgds?|pte_\w+|pmd_\w+|"
        r"huge[ _-]?pmd|pagewalk|page walk|tlb flush\w*|flush_tlb\w*|thp)(?![\w-])", re.I),
    "memory_management": re.compile(
        r"(?:^|[\s\[(])(?:\[[^\]]*\]\s*)?(?:mm|x86/mm|arm64/mm|powerpc/mm|s390/mm|mm/[\w./-]+|hugetlb\w*|memcg|"
        r"mempolicy|memblock|slab|slub|vmalloc|vmscan|shmem|swap|swapfile|swap_state|userfaultfd|ksm|zswap|zram|kfence|kasan|"
        r"memory[ _-]failure|hwpoison|page_alloc|page_owner|folio\w*)(?=[:/,\s])"
        r"|\b(?:memory corruption|page cache|bad page|page fault)s?\b", re.I),
    "dma": re.compile(
        r"(?<![\w-])(dma[\w-]*|swiotlb|iommu[\w-]*|iommufd|intel-iommu|amd-iommu|iova|dmar|sg_dma\w*|"
        r"dma-buf|dma-mapping|dma-direct)(?![\w])", re.I),
}


class ChangelogError(ValueError):
    """A changelog that cannot be read as one (the message says why)."""


def module_pattern(name):
    """A pattern for a kernel module's name in change text; '-' and '_' match each other as in modprobe."""
    cleaned = (name or "").strip()
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$", cleaned):
        raise ChangelogError("not a kernel module name: %r (letters, digits, '-' and '_' only)" % (name,))
    body = "".join("[-_]" if c in "-_" else re.escape(c) for c in cleaned)
    return re.compile(r"(?<![\w])%s(?![\w])" % body, re.I)


def _items(lines):
    """Change items: a bullet line plus its more-indented continuation lines, joined into one string."""
    items, current, indent = [], None, 0
    for line in lines:
        if not line.strip():
            current = None
            continue
        if _BULLET.match(line):
            current = [line.strip()]
            indent = len(line) - len(line.lstrip())
            items.append(current)
        elif current is not None and len(line) - len(line.lstrip()) > indent:
            current.append(line.strip())
        else:
            current = None
    return [" ".join(parts) for parts in items]


def parse_debian_changelog(text):
    """[{source, version, dist, signed_version, items}] newest first, from a Debian changelog's text."""
    entries = []
    for line in (text or "").splitlines():
        m = _DEB_HEADER.match(line)
        if m:
            entries.append({"source": m.group("source"), "version": m.group("version"),
                            "dist": m.group("dist").strip(), "signed_version": None, "lines": []})
        elif entries and not line.startswith(" -- "):
            entries[-1]["lines"].append(line)
            signed = _DEB_SIGNED.search(line)
            if signed and entries[-1]["signed_version"] is None:
                entries[-1]["signed_version"] = signed.group("version").rstrip(".,")
    if text and text.strip() and not entries:
        raise ChangelogError("no Debian changelog entry header (`source (version) dist; urgency=...`) found")
    return [_finish(e) for e in entries]


def parse_rpm_changelog(text):
    """[{source, version, items}] newest first, from `rpm -q --changelog` output."""
    entries = []
    for line in (text or "").splitlines():
        m = _RPM_HEADER.match(line)
        if m:
            entries.append({"source": "rpm", "version": m.group("v1") or m.group("v2"), "dist": None,
                            "signed_version": None, "lines": [], "date": m.group("date")})
        elif entries:
            entries[-1]["lines"].append(line)
    if text and text.strip() and not entries:
        raise ChangelogError("no rpm changelog entry header (`* Day Mon DD YYYY Name <mail> [version]`) found")
    return [_finish(e) for e in entries]


def _finish(entry):
    entry["items"] = _items(entry.pop("lines"))
    return entry


def effective_version(entry):
    """The package version an entry stands for (a signed entry stands for the version it signs)."""
    return entry["signed_version"] or entry["version"]


def entries_between(pkg_family, entries, after, upto):
    """Entries newer than `after` (exclusive; None: no lower bound) and not newer than `upto` (inclusive).

    Entries whose version cannot be compared are kept out and counted in the second value.
    """
    chosen, unreadable = [], 0
    for entry in entries:
        version = effective_version(entry)
        try:
            if version is None:
                raise VersionError("no version")
            if upto is not None and compare(pkg_family, version, upto) > 0:
                continue
            if after is not None and compare(pkg_family, version, after) <= 0:
                continue
        except VersionError:
            unreadable += 1
            continue
        chosen.append(entry)
    return chosen, unreadable


_ARCH_PREFIX = re.compile(r"^[*+-]\s+\[(?P<arches>[a-z0-9*,_ -]+)\]\s")
_ARCH_GROUPS = {"x86": ("amd64", "i386", "x32"), "arm*": ("arm64", "armhf", "armel"), "mips*": ("mips64el", "mipsel"),
                "powerpc*": ("ppc64el", "ppc64", "powerpc")}


def applies_to_arch(item, arch):
    """False when a Debian change item is tagged for other architectures only (`- [arm64,armhf] ...`)."""
    m = _ARCH_PREFIX.match(item)
    if not m or not arch:
        return True
    for tag in (t.strip() for t in m.group("arches").split(",")):
        if tag == arch or arch in _ARCH_GROUPS.get(tag, ()):
            return True
    return False


def classify(item, module=None):
    """The areas one change item touches (page_tables, memory_management, dma, module:<name>)."""
    areas = [area for area in AREAS if _AREA_PATTERNS[area].search(item)]
    if module is not None and module[1].search(item):
        areas.append("module:%s" % module[0])
    return areas


def scan_entries(entries, module_name=None, max_findings=200, arch=None):
    """Findings over the chosen entries: [{version, areas, change}] plus counts by area.

    `module_name` is the module the diagnosis blamed (None: no module search); `arch` (a Debian architecture
    such as amd64) leaves out the items tagged for other architectures only.
    """
    module = (module_name, module_pattern(module_name)) if module_name else None
    findings, by_area, items, matched = [], {}, 0, 0
    for entry in entries:
        for item in entry["items"]:
            if not applies_to_arch(item, arch):
                continue
            items += 1
            areas = classify(item, module)
            if not areas:
                continue
            matched += 1
            for area in areas:
                by_area[area] = by_area.get(area, 0) + 1
            if len(findings) < max_findings:
                findings.append({"version": effective_version(entry), "areas": areas, "change": item})
    return {"findings": findings, "by_area": by_area, "changes_read": items,
            "findings_dropped": matched - len(findings)}
