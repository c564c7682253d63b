# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read EDAC memory-controller counters from sysfs, and parse edac-util / sysfs dump text.

Layout (Documentation/admin-guide/ras.rst, "EDAC sysfs"): ``<root>/mcN/`` holds ce_count,
ue_count, ce_noinfo_count, ue_noinfo_count, mc_name, size_mb; per memory module either
``dimmN/`` (controllers that know their modules) or ``rankN/`` (those that only know ranks),
each with dimm_label, dimm_location, size, dimm_ce_count, dimm_ue_count, dimm_mem_type,
dimm_edac_mode; the legacy ``csrowN/`` directories hold ce_count, ue_count, chN_ce_count and
chN_dimm_label. Everything is optional: drivers fill different subsets.

Pure Python, no Ansible import. Results are plain JSON-serialisable dicts.
"""

from __future__ import annotations

import os
import re

DEFAULT_ROOT = "/sys/devices/system/edac/mc"


class EdacParseError(ValueError):
    """The input is not EDAC data (binary junk, unrelated text, a root that is not a directory)."""


_MC_RE = re.compile(r"^mc(\d+)$")
_MODULE_RE = re.compile(r"^(dimm|rank)(\d+)$")
_CSROW_RE = re.compile(r"^csrow(\d+)$")
_CH_RE = re.compile(r"^ch(\d+)_(ce_count|dimm_label)$")


def _natural(name):
    m = re.match(r"^([a-z_]+?)(\d+)$", name)
    return (m.group(1), int(m.group(2))) if m else (name, -1)


def _read(path, errors, max_bytes=4096):
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes)
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == 2:  # ENOENT: the driver does not offer it
            return None
        errors.append({"path": path, "reason": "%s" % (exc.strerror or exc)})
        return None
    try:
        return data.decode("utf-8", "replace").strip()
    except Exception:  # pragma: no cover - decode with 'replace' does not raise
        return None


def _read_int(path, errors):
    text = _read(path, errors)
    if text is None or text == "":
        return None
    try:
        return int(text.split()[0], 0)
    except ValueError:
        errors.append({"path": path, "reason": "not an integer: %r" % text[:40]})
        return None


def _listdir(path, errors):
    try:
        return sorted(os.listdir(path), key=_natural)
    except (IOError, OSError) as exc:
        errors.append({"path": path, "reason": "%s" % (exc.strerror or exc)})
        return []


def _read_module(path, name, kind, number, errors):
    mod = {
        "name": name,
        "kind": kind,
        "index": number,
        "label": _read(os.path.join(path, "dimm_label"), errors),
        "location": _read(os.path.join(path, "dimm_location"), errors),
        "size": _read_int(os.path.join(path, "size"), errors),
        "mem_type": _read(os.path.join(path, "dimm_mem_type"), errors),
        "edac_mode": _read(os.path.join(path, "dimm_edac_mode"), errors),
        "ce_count": _read_int(os.path.join(path, "dimm_ce_count"), errors),
        "ue_count": _read_int(os.path.join(path, "dimm_ue_count"), errors),
    }
    return mod


def read_edac_sysfs(root: str = DEFAULT_ROOT, max_entries: int = 4096) -> dict:
    """Walk an EDAC ``mc`` directory (the real one, or a copy/fake tree) and return its counters.

    Never raises for a missing tree: ``present`` is False and ``reason`` says why. Unreadable
    files are listed in ``errors``; an unreadable root raises nothing either.
    """
    errors = []
    result = {
        "root": root,
        "present": False,
        "reason": None,
        "controllers": [],
        "ce_total": 0,
        "ue_total": 0,
        "ce_noinfo_total": 0,
        "ue_noinfo_total": 0,
        "errors": errors,
    }
    if not os.path.exists(root):
        result["reason"] = "%s does not exist (EDAC not built or no EDAC driver loaded)" % root
        return result
    if not os.path.isdir(root):
        result["reason"] = "%s is not a directory" % root
        return result
    result["present"] = True
    names = [n for n in _listdir(root, errors) if _MC_RE.match(n)]
    if not names:
        result["reason"] = "no memory controllers registered under %s (no EDAC driver for this platform)" % root
    seen = 0
    for name in names:
        mc_path = os.path.join(root, name)
        if not os.path.isdir(mc_path):
            continue
        mc = {
            "name": name,
            "index": int(_MC_RE.match(name).group(1)),
            "mc_name": _read(os.path.join(mc_path, "mc_name"), errors),
            "size_mb": _read_int(os.path.join(mc_path, "size_mb"), errors),
            "ce_count": _read_int(os.path.join(mc_path, "ce_count"), errors),
            "ue_count": _read_int(os.path.join(mc_path, "ue_count"), errors),
            "ce_noinfo_count": _read_int(os.path.join(mc_path, "ce_noinfo_count"), errors),
            "ue_noinfo_count": _read_int(os.path.join(mc_path, "ue_noinfo_count"), errors),
            "modules": [],
            "csrows": [],
        }
        for entry in _listdir(mc_path, errors):
            seen += 1
            if seen > max_entries:
                errors.append({"path": mc_path, "reason": "more than %d entries: stopped" % max_entries})
                break
            sub = os.path.join(mc_path, entry)
            m = _MODULE_RE.match(entry)
            if m and os.path.isdir(sub):
                mc["modules"].append(_read_module(sub, entry, m.group(1), int(m.group(2)), errors))
                continue
            m = _CSROW_RE.match(entry)
            if m and os.path.isdir(sub):
                row = {
                    "name": entry,
                    "index": int(m.group(1)),
                    "ce_count": _read_int(os.path.join(sub, "ce_count"), errors),
                    "ue_count": _read_int(os.path.join(sub, "ue_count"), errors),
                    "size_mb": _read_int(os.path.join(sub, "size_mb"), errors),
                    "channels": [],
                }
                chans = {}
                for f in _listdir(sub, errors):
                    cm = _CH_RE.match(f)
                    if not cm:
                        continue
                    ch = chans.setdefault(int(cm.group(1)), {"channel": int(cm.group(1)),
                                                             "ce_count": None, "label": None})
                    if cm.group(2) == "ce_count":
                        ch["ce_count"] = _read_int(os.path.join(sub, f), errors)
                    else:
                        ch["label"] = _read(os.path.join(sub, f), errors)
                row["channels"] = [chans[k] for k in sorted(chans)]
                mc["csrows"].append(row)
        result["controllers"].append(mc)
        # Totals: the controller counters include the per-module ones; fall back to modules.
        ce = mc["ce_count"]
        ue = mc["ue_count"]
        if ce is None:
            ce = sum(x["ce_count"] or 0 for x in mc["modules"])
        if ue is None:
            ue = sum(x["ue_count"] or 0 for x in mc["modules"])
        result["ce_total"] += ce
        result["ue_total"] += ue
        result["ce_noinfo_total"] += mc["ce_noinfo_count"] or 0
        result["ue_noinfo_total"] += mc["ue_noinfo_count"] or 0
    return result


def edac_error_locations(data: dict) -> list:
    """Flatten a :func:`read_edac_sysfs` result into the places with non-zero counters.

    Each item: mc, location (dimmN/rankN/csrowN[/chN]/noinfo), label, ce_count, ue_count.
    A module-level count is preferred; csrow counts are used only when a controller has no
    module directories; counts that no module explains appear as ``noinfo``.
    """
    out = []
    for mc in data.get("controllers") or []:
        explained_ce = explained_ue = 0
        if mc.get("modules"):
            for mod in mc["modules"]:
                ce, ue = mod.get("ce_count") or 0, mod.get("ue_count") or 0
                explained_ce += ce
                explained_ue += ue
                if ce or ue:
                    out.append({"mc": mc["name"], "location": mod["name"], "label": mod.get("label"),
                                "dimm_location": mod.get("location"), "ce_count": ce, "ue_count": ue})
        else:
            for row in mc.get("csrows") or []:
                ce, ue = row.get("ce_count") or 0, row.get("ue_count") or 0
                explained_ce += ce
                explained_ue += ue
                if not (ce or ue):
                    continue
                hit = [c for c in row.get("channels") or [] if c.get("ce_count")]
                if hit and not ue:
                    for ch in hit:
                        out.append({"mc": mc["name"], "location": "%s/ch%d" % (row["name"], ch["channel"]),
                                    "label": ch.get("label"), "dimm_location": None,
                                    "ce_count": ch["ce_count"], "ue_count": 0})
                else:
                    labels = [c["label"] for c in row.get("channels") or [] if c.get("label")]
                    out.append({"mc": mc["name"], "location": row["name"],
                                "label": ", ".join(labels) or None, "dimm_location": None,
                                "ce_count": ce, "ue_count": ue})
        ce_rest = max((mc.get("ce_count") or 0) - explained_ce, 0)
        ue_rest = max((mc.get("ue_count") or 0) - explained_ue, 0)
        ce_rest = max(ce_rest, mc.get("ce_noinfo_count") or 0)
        ue_rest = max(ue_rest, mc.get("ue_noinfo_count") or 0)
        if ce_rest or ue_rest:
            out.append({"mc": mc["name"], "location": "noinfo", "label": None, "dimm_location": None,
                        "ce_count": ce_rest, "ue_count": ue_rest})
    return out


# ---------------------------------------------------------------------------
# text: edac-util and sysfs dumps

_REPORT_FULL_RE = re.compile(r"^(mc\d+):([^:]+):(.*):(CE|UE):(\d+)\s*$")
_VERBOSE_RE = re.compile(
    r"^(mc\d+):\s+(?:(csrow\d+):\s+(?:(.+?):\s+)?)?(\d+)\s+(Corrected|Uncorrected)\s+Errors?(.*)$")
_GREP_RE = re.compile(r"^(\S*/edac/mc/(mc\d+)(?:/(\S+?))?/([a-z_0-9]+)):(-?\d+)\s*$")
_PATH_RE = re.compile(r"^(\S*/edac/mc/(mc\d+)(?:/(\S+?))?/([a-z_0-9]+))\s*$")


def _entry_from_file(mc, sub, fname, value):
    loc = sub or "all"
    ftype = None
    if fname in ("ce_count", "dimm_ce_count", "ce_noinfo_count") or fname.endswith("_ce_count"):
        ftype = "CE"
    elif fname in ("ue_count", "dimm_ue_count", "ue_noinfo_count"):
        ftype = "UE"
    if ftype is None:
        return None
    if fname.endswith("noinfo_count"):
        loc = "noinfo"
    chm = re.match(r"^(ch\d+)_ce_count$", fname)
    if chm:
        loc = "%s/%s" % (loc, chm.group(1))
    return {"mc": mc, "location": loc, "label": None, "type": ftype, "count": value,
            "file": fname}


def parse_edac_text(data) -> dict:
    """Parse edac-util output (``--report=full``, ``-v``, default) or an EDAC sysfs dump.

    Sysfs dumps: ``grep . /sys/.../mc*/rank*/dimm_ce_count`` (path:value) or a path line
    followed by its value line. Totals are None when the text holds no counter of that type.
    """
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise EdacParseError("EDAC text contains NUL bytes (binary data?)")
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str):
        raise EdacParseError("EDAC text must be a string")
    if "\x00" in data:
        raise EdacParseError("EDAC text contains NUL characters (binary data?)")
    entries = []
    kinds = set()
    messages = []
    no_errors = False
    pending_path = None
    unknown = 0
    for raw in data.splitlines():
        line = raw.strip()
        if not line:
            continue
        if pending_path is not None:
            pm = pending_path
            pending_path = None
            if re.match(r"^-?\d+$", line):
                e = _entry_from_file(pm.group(2), pm.group(3), pm.group(4), int(line))
                if e:
                    entries.append(e)
                    kinds.add("sysfs_dump")
                continue
        m = _GREP_RE.match(line)
        if m:
            e = _entry_from_file(m.group(2), m.group(3), m.group(4), int(m.group(5)))
            if e:
                entries.append(e)
                kinds.add("sysfs_dump")
            continue
        m = _PATH_RE.match(line)
        if m:
            pending_path = m
            continue
        m = _REPORT_FULL_RE.match(line)
        if m:
            row, label = m.group(2), m.group(3)
            loc = "noinfo" if row == "noinfo" else row
            entries.append({"mc": m.group(1), "location": loc,
                            "label": None if label in ("all", "") else label,
                            "type": m.group(4), "count": int(m.group(5)), "file": None})
            kinds.add("edac-util-report-full")
            continue
        m = _VERBOSE_RE.match(line)
        if m:
            loc = m.group(2) or ("noinfo" if "no DIMM info" in (m.group(6) or "") else "all")
            entries.append({"mc": m.group(1), "location": loc, "label": m.group(3),
                            "type": "CE" if m.group(5) == "Corrected" else "UE",
                            "count": int(m.group(4)), "file": None})
            kinds.add("edac-util-verbose")
            continue
        if "No errors to report" in line:
            no_errors = True
            kinds.add("edac-util")
            continue
        if line.startswith("edac-util:"):
            messages.append(line)
            kinds.add("edac-util")
            continue
        unknown += 1
    if not entries and not no_errors and not messages:
        raise EdacParseError("text holds no EDAC counters or edac-util output")
    ce = [e["count"] for e in entries if e["type"] == "CE"]
    ue = [e["count"] for e in entries if e["type"] == "UE"]
    # Avoid double counting a controller total and its per-module counts from the same dump.
    ce_total = _dedup_total(entries, "CE") if ce else (0 if no_errors else None)
    ue_total = _dedup_total(entries, "UE") if ue else (0 if no_errors else None)
    return {
        "source": sorted(kinds)[0] if len(kinds) == 1 else (sorted(kinds) if kinds else None),
        "entries": entries,
        "memory_controllers": len(set(e["mc"] for e in entries)),
        "ce_total": ce_total,
        "ue_total": ue_total,
        "messages": messages,
        "unparsed_lines": unknown,
    }


def _dedup_total(entries, etype):
    total = 0
    per_mc = {}
    for e in entries:
        if e["type"] != etype:
            continue
        slot = per_mc.setdefault(e["mc"], {"all": None, "parts": 0})
        if e["location"] == "all":
            slot["all"] = (slot["all"] or 0) + e["count"]
        else:
            slot["parts"] += e["count"]
    for slot in per_mc.values():
        total += max(slot["all"] or 0, slot["parts"]) if slot["all"] is not None else slot["parts"]
    return total
