"""Compare a fixture's `expect` facts with the findings the parser produced."""

from __future__ import annotations

import glob
import json
import os

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")

# expect key -> finding keys that may carry it
FACT_KEYS = {
    "devices": ("device", "bdev", "devices", "ata_port"),
    "addresses": ("address",),
    "processes": ("process",),
    "pids": ("pid",),
    "cpu": ("cpu",),
    "bank": ("bank", "dram_bank"),
    "sectors": ("sector",),
    "tainted": ("tainted",),
    "dimm": ("dimm",),
    "pfns": ("pfn",),
    "pfn": ("pfn",),
    "mce_status": ("mce_status",),
    "symbols": ("symbol", "fault_fn", "mmap_fn", "read_folio_fn"),
    "modules": ("module", "symbol", "modules_linked", "drivers"),
}


def fixtures():
    paths = sorted(glob.glob(os.path.join(FIXTURES, "*.log")))
    return [os.path.normpath(p) for p in paths]


def load_meta(log_path):
    with open(log_path[:-4] + ".json") as handle:
        return json.load(handle)


HEX_FACTS = ("addresses", "pfns", "pfn", "mce_status")


def _norm(value, key=None):
    text = " ".join(str(value).strip().split())
    if key in HEX_FACTS:
        try:
            return int(text, 16)
        except ValueError:
            return text.lower()
    if key in ("symbols", "modules"):
        return text.split("+0x", maxsplit=1)[0]
    if text.isdigit():
        return int(text)
    return text


def _seen(findings, keys, key):
    seen = set()
    for finding in findings:
        for name in keys:
            value = finding.get(name)
            for item in value if isinstance(value, list) else [value]:
                if item is not None:
                    seen.add(_norm(item, key))
        if key in ("symbols", "modules"):
            for frame in finding.get("call_trace", []):
                seen.add(_norm(frame.split()[0], key))
                if frame.endswith("]"):
                    seen.add(frame.rsplit("[", 1)[1].rstrip("]"))
            for entry in finding.get("tainting_modules", []):
                seen.add(entry.split("(")[0])
    return seen


def _found(value, seen, key):
    if value in seen:
        return True
    # a DIMM is named by location and FRU text in varying combinations
    return key == "dimm" and any(isinstance(s, str) and s and s in str(value) for s in seen)


def missing_facts(meta, findings):
    """Facts the fixture expects that no finding carries: [(key, value)]."""
    missing = []
    for key, keys in FACT_KEYS.items():
        if key not in meta.get("expect", {}):
            continue
        wanted = meta["expect"][key]
        values = wanted if isinstance(wanted, list) else [wanted]
        seen = _seen(findings, keys, key)
        for value in values:
            if not _found(_norm(value, key), seen, key):
                missing.append((key, value))
    return missing
