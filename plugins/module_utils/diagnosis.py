# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Per-host diagnosis: kernel findings + hardware-error records + disk health + taint -> ranked probable causes.

Two tables drive it, both data (docs/diagnosis.md renders them):

- FACTS: named pieces of evidence, each extracted from the inputs and keyed by the thing it
  is about (a DIMM, a module, a disk) or by nothing (host-wide).
- RULES: rule id, the facts that must all hold (``all``), the facts that must not (``none``),
  the cause it supports, a weight and the rationale. A rule fires once per subject: facts of
  the same kind must name the same subject (a block media error and SMART defects on the
  same disk). A cause's confidence combines the weights of its rules as independent
  evidence: 1 - prod(1 - w).

Pure Python, no Ansible import: used by the diagnose_host filter and the CLI.
"""

from __future__ import annotations

import calendar
import re

from .pte_values import PteValueError, analyze_finding
from .signatures import CATEGORIES, SEVERITY_RANK, SIGNATURE_BY_ID
from .host_state import decode_taint
from .taint import decode_taint_letters

CAUSES = ("faulty_memory", "driver_dma_corruption", "disk_media", "storage_link_or_controller", "kernel_bug",
          "firmware_or_power")

GIB = 1 << 30


class DiagnosisInputError(ValueError):
    """An input of diagnose() has the wrong shape."""


# --- the six steps (and disk health) -----------------------------------------------------------------

STEPS = {
    1: "kernel_logs",
    2: "memory_test",
    3: "kernel_driver_update",
    4: "hardware_error_monitoring",
    5: "controlled_reproduction",
    6: "debug_symbolize",
    7: "disk_health",
}

NEXT_STEPS = {
    "faulty_memory": (
        (2, "Test the memory offline with memtest86+ (several passes), or online with memtester on a drained host; "
            "replace {dimm} if errors repeat or the corrected-error rate grows."),
        (4, "Keep rasdaemon (or EDAC counters) recording and watch the corrected-error rate of {dimm}; page "
            "offlining stays opt-in."),
        (1, "Collect the kernel logs of every boot to see whether page-table or bad-page reports follow the "
            "memory errors."),
    ),
    "driver_dma_corruption": (
        (3, "Update the kernel and {module} (or its vendor package); if the problem continues, unload or blacklist "
            "{module} on one host and compare."),
        (6, "Symbolize the traces (scripts/decode_stacktrace.sh with the matching vmlinux and modules); on a test "
            "host enable the IOMMU in strict mode, CONFIG_PAGE_TABLE_CHECK or KASAN to catch the stray write."),
        (5, "Reproduce under control: the same workload with and without {module} loaded, read-only I/O only."),
        (2, "Run memtest86+ once to rule out memory, since this host may have no ECC reporting."),
    ),
    "disk_media": (
        (7, "Read the disk's health: smartctl -x {device}, a long self-test (smartctl -t long), and a bounded "
            "read-only badblocks scan (disk_health_info badblocks_devices); back up the data."),
        (5, "Confirm under control with a read-only fio/dd over the failing sectors of {device}; never a write "
            "test on a disk that holds data."),
        (4, "Watch the pending/reallocated counters; replace {device} if they grow."),
    ),
    "storage_link_or_controller": (
        (7, "Watch the UDMA CRC / link error counters of {device} (smartctl -x); reseat or replace the cable, "
            "backplane slot or controller port."),
        (3, "Update the storage controller firmware and driver."),
        (5, "Reproduce with read-only fio/dd after the change; the CRC counter must stop growing."),
    ),
    "kernel_bug": (
        (6, "Symbolize the oops (scripts/decode_stacktrace.sh), and reproduce on a debug kernel (KASAN, "
            "SLUB_DEBUG, list debugging) to find the culprit."),
        (3, "Update to the distribution's latest kernel, or search its changelog for the symbol in RIP."),
        (5, "Reproduce with the same workload on a test host."),
        (1, "Collect the kernel logs of every boot: the first oops matters, later ones are often consequences."),
    ),
    "firmware_or_power": (
        (4, "Keep rasdaemon recording; watch which CPU and bank report machine checks and how often."),
        (3, "Update BIOS/UEFI and CPU microcode; check the power supply, VRM temperatures and overclocking "
            "settings."),
        (2, "Run memtest86+ to rule out memory; move the CPU to another board if errors follow it."),
    ),
    "none": (
        (1, "Nothing points at a cause: keep collecting kernel logs (persistent journal) so the next error is "
            "recorded."),
        (4, "Make sure hardware-error monitoring (rasdaemon) runs, so hardware faults would be seen."),
    ),
}


# --- facts --------------------------------------------------------------------------------------------

FACTS = (
    # id, subject kind, description
    ("memory_reported", "dimm", "any corrected or uncorrected memory error (EDAC, MCE, GHES, rasdaemon, mcelog "
                                "records), even a lone one"),
    ("memory_errors", "dimm", "strong memory evidence: uncorrected errors, or corrected errors at or over the "
                              "per-DIMM threshold"),
    ("memory_ce_seen", "dimm", "corrected memory errors, any number (below the thresholds only a note)"),
    ("memory_ce_over_threshold", "dimm", "corrected errors on one DIMM at or over mcelog's per-DIMM threshold, "
                                         "10 per 24 h"),
    ("memory_ce_storm", "dimm", "corrected errors on one DIMM at or over rasdaemon's page threshold, 50 per 24 h"),
    ("memory_ce_same_page", "dimm", "the same 4 KiB page reported corrected at least twice within 24 h (mcelog's "
                                    "page threshold)"),
    ("memory_ue", "dimm", "uncorrected memory errors"),
    ("memory_offlined", None, "memory pages poisoned or offlined (memory failure, HardwareCorrupted > 0)"),
    ("page_corruption", None, "page-table corruption or Bad page state reports"),
    ("pte_bit_flip", None, "a corrupted page-table entry one bit away from a plausible entry"),
    ("pte_software_value", None, "a corrupted entry holding a pointer, poison, data or many-bit garbage"),
    ("module_in_corruption", "module", "a module in RIP, the call trace or Bad page map's fault/mmap of a "
                                       "page-table or bad-page report"),
    ("tainting_module", "module", "an out-of-tree, unsigned, proprietary or staging module (taint O/E/P/C, "
                                  "tainting_modules); subject unknown when only the taint flag says so"),
    ("oops_software_hint", None, "an oops whose address is poison, NULL or non-canonical, or list/slab "
                                 "corruption"),
    ("oops", None, "any kernel oops, BUG or panic"),
    ("oops_rip_module", "module", "an oops whose RIP/PC is inside a module"),
    ("block_media_error", "device", "block, SCSI, ATA or NVMe errors of class media (medium error, UNC, NVMe "
                                    "media status)"),
    ("block_media_repeated", "device", "media errors reported at least twice on one disk within the same 1 MiB "
                                       "sector region"),
    ("block_io_error", "device", "block I/O errors without a media class"),
    ("smart_media_defects", "device", "SMART pending/reallocated/uncorrectable sectors, NVMe media errors, grown "
                                      "defects, failed self-tests"),
    ("smart_failing", "device", "SMART overall health failed"),
    ("link_error", "device", "ATA ICRC/link resets/SError, SCSI transport errors"),
    ("controller_error", "device", "NVMe controller down, timeouts, device removed or vanished"),
    ("smart_crc_errors", "device", "SMART UDMA CRC error count > 0"),
    ("mce_other_uncorrected", None, "uncorrected machine checks that are not memory (cache, bus, internal)"),
    ("mce_other_corrected", None, "corrected machine checks that are not memory"),
    ("reproduced_media_error", "device", "a media error the kernel printed again during the controlled reproduction "
                                         "(step 5) on that disk"),
    ("io_not_reproduced", "device", "a controlled reproduction (step 5) of that disk that ran to its end with no new "
                                    "kernel error"),
)
FACT_KINDS = dict((fid, kind) for fid, kind, _d in FACTS)

# --- rules -------------------------------------------------------------------------------------------

RULES = (
    # id, all, none, cause, weight, rationale
    ("M1", ("memory_ue",), (), "faulty_memory", 0.85,
     "Uncorrected memory errors name failing DRAM directly; the DIMM is named when EDAC or the firmware knows it."),
    ("M2", ("memory_ce_over_threshold",), (), "faulty_memory", 0.6,
     "Corrected errors on one DIMM at the rate mcelog treats as a failing DIMM (10 per 24 h): the early "
     "warning of a failing DIMM; ECC hid them this time. Fewer are only a note to keep monitoring."),
    ("M3", ("memory_offlined",), (), "faulty_memory", 0.45,
     "Poisoned or offlined pages follow memory errors the hardware reported."),
    ("M4", ("pte_bit_flip", "memory_reported"), (), "faulty_memory", 0.8,
     "A page-table entry one bit away from a valid one, on a host that also logs memory errors, is the "
     "textbook flipped DRAM bit."),
    ("M5", ("pte_bit_flip",), ("memory_reported",), "faulty_memory", 0.45,
     "A one-bit corruption without ECC reports still favours memory: non-ECC RAM reports nothing."),
    ("M6", ("page_corruption",), ("memory_errors", "pte_bit_flip", "pte_software_value", "tainting_module",
                                  "module_in_corruption"), "faulty_memory", 0.25,
     "Unexplained page-table or bad-page corruption is most often bad RAM on hosts without ECC; weak alone."),
    ("M7", ("memory_ce_storm",), (), "faulty_memory", 0.5,
     "Corrected errors on one DIMM at or over rasdaemon's page threshold (50 per 24 h, the rate at which it "
     "offlines pages): a DIMM in active decline."),
    ("M8", ("memory_ce_same_page",), (), "faulty_memory", 0.3,
     "The same page corrected again within 24 h (mcelog's page threshold): a weak cell that keeps failing, "
     "not a one-off particle strike; weak alone."),
    ("D1", ("page_corruption", "tainting_module"), ("memory_errors", "pte_bit_flip"), "driver_dma_corruption", 0.55,
     "Page-table corruption with no hardware errors on a kernel running out-of-tree/unsigned modules: such "
     "modules are the usual stray-write or DMA culprits."),
    ("D2", ("page_corruption", "module_in_corruption"), ("memory_errors", "pte_bit_flip"), "driver_dma_corruption",
     0.5, "The module is in the corrupted mapping's code path (RIP, trace, fault/mmap handler)."),
    ("D3", ("pte_software_value",), ("memory_errors",), "driver_dma_corruption", 0.35,
     "The entry holds a pointer, poison or data: something wrote over the page table; DMA from a device or a "
     "driver bug is the common source."),
    ("D4", ("oops_rip_module",), ("memory_errors",), "driver_dma_corruption", 0.4,
     "The oops happened inside a module's code: that module (driver) is the first suspect."),
    ("D5", ("oops_rip_module", "oops_software_hint"), ("memory_errors",), "driver_dma_corruption", 0.3,
     "Use-after-free/poison or NULL access inside a module: a driver bug, not hardware."),
    ("D6", ("oops", "tainting_module"), ("memory_errors", "oops_rip_module", "page_corruption"),
     "driver_dma_corruption", 0.25,
     "An oops in core code on a kernel running out-of-tree/unsigned modules: a module may have corrupted the memory "
     "core code then tripped on; weak."),
    ("K1", ("oops_software_hint",), ("memory_errors", "oops_rip_module"), "kernel_bug", 0.55,
     "Poison, NULL or list/slab corruption with no hardware evidence is a software bug in core kernel code."),
    ("K2", ("oops",), ("memory_errors", "oops_rip_module", "page_corruption"), "kernel_bug", 0.3,
     "An oops in core kernel code with no hardware evidence: a kernel bug until shown otherwise."),
    ("K3", ("pte_software_value",), ("memory_errors", "tainting_module", "module_in_corruption"), "kernel_bug",
     0.25, "A software-shaped page-table value with no module to blame may be a core kernel bug."),
    ("S1", ("block_media_error", "smart_media_defects"), (), "disk_media", 0.9,
     "The kernel's media errors and the drive's own defect counters agree on the same disk."),
    ("S2", ("block_media_error",), (), "disk_media", 0.6,
     "Medium error / UNC / NVMe media status: the drive could not read its media."),
    ("S3", ("smart_media_defects",), (), "disk_media", 0.45,
     "Pending, reallocated or uncorrectable sectors: the media is degrading even without kernel errors yet."),
    ("S4", ("smart_failing",), (), "disk_media", 0.6,
     "The drive itself reports SMART failure."),
    ("S5", ("block_io_error",), ("block_media_error", "link_error", "controller_error"), "disk_media", 0.2,
     "Plain I/O errors without a class: the disk is the first place to look, weakly."),
    ("S6", ("block_media_repeated",), (), "disk_media", 0.5,
     "The disk failed to read the same sector region again and again: a defect on the media, not a transient."),
    ("R1", ("reproduced_media_error",), (), "disk_media", 0.7,
     "The media error came back under a controlled load of the same disk (step 5), with the kernel watched: a "
     "defect that repeats on demand, not a one-off."),
    ("L1", ("link_error",), (), "storage_link_or_controller", 0.6,
     "Interface CRC errors, link resets and transport failures are cable, backplane or controller faults; the "
     "media is not involved."),
    ("L2", ("smart_crc_errors",), (), "storage_link_or_controller", 0.5,
     "The drive counted CRC errors on its interface: data was damaged in transit, not on the media."),
    ("L3", ("link_error", "smart_crc_errors"), (), "storage_link_or_controller", 0.85,
     "Link errors in the kernel log and the drive's CRC counter agree on the same disk."),
    ("L4", ("controller_error",), (), "storage_link_or_controller", 0.45,
     "Controller resets, timeouts or a vanished device: controller, link, power or firmware of the drive."),
    ("F1", ("mce_other_uncorrected",), (), "firmware_or_power", 0.6,
     "Uncorrected machine checks outside memory (cache, bus, internal errors) are CPU or platform faults: "
     "power delivery, microcode/firmware or the CPU itself. Grouped as firmware_or_power."),
    ("F2", ("mce_other_corrected",), ("mce_other_uncorrected",), "firmware_or_power", 0.15,
     "Corrected non-memory machine checks are usually harmless; weak alone."),
)


# Evidence against a cause: fact, the causes it speaks against, the rules it can outweigh, factor, rationale. It is
# always recorded in the cause's evidence_against; it lowers the confidence (times 1 - factor) only when every rule
# behind the cause is one it can outweigh, since a bounded run that read part of a disk cannot clear media errors
# or the drive's own defect counters.
COUNTER_RULES = (
    ("N1", "io_not_reproduced", ("disk_media", "storage_link_or_controller"), ("S5", "L4"), 0.5,
     "A controlled reproduction of the same disk ran to its end without a new kernel error: a cause resting only on "
     "plain I/O errors or timeouts (possibly transient) is halved; media errors, SMART defects and link errors "
     "stand, because the run covered only what it read."),
)

# Corrected-error thresholds of the tools SREs already run: the rate at which each calls a DIMM or page bad.
DAY = 24 * 3600
CE_THRESHOLDS = (
    # fact, corrected errors, window (s), anchor
    ("memory_ce_over_threshold", 10, DAY, "mcelog.conf [dimm] ce-error-threshold = 10 / 24h"),
    ("memory_ce_storm", 50, DAY, "rasdaemon misc/rasdaemon.env PAGE_CE_THRESHOLD=50, PAGE_CE_REFRESH_CYCLE=24h"),
)
# mcelog.conf [page] memory-ce-threshold (2 / 24h since 2024; 10 / 24h before): one page corrected again.
PAGE_REPEAT = (2, DAY, "mcelog.conf [page] memory-ce-threshold = 2 / 24h")
PAGE_SHIFT = 12
# Media errors this close together (1 MiB of 512-byte sectors) are the same defect region.
MEDIA_REGION_SECTORS = 2048

# Facts that, alone, are notes to act on rather than causes: fact, facts that make it more than a note, step, text.
NOTES = (
    ("memory_ce_seen", ("memory_ce_over_threshold", "memory_ce_storm", "memory_ce_same_page", "memory_ue"), 4,
     "{count} corrected memory error(s) on {dimm} ({basis}), under the thresholds ({threshold}): not a cause "
     "by itself. Keep rasdaemon (or EDAC counters) recording and act if the rate reaches the threshold."),
)


def _word(confidence):
    if confidence >= 0.75:
        return "high"
    if confidence >= 0.45:
        return "medium"
    return "low"


# --- input normalisation ----------------------------------------------------------------------------

def _findings_of(value, name):
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("findings", [])
    if not isinstance(value, (list, tuple)):
        raise DiagnosisInputError("%s must be a list of findings or a dict with 'findings'" % name)
    out = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DiagnosisInputError("%s item %d is not a finding (a dict)" % (name, index))
        if item.get("category") not in CATEGORIES:
            raise DiagnosisInputError("%s item %d has an unknown category %r" % (name, index, item.get("category")))
        if item.get("severity") not in SEVERITY_RANK:
            raise DiagnosisInputError("%s item %d has an unknown severity %r" % (name, index, item.get("severity")))
        out.append(item)
    return out


def _disks_of(value):
    """(disk reports, disk findings) from a disk_health_info result, a list of reports or a list of findings."""
    if value is None:
        return [], []
    if isinstance(value, dict):
        disks = value.get("disks", [])
        findings = value.get("findings", [])
    elif isinstance(value, (list, tuple)):
        disks = [d for d in value if isinstance(d, dict) and "category" not in d]
        findings = [d for d in value if isinstance(d, dict) and "category" in d]
        if len(disks) + len(findings) != len(value):
            raise DiagnosisInputError("disk_health items must be dicts (disk reports or findings)")
    else:
        raise DiagnosisInputError("disk_health must be a disk_health_info result, or a list of disk reports")
    if not isinstance(disks, (list, tuple)):
        raise DiagnosisInputError("disk_health.disks must be a list")
    for index, disk in enumerate(disks):
        if not isinstance(disk, dict) or not disk.get("device"):
            raise DiagnosisInputError("disk report %d has no device" % index)
    return list(disks), _findings_of(findings, "disk_health.findings")


_DRIVER_TAINTS = ("proprietary_module", "out_of_tree_module", "unsigned_module", "staging_driver",
                  "forced_module_load")


def _taint_names(taint):
    if taint is None:
        return []
    if isinstance(taint, bool):
        raise DiagnosisInputError("taint must be a mask, letters or a decoded taint dict")
    if isinstance(taint, int):
        if taint < 0:
            raise DiagnosisInputError("taint mask must be non-negative")
        return decode_taint(taint)["names"]
    if isinstance(taint, str):
        text = taint.strip()
        if text.isdigit():
            return _taint_names(int(text))
        if "not tainted" in text.lower():
            return []
        return decode_taint_letters(text)
    if isinstance(taint, dict):
        names = taint.get("names")
        if names is None and isinstance(taint.get("flags"), list):
            names = [f.get("name") if isinstance(f, dict) else f for f in taint["flags"]]
        if names is None and "value" in taint:
            return _taint_names(taint["value"])
        if names is None and "mask" in taint:
            return _taint_names(taint["mask"])
        if not isinstance(names, list):
            raise DiagnosisInputError("taint dict needs 'names', 'flags', 'value' or 'mask'")
        return [str(n) for n in names]
    raise DiagnosisInputError("taint must be a mask, letters or a decoded taint dict, got %s" % type(taint).__name__)


def _host(host_facts):
    if host_facts is None:
        return {}
    if not isinstance(host_facts, dict):
        raise DiagnosisInputError("host_facts must be a dict")
    ram = None
    try:
        for key, scale in (("memory_bytes", 1), ("ansible_memtotal_mb", 1 << 20), ("mem_total_kb", 1024)):
            if host_facts.get(key) is not None:
                ram = int(host_facts[key]) * scale
                break
        bits = host_facts.get("max_phys_bits")
        bits = int(bits) if bits is not None else None
    except (TypeError, ValueError):
        raise DiagnosisInputError("host_facts memory size and max_phys_bits must be integers")
    if ram is not None and ram <= 0 or bits is not None and not 32 <= bits <= 52:
        raise DiagnosisInputError("host_facts memory size must be positive and max_phys_bits 32..52")
    arch = host_facts.get("arch") or host_facts.get("ansible_architecture")
    aliases = host_facts.get("device_aliases") or {}
    if not isinstance(aliases, dict):
        raise DiagnosisInputError("host_facts.device_aliases must be a dict")
    assumptions = host_facts.get("assumptions") or []
    if not isinstance(assumptions, list):
        raise DiagnosisInputError("host_facts.assumptions must be a list")
    return {"memory_bytes": int(ram) if ram else None, "arch": arch,
            "kernel": host_facts.get("kernel") or host_facts.get("ansible_kernel"),
            "max_phys_bits": bits, "phys_bits_source": host_facts.get("phys_bits_source"),
            "assumptions": [str(a) for a in assumptions], "device_aliases": aliases}


def _disk_name(name, aliases):
    """Whole-disk name: /dev/sda1 -> sda, nvme0n1p2 -> nvme0, mmcblk0p1 -> mmcblk0, aliases applied."""
    if not name:
        return None
    text = str(name)
    text = aliases.get(text, text)
    if text.startswith("/dev/"):
        text = text[5:]
    text = aliases.get(text, text)
    if text.startswith("nvme"):
        base = text.split("n", 2)
        # nvme0n1p2 -> "", "vme0", "1p2"
        return "nvme" + base[1][3:] if len(base) >= 2 else text
    if text.startswith(("mmcblk", "nbd", "loop")):
        return text.split("p")[0] if "p" in text[6:] else text
    if text.startswith("ata") and "." in text:
        return text.split(".", 1)[0]
    if text.startswith(("sd", "vd", "xvd", "hd")):
        return text.rstrip("0123456789")
    return text


# --- evidence references -------------------------------------------------------------------------------

def _ref(finding, origin):
    ref = {"category": finding.get("category"), "source": finding.get("source") or origin,
           "message": finding.get("message"), "line": finding.get("line")}
    for key in ("signature", "time", "device", "dimm", "module", "module_from", "address", "error_class", "count"):
        if finding.get(key) is not None:
            ref[key] = finding[key]
    return ref


def _disk_ref(disk, counters):
    ref = {"category": "disk_health", "source": "smartctl", "device": disk.get("device"),
           "verdict": disk.get("verdict"), "line": None,
           "message": "%s: %s" % (disk.get("device"), "; ".join(r.get("message", "") for r in disk.get("reasons") or [])
                                  or disk.get("verdict"))}
    if counters:
        ref["counters"] = counters
    return ref


# --- fact extraction ----------------------------------------------------------------------------------

_MEDIA_COUNTERS = ("pending_sectors", "reallocated_sectors", "offline_uncorrectable", "reported_uncorrectable",
                   "media_errors", "grown_defects", "read_uncorrected", "write_uncorrected", "verify_uncorrected")


def _has_role(finding, role):
    """Whether the catalogue gives the finding's signature this diagnosis role (signatures.ROLES)."""
    sig = SIGNATURE_BY_ID.get(finding.get("signature"))
    return sig is not None and role in sig.roles


def _add(facts, fid, subject, ref):
    bucket = facts.setdefault(fid, {}).setdefault(subject, [])
    if ref not in bucket and len(bucket) < 20:
        bucket.append(ref)


def _mce_uncorrected(finding):
    mce = finding.get("mce")
    if isinstance(mce, dict) and "uncorrected" in mce:
        return bool(mce["uncorrected"])
    return SEVERITY_RANK.get(finding.get("severity"), 0) >= SEVERITY_RANK["error"]


def _module_name(entry):
    return str(entry).split("(", 1)[0]


_MONTHS = dict((m, i) for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1))
_ISO_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)")
_SYSLOG_TIME = re.compile(r"^(?:\w{3} )?(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)(?: (\d{4}))?")


def _clock(time):
    """(clock, seconds) of a finding's time, or None. Clocks: wall, wall without a year (syslog), uptime
    (dmesg seconds); only times on the same clock are compared."""
    if time is None:
        return None
    text = str(time).strip()
    match = _ISO_TIME.match(text)
    if match:
        return "wall", calendar.timegm(tuple(int(x) for x in match.groups()) + (0, 0, 0))
    match = _SYSLOG_TIME.match(text)
    if match and match.group(1) in _MONTHS:
        month, day, hour, minute, sec, year = match.groups()
        stamp = calendar.timegm((int(year or 2000), _MONTHS[month], int(day), int(hour), int(minute), int(sec),
                                 0, 0, 0))
        return ("wall" if year else "wall_noyear"), stamp
    try:
        value = float(text)
    except ValueError:
        return None
    # mcelog's TIME is a Unix time; dmesg stamps are seconds since boot
    return ("wall", value) if value >= 1e9 else ("uptime", value)


def _hex_int(value):
    try:
        return int(str(value), 16)
    except (TypeError, ValueError):
        return None


def _peak(events, window):
    """Most events (summing counts) in any window; None when the times are missing or on different clocks."""
    clocks = set(e["clock"][0] if e["clock"] else None for e in events)
    if len(clocks) != 1 or None in clocks:
        return None
    timed = sorted((e["clock"][1], e["count"]) for e in events)
    best, total, start = 0, 0, 0
    for end in range(len(timed)):
        total += timed[end][1]
        while timed[end][0] - timed[start][0] >= window:
            total -= timed[start][1]
            start += 1
        best = max(best, total)
    return best


def _dedup_across_sources(events):
    """The same machine check read from the kernel log and from rasdaemon counts once: per event identity
    (address, status) keep the source that holds it most often."""
    by_identity = {}
    kept = []
    for event in events:
        if event["identity"] is None:
            kept.append(event)
        else:
            by_identity.setdefault(event["identity"], {}).setdefault(event["origin"], []).append(event)
    for origins in by_identity.values():
        kept.extend(max(origins.values(), key=len))
    return kept


def _weigh_ce(facts, ce_events):
    """Corrected-error facts per DIMM from counts and rates against the anchors' thresholds."""
    rates = []
    for dimm, raw in sorted(ce_events.items(), key=lambda kv: str(kv[0])):
        events = _dedup_across_sources(raw)
        total = sum(e["count"] for e in events)
        peak = _peak(events, DAY)
        if peak is None:
            peak = total
            basis = "%d in total; their times give no rate, so counted as one 24 h window" % total
        else:
            basis = "at most %d within 24 h" % peak
        rate = {"dimm": dimm, "corrected_errors": total, "peak_24h": peak, "basis": basis, "over": []}
        for ev in raw:
            _add(facts, "memory_ce_seen", dimm, ev["ref"])
            _add(facts, "memory_reported", dimm, ev["ref"])
        for fid, count, window, anchor in CE_THRESHOLDS:
            if peak >= count:
                rate["over"].append(anchor)
                for ev in raw:
                    _add(facts, fid, dimm, ev["ref"])
                    _add(facts, "memory_errors", dimm, ev["ref"])
        pages = {}
        for ev in events:
            if ev["page"] is not None:
                pages.setdefault(ev["page"], []).append(dict(ev, count=1))
        for page, page_events in sorted(pages.items()):
            repeat = _peak(page_events, PAGE_REPEAT[1])
            if (repeat if repeat is not None else len(page_events)) >= PAGE_REPEAT[0]:
                rate["over"].append("%s (page 0x%x)" % (PAGE_REPEAT[2], page))
                for ev in page_events:
                    _add(facts, "memory_ce_same_page", dimm, ev["ref"])
                break
        rates.append(rate)
    return rates


def _media_repeated(facts, media):
    """block_media_repeated for a disk whose media errors hit the same 1 MiB region at least twice."""
    for device, items in media.items():
        regions = {}
        for sector, ref in items:
            regions.setdefault(sector // MEDIA_REGION_SECTORS, []).append(ref)
        for refs in regions.values():
            if len(refs) >= 2:
                for ref in refs:
                    _add(facts, "block_media_repeated", device, ref)


def _extract(records, disks, taint, host):
    facts = {}
    aliases = host.get("device_aliases") or {}
    pte_analysis = []
    driver_taint = [n for n in taint if n in _DRIVER_TAINTS]
    ce_events = {}
    media = {}
    for finding, origin in records:
        cat = finding["category"]
        ref = _ref(finding, origin)
        also = finding.get("also_categories") or []
        dimm = finding.get("dimm") or None
        if cat == "memory_error_corrected" and finding.get("severity") != "info":
            count = finding.get("error_count") or finding.get("count") or 1
            count = count if isinstance(count, int) and count > 0 else 1
            address = _hex_int(finding.get("address"))
            status = _hex_int(finding.get("mce_status"))
            ce_events.setdefault(dimm, []).append({
                "ref": ref, "origin": origin, "count": count + (finding.get("repeats") or 0),
                "clock": _clock(finding.get("time")),
                "identity": (address, status) if address is not None and status is not None else None,
                "page": address >> PAGE_SHIFT if address is not None else None})
        elif cat == "memory_error_uncorrected":
            _add(facts, "memory_ue", dimm, ref)
            _add(facts, "memory_errors", dimm, ref)
            _add(facts, "memory_reported", dimm, ref)
        elif cat == "memory_page_offlined" and not _has_role(finding, "injected"):
            _add(facts, "memory_offlined", None, ref)
        elif cat == "machine_check_other" and finding.get("source") != "taint":
            _add(facts, "mce_other_uncorrected" if _mce_uncorrected(finding) else "mce_other_corrected", None, ref)
        if cat in ("pte_corruption", "bad_page_state"):
            if not _has_role(finding, "mm_accounting") or cat == "bad_page_state":
                _add(facts, "page_corruption", None, ref)
            if finding.get("module"):
                _add(facts, "module_in_corruption", finding["module"], ref)
            for key in ("fault_module", "mmap_module", "read_folio_module"):
                if finding.get(key) and finding[key] != finding.get("module"):
                    _add(facts, "module_in_corruption", finding[key], ref)
            if cat == "pte_corruption":
                try:
                    analysis = analyze_finding(finding, arch=host.get("arch"),
                                               installed_ram_bytes=host.get("memory_bytes"),
                                               max_phys_bits=host.get("max_phys_bits"),
                                               kernel_version=host.get("kernel"),
                                               phys_bits_source=host.get("phys_bits_source"))
                except PteValueError:
                    analysis = None
                if analysis and analysis["entries"]:
                    pte_analysis.append({"line": finding.get("line"), "signature": finding.get("signature"),
                                         "points_to": analysis["points_to"], "entries": analysis["entries"],
                                         "observations": analysis["observations"]})
                    if analysis["points_to"] == "hardware":
                        _add(facts, "pte_bit_flip", None, ref)
                    elif analysis["points_to"] == "software":
                        _add(facts, "pte_software_value", None, ref)
        if cat in ("kernel_oops", "kernel_panic") or "kernel_oops" in also:
            _add(facts, "oops", None, ref)
            if finding.get("module") and finding.get("module_from") == "rip":
                _add(facts, "oops_rip_module", finding["module"], ref)
            hint = finding.get("hint") or ""
            if finding.get("address_poison") or hint.startswith("software") or hint == "corrupted_pointer" or \
                    _has_role(finding, "software_hint"):
                _add(facts, "oops_software_hint", None, ref)
        for entry in finding.get("tainting_modules") or []:
            flags = str(entry).partition("(")[2]
            if any(letter in flags for letter in "POEC"):
                _add(facts, "tainting_module", _module_name(entry), ref)
        names = finding.get("taint_flags") or []
        if any(n in _DRIVER_TAINTS for n in names) and not finding.get("tainting_modules"):
            _add(facts, "tainting_module", None, ref)
        tool_finding = finding.get("source") in ("smartctl", "badblocks")
        if cat in ("block_io_error", "storage_device_error") and not tool_finding:
            device = _disk_name(finding.get("device"), aliases)
            klass = finding.get("error_class")
            if klass == "media":
                _add(facts, "block_media_error", device, ref)
                if isinstance(finding.get("sector"), int):
                    media.setdefault(device, []).append((finding["sector"], ref))
            elif klass in ("link", "transport"):
                _add(facts, "link_error", device, ref)
            elif _has_role(finding, "controller") or klass == "timeout":
                _add(facts, "controller_error", device, ref)
            elif cat == "block_io_error":
                _add(facts, "block_io_error", device, ref)
            if klass == "media" and origin == "reproduction":
                _add(facts, "reproduced_media_error", device, ref)
        if finding.get("source") == "badblocks":
            _add(facts, "smart_media_defects", _disk_name(finding.get("device"), aliases), ref)
    rates = _weigh_ce(facts, ce_events)
    _media_repeated(facts, media)
    if driver_taint:
        _add(facts, "tainting_module", None, {"category": "taint", "source": "taint", "line": None,
                                              "message": "kernel taint: %s" % ", ".join(driver_taint)})
    for disk in disks:
        device = _disk_name(disk.get("device"), aliases)
        media = dict((k, disk[k]) for k in _MEDIA_COUNTERS if isinstance(disk.get(k), int) and disk[k] > 0)
        if disk.get("self_test_errors"):
            media["self_test_errors"] = disk["self_test_errors"]
        if media:
            _add(facts, "smart_media_defects", device, _disk_ref(disk, media))
        if disk.get("smart_status_passed") is False or disk.get("verdict") == "failing":
            _add(facts, "smart_failing", device, _disk_ref(disk, media))
        crc = disk.get("udma_crc_errors")
        if isinstance(crc, int) and crc > 0:
            _add(facts, "smart_crc_errors", device, _disk_ref(disk, {"udma_crc_errors": crc}))
    return facts, pte_analysis, rates


# --- results of the later steps: 5 (controlled reproduction), 6 (symbolization) --------------------------------

REPRODUCTION_STATUSES = ("reproduced", "not_reproduced", "refused", "error")
# Taint letters of a module that is not part of the kernel tree (proprietary, out-of-tree, unsigned).
_OUT_OF_TREE_LETTERS = "POE"
_OUT_OF_TREE_TAINTS = ("proprietary_module", "out_of_tree_module", "unsigned_module")
# Where DKMS and vendor packages install modules that are not in the tree (/lib/modules/<release>/...).
_OUT_OF_TREE_DIRS = ("/updates/", "/extra/", "/dkms/")
MAX_FRAMES_PER_CAUSE = 8


def _reproduction_of(value):
    """(the reproduction section, its kernel findings); (None, []) when there is none."""
    if value is None:
        return None, []
    if not isinstance(value, dict) or value.get("status") not in REPRODUCTION_STATUSES:
        raise DiagnosisInputError("reproduction must be a dict whose status is one of %s"
                                  % ", ".join(REPRODUCTION_STATUSES))
    return value, _findings_of(value.get("findings") or [], "reproduction.findings")


def _reproduction_ref(run):
    what = "%s %s of %s" % (run.get("tool") or "stress", run.get("mode") or "run",
                            run.get("target") or run.get("device") or "an unnamed target")
    text = "%s: %s" % (what, run["status"].replace("_", " "))
    if run.get("seconds") is not None:
        text += " after %s s" % run["seconds"]
    if run.get("stopped_early"):
        text += ", stopped at the first new kernel error"
    if run.get("message"):
        text += " (%s)" % run["message"]
    ref = {"category": "reproduction", "source": "reproduction", "line": None, "message": text,
           "status": run["status"]}
    if run.get("device"):
        ref["device"] = run["device"]
    return ref


def _reproduction_facts(facts, run, aliases):
    """The run itself as evidence: beside the media errors it reproduced, or against an I/O cause it did not."""
    if run is None:
        return
    ref = _reproduction_ref(run)
    for device in list((facts.get("reproduced_media_error") or {})):
        _add(facts, "reproduced_media_error", device, ref)
    device = _disk_name(run.get("device"), aliases)
    if run["status"] == "not_reproduced" and not run.get("stopped_early") and device:
        _add(facts, "io_not_reproduced", device, ref)


def _weigh_against(causes, facts):
    for rid, fid, against, outweighs, factor, _why in COUNTER_RULES:
        for cause in causes:
            device = (cause.get("subject") or {}).get("device")
            refs = (facts.get(fid) or {}).get(device) if cause["cause"] in against else None
            if not refs:
                continue
            weighed = set(cause["rules"]) <= set(outweighs)
            cause.setdefault("evidence_against", []).extend(dict(ref, rule=rid, weighed=weighed) for ref in refs)
            if weighed:
                cause["confidence"] = round(cause["confidence"] * (1.0 - factor), 3)
                cause["confidence_word"] = _word(cause["confidence"])


def _resolved_frames(value):
    """(record, frame) for every frame an oops_symbolize result resolved to a file and line."""
    if value is None:
        return []
    if not isinstance(value, dict) or not isinstance(value.get("records"), list):
        raise DiagnosisInputError("symbolized must be an oops_symbolize result (a dict with a list of records)")
    out = []
    for index, record in enumerate(value["records"]):
        frames = record.get("frames") if isinstance(record, dict) else None
        if not isinstance(frames, list) or not all(isinstance(f, dict) for f in frames):
            raise DiagnosisInputError("symbolized record %d has no list of frames" % index)
        out.extend((record, f) for f in record["frames"] if f.get("status") == "resolved" and f.get("file"))
    return out


def _module_key(name):
    return str(name).replace("-", "_")


def _out_of_tree_basis(records, taint):
    """(by module: why it is out of the tree, why any unlisted module may be): the kernel's own 'Modules linked in'
    marks (name(OE)) name the module; without any such list, only the taint flags speak, for the whole kernel."""
    marked, listed = {}, False
    flags = set(taint)
    for finding, _origin in records:
        flags.update(finding.get("taint_flags") or [])
        listed = listed or bool(finding.get("modules_linked") or finding.get("tainting_modules"))
        for entry in finding.get("tainting_modules") or []:
            if any(letter in str(entry).partition("(")[2] for letter in _OUT_OF_TREE_LETTERS):
                marked.setdefault(_module_key(_module_name(entry)), "the kernel lists it as %s" % entry)
    tainted = [n for n in _OUT_OF_TREE_TAINTS if n in flags]
    unlisted = None
    if tainted and not listed:
        unlisted = "the kernel is tainted %s and printed no module list" % "/".join(tainted)
    return marked, unlisted


def _frame_ref(record, frame, basis):
    where = "%s:%s" % (frame["file"], frame.get("line"))
    symbol = "%s+0x%s/0x%s" % (frame["symbol"], frame.get("offset"), frame.get("size"))
    module = frame.get("module")
    text = "%s %s%s is at %s" % ("RIP" if frame.get("from") == "rip" else "call trace", symbol,
                                 " [%s]" % module if module else "", where)
    if frame.get("function") and frame["function"] != frame["symbol"]:
        text += " in %s()" % frame["function"]
    chain = frame.get("inline_chain") or []
    steps = ["%s() %s:%s" % (c.get("function"), c.get("file"), c.get("line")) for c in chain]
    if len(steps) > 1:
        text += ", inlined: " + " <- ".join(steps)
    if not frame.get("build_id_verified"):
        text += " (build-id not checked against the running one)"
    ref = {"category": "symbolized_frame", "source": "oops_symbolize", "line": record.get("oops_line"),
           "message": text, "location": where, "symbol": symbol, "from": frame.get("from"),
           "build_id_verified": bool(frame.get("build_id_verified"))}
    if module:
        ref["module"] = module
    if basis:
        ref["out_of_tree"] = basis
    return ref


def _frame_basis(frame, marked, unlisted):
    """Why the frame's module counts as out of the kernel tree, or None when nothing says it is."""
    module = _module_key(frame.get("module"))
    elf = str(frame.get("elf") or "")
    if module in marked:
        return marked[module]
    if any(d in elf for d in _OUT_OF_TREE_DIRS):
        return "its .ko is installed outside the kernel tree (%s)" % elf
    return unlisted


def _attach_frames(causes, frames, records, taint):
    """A resolved frame names its file and line in the evidence of the cause it is about: a frame in an out-of-tree
    module in that module's driver cause, a RIP in core kernel code in the kernel-bug cause. No weight changes: the
    frame locates what the rules already weighed."""
    if not frames:
        return
    marked, unlisted = _out_of_tree_basis(records, taint)
    for cause in causes:
        subject = (cause.get("subject") or {}).get("module")
        refs = []
        for record, frame in frames:
            module = frame.get("module")
            if cause["cause"] == "driver_dma_corruption" and module and \
                    (subject is None or _module_key(subject) == _module_key(module)):
                basis = _frame_basis(frame, marked, unlisted)
                if basis:
                    refs.append(_frame_ref(record, frame, basis))
            elif cause["cause"] == "kernel_bug" and not module and frame.get("from") == "rip":
                refs.append(_frame_ref(record, frame, None))
        for ref in refs[:MAX_FRAMES_PER_CAUSE]:
            if ref not in cause["evidence"]:
                cause["evidence"].append(ref)


# --- rule evaluation ------------------------------------------------------------------------------------

def _fire(rule, facts):
    """[(subject kind, subject, evidence)] for each subject the rule holds for."""
    rid, need, forbid, _cause, _weight, _why = rule
    for fid in need:
        if not facts.get(fid):
            return []
    for fid in forbid:
        if facts.get(fid):
            return []
    keyed = [fid for fid in need if FACT_KINDS[fid]]
    kind = FACT_KINDS[keyed[0]] if keyed else None
    if keyed and len(keyed) > 1:
        subjects = None
        for fid in keyed:
            named = set(s for s in facts[fid] if s is not None)
            subjects = named if subjects is None else subjects & named
        subjects = sorted(subjects)
    elif keyed:
        subjects = sorted(facts[keyed[0]], key=lambda s: (s is None, str(s)))
    else:
        subjects = [None]
    hits = []
    for subject in subjects:
        evidence = []
        for fid in need:
            if FACT_KINDS[fid] and len(keyed) > 1:
                evidence.extend(facts[fid].get(subject, []))
            elif FACT_KINDS[fid]:
                evidence.extend(facts[fid].get(subject, []))
            else:
                for refs in facts[fid].values():
                    evidence.extend(refs)
        hits.append((kind, subject, evidence))
    return hits


def _fold_unknown(groups):
    """Evidence about an unnamed subject joins every named subject of the same cause (a host-wide fact such as a
    software-shaped PTE supports each named module alike)."""
    by_cause = {}
    for key in groups:
        by_cause.setdefault(key[0], []).append(key)
    for cause, keys in by_cause.items():
        named = [k for k in keys if k[2] is not None]
        unnamed = [k for k in keys if k[2] is None]
        if not named or not unnamed:
            continue
        sources = [groups.pop(key) for key in unnamed]
        for target_key in named:
            target = groups[target_key]
            for source in sources:
                for rule_id, weight in source["rules"]:
                    if rule_id not in [r for r, _w in target["rules"]]:
                        target["rules"].append((rule_id, weight))
                for ref in source["evidence"]:
                    if ref not in target["evidence"]:
                        target["evidence"].append(ref)


def _steps(cause, kind, subject):
    fill = {"dimm": "the affected DIMM", "module": "the suspect module", "device": "the affected disk"}
    if kind and subject:
        fill[kind] = subject if kind != "device" else "/dev/%s" % subject
    return [{"step": step, "name": STEPS[step], "action": text.format(**fill)} for step, text in NEXT_STEPS[cause]]


def _notes(facts, ce_rates):
    """Evidence below the thresholds: named, counted, with what to do, but not a cause."""
    rates = dict((r["dimm"], r) for r in ce_rates)
    out = []
    for fid, stronger, step, text in NOTES:
        for subject, refs in sorted((facts.get(fid) or {}).items(), key=lambda kv: str(kv[0])):
            if any(subject in (facts.get(f) or {}) for f in stronger):
                continue
            rate = rates.get(subject) or {}
            out.append({
                "about": fid, "subject": {"dimm": subject} if subject else None,
                "message": text.format(count=rate.get("corrected_errors", len(refs)),
                                       dimm=subject or "an unnamed DIMM", basis=rate.get("basis", "rate unknown"),
                                       threshold="; ".join(a for _f, _c, _w, a in CE_THRESHOLDS)),
                "next_steps": [{"step": step, "name": STEPS[step],
                                "action": NEXT_STEPS["faulty_memory"][1][1].format(
                                    dimm=subject or "the affected DIMM")}],
                "evidence": refs,
            })
    return out


def diagnose(kernel_findings, hw_errors=None, disk_health=None, taint=None, host_facts=None, reproduction=None,
             symbolized=None):
    """Ranked probable causes for one host.

    kernel_findings: findings of the kernel-log parser (a list, or a dict with 'findings');
    hw_errors: an hw_error_info result (its findings, taint and HardwareCorrupted are used) or a list
    of findings; disk_health: a disk_health_info result, a list of smartctl reports or of findings;
    taint: /proc/sys/kernel/tainted mask, "Tainted:" letters or a decoded taint dict;
    host_facts: optional memory_bytes (or ansible_memtotal_mb / mem_total_kb), arch, kernel,
    max_phys_bits, device_aliases ({"ata3": "sdb"} maps names between the log and smartctl);
    reproduction: the report's reproduction section (step 5: status, device, the kernel findings of the run);
    symbolized: the report's symbolized section (step 6: an oops_symbolize result).
    """
    records = [(f, "kernel_log") for f in _findings_of(kernel_findings, "kernel_findings")]
    hw = _findings_of(hw_errors, "hw_errors")
    records.extend((f, "hw_error_info") for f in hw)
    disks, disk_findings = _disks_of(disk_health)
    records.extend((f, "disk_health_info") for f in disk_findings)
    if taint is None and isinstance(hw_errors, dict) and hw_errors.get("taint"):
        taint = hw_errors["taint"]
    taint_names = _taint_names(taint)
    host = _host(host_facts)
    if isinstance(hw_errors, dict) and (hw_errors.get("hardware_corrupted_kb") or 0) > 0 and \
            not any(f.get("signature") == "meminfo.hardware_corrupted" for f in hw):
        records.append(({"category": "memory_page_offlined", "severity": "error", "source": "meminfo",
                         "message": "HardwareCorrupted: %d kB" % hw_errors["hardware_corrupted_kb"]}, "hw_error_info"))

    run, run_findings = _reproduction_of(reproduction)
    # the kernel lines the reproduction made are evidence like the log's, marked as the reproduction's
    records.extend((dict(f, source="reproduction"), "reproduction") for f in run_findings)
    frames = _resolved_frames(symbolized)

    facts, pte_analysis, ce_rates = _extract(records, disks, taint_names, host)
    _reproduction_facts(facts, run, host.get("device_aliases") or {})
    groups = {}
    fired = []
    for rule in RULES:
        rid, _need, _forbid, cause, weight, _why = rule
        for kind, subject, evidence in _fire(rule, facts):
            fired.append({"rule": rid, "cause": cause, "subject": subject})
            key = (cause, kind if subject is not None else None, subject)
            group = groups.setdefault(key, {"rules": [], "evidence": []})
            group["rules"].append((rid, weight))
            for ref in evidence:
                if ref not in group["evidence"]:
                    group["evidence"].append(ref)
    _fold_unknown(groups)

    causes = []
    for (cause, kind, subject), group in groups.items():
        remaining = 1.0
        for _rid, weight in group["rules"]:
            remaining *= 1.0 - weight
        confidence = round(1.0 - remaining, 3)
        causes.append({
            "cause": cause,
            "subject": {kind: subject} if kind and subject else None,
            "confidence": confidence,
            "confidence_word": _word(confidence),
            "strongest_rule_weight": max(w for _r, w in group["rules"]),
            "rules": [rid for rid, _w in group["rules"]],
            "evidence": group["evidence"],
            "next_steps": _steps(cause, kind, subject),
        })
    _weigh_against(causes, facts)
    # Equal confidence: the single strongest piece of evidence, then the amount of evidence, decide; the
    # table order only separates causes equal on all three.
    causes.sort(key=lambda c: (-c["confidence"], -c["strongest_rule_weight"], -len(c["evidence"]),
                               CAUSES.index(c["cause"]), str(c["subject"])))
    _attach_frames(causes, frames, records, taint_names)
    if not causes:
        significant = [f for f, _o in records if SEVERITY_RANK[f["severity"]] >= SEVERITY_RANK["warning"]]
        confidence = 0.5 if significant else 0.9
        causes.append({
            "cause": "none", "subject": None, "confidence": confidence, "confidence_word": _word(confidence),
            "rules": [], "evidence": [_ref(f, "kernel_log") for f in significant[:20]],
            "next_steps": _steps("none", None, None),
            "note": (("no rule matched the %d findings at warning or above" % len(significant)) if significant
                     else "no finding at warning or above in any source"),
        })
    return {
        "primary_cause": causes[0]["cause"],
        "causes": causes,
        "notes": _notes(facts, ce_rates),
        "memory_ce_rates": ce_rates,
        "host_facts_used": {"memory_bytes": host.get("memory_bytes"), "max_phys_bits": host.get("max_phys_bits"),
                            "phys_bits_source": host.get("phys_bits_source"), "arch": host.get("arch"),
                            "assumptions": host.get("assumptions") or []},
        "rules_fired": fired,
        "facts": dict((fid, sum(len(v) for v in subjects.values())) for fid, subjects in sorted(facts.items())),
        "pte_analysis": pte_analysis,
        "inputs": {"kernel_findings": sum(1 for _f, o in records if o == "kernel_log"), "hw_findings": len(hw),
                   "disks": len(disks), "disk_findings": len(disk_findings), "taint": taint_names,
                   "reproduction": run["status"] if run else None, "symbolized_frames": len(frames)},
    }
