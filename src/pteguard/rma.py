"""RMA evidence bundles: one document per suspect DIMM of a run, for the hardware vendor's return form.

A DIMM is suspect when it has an uncorrected error, corrected errors over a threshold (the diagnosis' per-DIMM
rates), or is the subject of the faulty_memory cause. The bundle holds the slot, serial, part number and
manufacturer from dmidecode (matched on the label the kernel or rasdaemon printed; when no SMBIOS slot matches, it
says so and lists the host's DIMMs rather than guessing), the error counts per source (kernel log EDAC/MCE/GHES,
rasdaemon, mcelog, EDAC sysfs) and the timeline of the errors.
"""

from __future__ import annotations

import os
import re

from pteguard import atomic_file
from pteguard.parsers.report import report_file_name, report_text

SCHEMA = "pteguard.rma/1"
MEMORY = ("memory_error_corrected", "memory_error_uncorrected", "memory_page_offlined")
_TOKEN = re.compile(r"[^a-z0-9]+")


def _norm(text):
    return _TOKEN.sub("", str(text or "").lower())


def _source(origin, finding):
    """Which recorder saw it: rasdaemon, mcelog, edac_sysfs, or the kernel log."""
    signature = str(finding.get("signature") or "")
    if origin == "kernel_log":
        return "kernel_log"
    for name in ("rasdaemon", "mcelog", "edac"):
        if signature.startswith(name) or finding.get("source") == name:
            return "edac_sysfs" if name == "edac" else name
    return origin


def _count(finding):
    value = finding.get("error_count") or finding.get("count") or 1
    return value if isinstance(value, int) and value > 0 else 1


def match_slot(label, dimms):
    """The dmidecode DIMM whose locator (or bank locator) the label names; None when none or several do."""
    wanted = _norm(label)
    if not wanted:
        return None
    exact = [d for d in dimms if wanted in (_norm(d.get("locator")), _norm(d.get("bank_locator")))]
    if len(exact) == 1:
        return exact[0]
    # "CPU 1 DIMM 5"-style labels end with the slot name
    ending = [d for d in dimms if _norm(d.get("locator")) and wanted.endswith(_norm(d.get("locator")))]
    return ending[0] if len(ending) == 1 else None


def _memory_findings(report):
    for origin in ("kernel_log", "hardware_errors"):
        for finding in (report.get(origin) or {}).get("findings") or []:
            if isinstance(finding, dict) and finding.get("category") in MEMORY:
                yield origin, finding


def suspects(report):
    """{dimm label: why suspect} for one host report."""
    why = {}
    diagnosis = report.get("diagnosis") or {}
    for rate in diagnosis.get("memory_ce_rates") or []:
        if rate.get("dimm") and rate.get("over"):
            why.setdefault(rate["dimm"], []).append("corrected errors over %s" % ", ".join(rate["over"]))
    for _origin, finding in _memory_findings(report):
        if finding["category"] == "memory_error_uncorrected" and finding.get("dimm"):
            why.setdefault(finding["dimm"], []).append("uncorrected memory error")
    for cause in diagnosis.get("causes") or []:
        dimm = (cause.get("subject") or {}).get("dimm")
        if cause.get("cause") == "faulty_memory" and dimm:
            why.setdefault(dimm, []).append("the diagnosis' faulty_memory cause names it (%s)" % (
                cause.get("confidence_word") or cause.get("confidence")))
    return {dimm: sorted(set(reasons)) for dimm, reasons in why.items()}


def bundle(report, dimm, reasons):
    """The RMA document of one suspect DIMM of one host report."""
    inventory = report.get("inventory") or {}
    dimms = inventory.get("dimms")
    slot = match_slot(dimm, dimms or [])
    counts = {}
    timeline = []
    for origin, finding in _memory_findings(report):
        if finding.get("dimm") != dimm:
            continue
        kind = {"memory_error_corrected": "corrected", "memory_error_uncorrected": "uncorrected"}.get(
            finding["category"], "pages_offlined")
        per_source = counts.setdefault(_source(origin, finding), {"corrected": 0, "uncorrected": 0,
                                                                  "pages_offlined": 0})
        per_source[kind] += _count(finding)
        timeline.append({"time": finding.get("time"), "source": _source(origin, finding), "kind": kind,
                         "count": _count(finding), "address": finding.get("address"),
                         "message": finding.get("message", "")})
    timeline.sort(key=lambda e: (e["time"] is None, str(e["time"])))
    if slot is not None:
        matched = "matched on the SMBIOS locator"
    elif dimms is None:
        matched = "no DIMM inventory: %s" % ("; ".join(inventory.get("notes") or []) or "not collected")
    else:
        matched = "no SMBIOS slot matches the label %r: read the board's slot map; the host's DIMMs are listed" % dimm
    return {
        "schema": SCHEMA, "host": report["host"], "dimm_label": dimm, "reasons": reasons,
        "slot": slot, "slot_match": matched,
        "host_dimms": dimms if slot is None and dimms else None,
        "firmware": inventory.get("firmware"), "kernel": (report.get("kernel") or {}).get("release"),
        "error_counts": counts, "timeline": timeline,
    }


def bundles(reports):
    """Every RMA document of a run's host reports, by host then DIMM label."""
    found = []
    for report in sorted(reports, key=lambda r: r["host"]):
        for dimm, reasons in sorted(suspects(report).items()):
            found.append(bundle(report, dimm, reasons))
    return found


def write(reports, directory):
    """One file per suspect DIMM in directory (made if missing, each file whole); the paths written."""
    os.makedirs(directory, exist_ok=True)
    written = []
    for document in bundles(reports):
        path = os.path.join(directory, "rma-" + report_file_name("%s-%s" % (document["host"], document["dimm_label"])))
        atomic_file.write(path, report_text(document))
        written.append(path)
    return written
