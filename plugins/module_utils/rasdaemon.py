# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read rasdaemon's records: its SQLite database (read-only) and ``ras-mc-ctl`` text.

The database (default /var/lib/rasdaemon/ras-mc_event.db) has one table per event kind;
which tables and columns exist depends on the rasdaemon version and its build options
(mce_record gained ppin/microcode, aer_event gained dev_name, disk_errors and
memory_failure_event are optional, ...). Everything here tolerates missing tables and
columns, and opens the file with ``mode=ro`` so nothing is ever written or created.

Pure Python (stdlib sqlite3), no Ansible import; plain JSON-serialisable results.
"""

from __future__ import annotations

import os
import re

try:  # Python 3
    from urllib.parse import quote as _quote
except ImportError:  # pragma: no cover
    from urllib import quote as _quote  # type: ignore

from .mcelog import decode_status, looks_like_memory

DEFAULT_DB = "/var/lib/rasdaemon/ras-mc_event.db"

# Tables rasdaemon writes (ras-record.c), with the columns this module reads.
TABLES = {
    "mc_event": ("id", "timestamp", "err_count", "err_type", "err_msg", "label", "mc",
                 "top_layer", "middle_layer", "lower_layer", "address", "grain", "syndrome",
                 "driver_detail"),
    "mce_record": ("id", "timestamp", "mcgcap", "mcgstatus", "status", "addr", "misc", "ip", "tsc",
                   "walltime", "ppin", "cpu", "cpuid", "apicid", "socketid", "cs", "bank",
                   "cpuvendor", "microcode", "bank_name", "error_msg", "mcgstatus_msg",
                   "mcistatus_msg", "mcastatus_msg", "user_action", "mc_location"),
    "aer_event": ("id", "timestamp", "dev_name", "err_type", "err_msg"),
    "extlog_event": ("id", "timestamp", "etype", "error_count", "severity", "address", "fru_id",
                     "fru_text", "cper_data"),
    "memory_failure_event": ("id", "timestamp", "pfn", "page_type", "action_result"),
    "devlink_event": ("id", "timestamp", "bus_name", "dev_name", "driver_name", "reporter_name", "msg"),
    "disk_errors": ("id", "timestamp", "dev", "sector", "nr_sector", "error", "rwbs", "cmd"),
    "arm_event": ("id", "timestamp", "error_count", "affinity", "mpidr", "running_state",
                  "psci_state", "error_type", "error_flags", "error_info", "virt_fault_addr",
                  "phy_fault_addr"),
    "non_standard_event": ("id", "timestamp", "sec_type", "fru_id", "fru_text", "severity", "error"),
}

# UEFI CPER section severities used by extlog_event.severity
CPER_SEVERITY = {0: "recoverable", 1: "fatal", 2: "corrected", 3: "informational"}


# mce_record.mc_location is not a DIMM label: rasdaemon's decoders append "key=value" pieces to it, space
# separated (mce_snprintf): "n_errors=N" (the corrected-error count of MCi_STATUS bits 52:38, mce-intel.c),
# "memory_channel=N,csrow=N" (AMD SMCA), "memory_channel=N" then "rank=N" or "ranks=N and M" (Intel iMC
# decoders), "channel=N, dimm=N" (Nehalem), "memory_die_id=N". Only the channel/csrow/dimm/rank pieces
# locate memory; n_errors is a count.
_LOCATION_PIECES = (("memory_die_id", "die"), ("memory_channel", "channel"), ("channel", "channel"),
                    ("csrow", "csrow"), ("dimm", "dimm"), ("rank", "rank"))
_MC_LOCATION_RE = re.compile(r"\b(n_errors|memory_die_id|memory_channel|channel|csrow|dimm|rank)=(\d+)")
_RANKS_RE = re.compile(r"\branks=(\d+) and (\d+)")


def parse_mc_location(text):
    """The numeric pieces of an mce_record mc_location (or of a ras-mc-ctl MCE line that carries one)."""
    fields = {}
    for key, value in _MC_LOCATION_RE.findall(text or ""):
        fields.setdefault(key, int(value))
    match = _RANKS_RE.search(text or "")
    if match:
        fields["ranks"] = "%s+%s" % match.groups()
    return fields


def memory_location(fields, socket=None):
    """A memory location path ("socket1/channel0/csrow1") from parse_mc_location fields; None when the
    record locates nothing (only n_errors, or no decoder for this CPU)."""
    parts = []
    seen = set()
    for key, name in _LOCATION_PIECES:
        if key in fields and name not in seen:
            parts.append("%s%d" % (name, fields[key]))
            seen.add(name)
    if "ranks" in fields:
        parts.append("ranks%s" % fields["ranks"])
    if not parts:
        return None
    if socket:
        parts.insert(0, "socket%s" % socket)
    return "/".join(parts)


def _mc_event_location(rec):
    """An mc_event's DIMM: its EDAC label, else mcN/top:middle:lower (negative layers are unused)."""
    if rec.get("label"):
        return rec["label"]
    if rec.get("mc") is None:
        return None
    layers = [str(x) for x in (rec.get("top_layer"), rec.get("middle_layer"), rec.get("lower_layer"))
              if isinstance(x, int) and 0 <= x < 1 << 63]  # -1 (unused) reads back as 2**64 - 1
    return "mc%s/%s" % (rec["mc"], ":".join(layers)) if layers else "mc%s" % rec["mc"]


class RasdaemonError(ValueError):
    """rasdaemon data could not be read or parsed (missing/corrupt database, garbage text)."""


def _jsonable(value, max_blob=64):
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return data[:max_blob].hex() + ("..." if len(data) > max_blob else "")
    return value


def _u64(value):
    """sqlite stores 64-bit registers signed; give them back unsigned."""
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return value + (1 << 64)
    return value


def read_rasdaemon_db(path: str = DEFAULT_DB, max_records: int = 200, timeout: float = 2.0) -> dict:
    """Read every known table of a rasdaemon database read-only.

    Returns ``tables`` (name -> {count, columns, records (newest first, at most max_records)}),
    ``missing_tables`` and ``missing_columns``. Raises :class:`RasdaemonError` with the reason
    when the file is absent, unreadable, or not an SQLite database.
    """
    if not os.path.exists(path):
        raise RasdaemonError("%s does not exist (rasdaemon not installed, or never started with recording)" % path)
    if not os.path.isfile(path):
        raise RasdaemonError("%s is not a regular file" % path)
    if not os.access(path, os.R_OK):
        raise RasdaemonError("%s is not readable by this user" % path)
    # imported here: most hosts of a fleet have no database, and every host runs this module's imports
    import sqlite3

    uri = "file:%s?mode=ro" % _quote(os.path.abspath(path))
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=timeout)
    except sqlite3.Error as exc:
        raise RasdaemonError("cannot open %s read-only: %s" % (path, exc))
    result = {"path": path, "tables": {}, "missing_tables": [], "missing_columns": {}}
    try:
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        except sqlite3.Error as exc:
            raise RasdaemonError("%s is not a readable SQLite database: %s" % (path, exc))
        present = set(r[0] for r in rows)
        for table, wanted in TABLES.items():
            if table not in present:
                result["missing_tables"].append(table)
                continue
            try:
                cols = [r[1] for r in conn.execute('PRAGMA table_info("%s")' % table).fetchall()]
                use = [c for c in wanted if c in cols]
                missing = [c for c in wanted if c not in cols]
                if missing:
                    result["missing_columns"][table] = missing
                count = conn.execute('SELECT COUNT(*) FROM "%s"' % table).fetchone()[0]
                order = ' ORDER BY "id" DESC' if "id" in cols else ""
                sql = 'SELECT %s FROM "%s"%s LIMIT ?' % (", ".join('"%s"' % c for c in use), table, order)
                records = []
                for row in conn.execute(sql, (int(max_records),)).fetchall():
                    rec = dict((c, _jsonable(_u64(v))) for c, v in zip(use, row))
                    for c in missing:
                        rec[c] = None
                    records.append(rec)
            except sqlite3.Error as exc:
                result["tables"][table] = {"count": None, "columns": [], "records": [],
                                           "error": "%s" % exc}
                continue
            result["tables"][table] = {"count": count, "columns": use, "records": records,
                                       "truncated": count > len(records)}
    finally:
        conn.close()
    return result


def _mc_event_kind(err_type):
    t = (err_type or "").lower()
    if "uncorrected" in t or "fatal" in t:
        return "uncorrected"
    if "corrected" in t:
        return "corrected"
    if "deferred" in t:
        return "deferred"
    return t or "unknown"


def summarize_db(data: dict) -> dict:
    """Counts per kind from :func:`read_rasdaemon_db`, with per-label memory error counts."""
    tables = data.get("tables") or {}
    out = {"memory_ce": 0, "memory_ue": 0, "mce_corrected": 0, "mce_uncorrected": 0,
           "aer": 0, "memory_failure": 0, "disk_errors": 0, "extlog": 0, "devlink": 0,
           "by_label": {}}
    for rec in (tables.get("mc_event") or {}).get("records") or []:
        kind = _mc_event_kind(rec.get("err_type"))
        n = rec.get("err_count") or 1
        label = _mc_event_location(rec) or "unknown"
        slot = out["by_label"].setdefault(label, {"ce": 0, "ue": 0})
        if kind == "uncorrected":
            out["memory_ue"] += n
            slot["ue"] += n
        elif kind == "corrected":
            out["memory_ce"] += n
            slot["ce"] += n
    for rec in (tables.get("mce_record") or {}).get("records") or []:
        try:
            dec = decode_status(rec.get("status") or 0)
            unc = dec["uncorrected"]
        except ValueError:
            unc = False
        out["mce_uncorrected" if unc else "mce_corrected"] += 1
    for name, key in (("aer_event", "aer"), ("memory_failure_event", "memory_failure"),
                      ("disk_errors", "disk_errors"), ("extlog_event", "extlog"),
                      ("devlink_event", "devlink")):
        t = tables.get(name) or {}
        out[key] = t.get("count") or 0
    return out


def db_findings(data: dict) -> list:
    """Findings (finding-contract dicts) for the records of a rasdaemon database."""
    tables = data.get("tables") or {}
    findings = []
    for rec in (tables.get("mc_event") or {}).get("records") or []:
        kind = _mc_event_kind(rec.get("err_type"))
        if kind == "uncorrected":
            cat, sev = "memory_error_uncorrected", "critical"
        elif kind == "corrected":
            cat, sev = "memory_error_corrected", "warning"
        else:
            cat, sev = "memory_error_corrected", "info"
        f = {"category": cat, "severity": sev, "source": "rasdaemon", "signature": "rasdaemon.mc_event",
             "time": rec.get("timestamp"),
             "message": "%s %s error(s): %s" % (rec.get("err_count"), rec.get("err_type"), rec.get("err_msg")),
             "count": rec.get("err_count"), "dimm": _mc_event_location(rec), "id": rec.get("id")}
        if rec.get("address") is not None:
            f["address"] = "0x%x" % rec["address"] if isinstance(rec["address"], int) else rec["address"]
        findings.append(f)
    for rec in (tables.get("mce_record") or {}).get("records") or []:
        try:
            dec = decode_status(rec.get("status") or 0)
        except ValueError:
            dec = {"uncorrected": False, "processor_context_corrupt": False, "kind": "other",
                   "status": str(rec.get("status"))}
        memory = dec["kind"] == "memory" or looks_like_memory(rec.get("bank_name"), rec.get("error_msg"))
        if memory:
            cat = "memory_error_uncorrected" if dec["uncorrected"] else "memory_error_corrected"
            sev = "critical" if dec["uncorrected"] else "warning"
        else:
            cat = "machine_check_other"
            sev = "critical" if dec["processor_context_corrupt"] else ("error" if dec["uncorrected"] else "warning")
        f = {"category": cat, "severity": sev, "source": "rasdaemon", "signature": "rasdaemon.mce_record",
             "time": rec.get("timestamp"),
             "message": "%s (bank %s: %s)" % (
                 rec.get("error_msg") or "machine check", rec.get("bank"), rec.get("bank_name") or "?"),
             "cpu": rec.get("cpu"), "bank": rec.get("bank"), "mce_status": dec["status"], "id": rec.get("id")}
        if rec.get("addr"):
            f["address"] = "0x%x" % rec["addr"] if isinstance(rec["addr"], int) else rec["addr"]
        if rec.get("mc_location"):
            f["mc_location"] = rec["mc_location"]
            where = parse_mc_location(rec["mc_location"])
            if "n_errors" in where and where["n_errors"] > 0:
                f["count"] = where["n_errors"]
            location = memory_location(where, rec.get("socketid"))
            if location and memory:
                f["dimm"] = location
        findings.append(f)
    for rec in (tables.get("memory_failure_event") or {}).get("records") or []:
        findings.append({"category": "memory_page_offlined", "severity": "error", "source": "rasdaemon",
                         "signature": "rasdaemon.memory_failure_event", "time": rec.get("timestamp"),
                         "message": "memory failure at pfn %s (%s): %s" % (
                             rec.get("pfn"), rec.get("page_type"), rec.get("action_result")),
                         "pfn": rec.get("pfn"), "id": rec.get("id")})
    for rec in (tables.get("aer_event") or {}).get("records") or []:
        unc = "uncorrect" in (rec.get("err_type") or "").lower() or "fatal" in (rec.get("err_type") or "").lower()
        findings.append({"category": "pcie_aer", "severity": "error" if unc else "warning", "source": "rasdaemon",
                         "signature": "rasdaemon.aer_event", "time": rec.get("timestamp"),
                         "message": "PCIe AER %s: %s" % (rec.get("err_type"), rec.get("err_msg")),
                         "device": rec.get("dev_name"), "id": rec.get("id")})
    for rec in (tables.get("disk_errors") or {}).get("records") or []:
        findings.append({"category": "block_io_error", "severity": "error", "source": "rasdaemon",
                         "signature": "rasdaemon.disk_errors", "time": rec.get("timestamp"),
                         "message": "disk error %s on %s sector %s (%s)" % (
                             rec.get("error"), rec.get("dev"), rec.get("sector"), rec.get("rwbs")),
                         "device": rec.get("dev"), "sector": rec.get("sector"), "id": rec.get("id")})
    for rec in (tables.get("extlog_event") or {}).get("records") or []:
        sev_name = CPER_SEVERITY.get(rec.get("severity"), "unknown")
        corrected = sev_name in ("corrected", "informational")
        f = {"category": "memory_error_corrected" if corrected else "memory_error_uncorrected",
             "severity": "warning" if corrected else "critical", "source": "rasdaemon",
             "signature": "rasdaemon.extlog_event", "time": rec.get("timestamp"),
             "message": "extlog %s memory error %s" % (sev_name, rec.get("fru_text") or ""),
             "id": rec.get("id")}
        if isinstance(rec.get("address"), int):
            f["address"] = "0x%x" % rec["address"]
        findings.append(f)
    return findings


# ---------------------------------------------------------------------------
# ras-mc-ctl text

_NO_RE = re.compile(r"^No (.+?) errors\.$")
_EVENT_HDR_RE = re.compile(r"^(.+?) (events|records|errors)( summary)?:$")
_MCE_LINE_RE = re.compile(r"^(\d+)\s+(.*?)\s*error:\s*(.*)$")
_MC_LINE_RE = re.compile(r"^(\d+)\s+(.*?)\s+(\d+)\s+(\S+) error\(s\):\s*(.*)$")
_MC_SUM_RE = re.compile(r"^(\S+) on DIMM Label\(s\):\s*'(.*)' location:\s*(\S+)\s+errors:\s*(\d+)$")
_COUNT_LINE_RE = re.compile(r"^(\d+)\s+(.*?)\s+errors$")
_ERRCOUNT_HDR_RE = re.compile(r"^Label\s+CE\s+UE$")
_KV_RE = re.compile(r"([A-Za-z_]+)=(0x[0-9a-fA-F]+|-?\d+)")
_SECTION_NAMES = {
    "memory controller": "memory", "memory": "memory", "pcie aer": "aer", "extlog": "extlog",
    "mce": "mce", "arm processor": "arm", "devlink": "devlink", "disk": "disk",
    "memory failure": "memory_failure",
}


def _section_key(name):
    low = name.strip().lower()
    return _SECTION_NAMES.get(low, re.sub(r"[^a-z0-9]+", "_", low).strip("_"))


def _parse_mce_event(num, when, rest, line_no):
    ev = {"id": int(num), "line": line_no, "time": None if when in ("..", "") else when, "message": rest}
    head = rest.split(",", 1)[0].strip()
    ev["error"] = head
    # ras-mc-ctl prints ", CPU <cpuvendor>" (mce_record.cpuvendor: 0 Intel, 2 AMD, ...), and "cpu=0x.." only
    # when the CPU number is not 0.
    m = re.search(r"\bCPU (\d+)", rest)
    ev["cpu_vendor"] = int(m.group(1)) if m else None
    ev["cpu"] = 0 if "status=" in rest else None
    m = re.search(r"\bbank (.+?) \(bank=(\d+)\)", rest)
    if m:
        ev["bank_name"], ev["bank"] = m.group(1), int(m.group(2))
    else:
        ev["bank_name"], ev["bank"] = None, None
    for key, val in _KV_RE.findall(rest):
        key = key.lower()
        if key == "bank" and ev["bank"] is not None:
            continue
        ev[key] = val
    for k in ("memory_channel", "csrow", "cpu", "bank", "socketid", "n_errors"):
        if isinstance(ev.get(k), str):
            ev[k] = int(ev[k], 0)
    ev["location"] = memory_location(parse_mc_location(rest), ev.get("socketid"))
    dec = None
    if ev.get("status"):
        try:
            dec = decode_status(ev["status"])
        except ValueError:
            dec = None
    unc = dec["uncorrected"] if dec else ("uncorrected" in rest.lower() or "fatal" in rest.lower())
    memory = (dec and dec["kind"] == "memory") or looks_like_memory(ev.get("bank_name"), head, rest)
    ev["corrected"] = not unc
    if memory:
        ev["category"] = "memory_error_uncorrected" if unc else "memory_error_corrected"
        ev["severity"] = "critical" if unc else "warning"
    else:
        ev["category"] = "machine_check_other"
        pcc = dec["processor_context_corrupt"] if dec else False
        ev["severity"] = "critical" if pcc else ("error" if unc else "warning")
    return ev


def parse_ras_mc_ctl(data) -> dict:
    """Parse ``ras-mc-ctl --summary``, ``--errors``, ``--error-count`` or ``--status`` output.

    Returns ``sections`` (key -> {"empty": bool, "events": [...], "summary": [...]}),
    ``error_count`` rows for --error-count, and ``status`` for --status.
    """
    if isinstance(data, bytes):
        if b"\x00" in data:
            raise RasdaemonError("ras-mc-ctl output contains NUL bytes (binary data?)")
        data = data.decode("utf-8", "replace")
    if not isinstance(data, str):
        raise RasdaemonError("ras-mc-ctl output must be text")
    if "\x00" in data:
        raise RasdaemonError("ras-mc-ctl output contains NUL characters (binary data?)")
    sections = {}
    error_count = []
    status = None
    current = None
    in_count = False
    recognised = 0
    unparsed = []
    for idx, raw in enumerate(data.splitlines(), 1):
        line = raw.strip()
        if not line:
            current = None if current is None or current.get("kind") == "summary" else current
            continue
        m = _NO_RE.match(line)
        if m:
            key = _section_key(m.group(1))
            sections.setdefault(key, {"empty": True, "events": [], "summary": []})
            current = None
            recognised += 1
            continue
        if line.startswith("ras-mc-ctl:"):
            status = line
            recognised += 1
            continue
        if _ERRCOUNT_HDR_RE.match(line):
            in_count = True
            recognised += 1
            continue
        m = _EVENT_HDR_RE.match(line)
        if m:
            key = _section_key(m.group(1))
            sect = sections.setdefault(key, {"empty": False, "events": [], "summary": []})
            sect["empty"] = False
            current = {"key": key, "kind": "summary" if m.group(3) else "events"}
            recognised += 1
            continue
        if in_count:
            parts = raw.rstrip().split("\t") if "\t" in raw else raw.split()
            if len(parts) >= 3 and parts[-1].strip().isdigit() and parts[-2].strip().isdigit():
                error_count.append({"label": "\t".join(parts[:-2]).strip(),
                                    "ce": int(parts[-2]), "ue": int(parts[-1])})
                continue
            in_count = False
        if current is not None:
            sect = sections[current["key"]]
            if current["kind"] == "summary":
                m = _MC_SUM_RE.match(line)
                if m:
                    sect["summary"].append({"type": m.group(1), "label": m.group(2), "location": m.group(3),
                                            "count": int(m.group(4)), "line": idx})
                    continue
                m = _COUNT_LINE_RE.match(line)
                if m:
                    sect["summary"].append({"type": m.group(2), "count": int(m.group(1)), "line": idx})
                    continue
                sect["summary"].append({"text": line, "count": None, "line": idx})
                continue
            if current["key"] == "memory":
                m = _MC_LINE_RE.match(line)
                if m:
                    unc = "uncorrected" in m.group(4).lower() or "fatal" in m.group(4).lower()
                    ev = {"id": int(m.group(1)), "line": idx, "time": m.group(2), "count": int(m.group(3)),
                          "type": m.group(4), "message": m.group(5), "corrected": not unc,
                          "category": "memory_error_uncorrected" if unc else "memory_error_corrected",
                          "severity": "critical" if unc else "warning"}
                    lm = re.search(r" at (.+?) location: (\S+?),", m.group(5))
                    if lm:
                        ev["label"], ev["location"] = lm.group(1), lm.group(2)
                    am = re.search(r"addr (\S+?),", m.group(5))
                    if am:
                        ev["address"] = am.group(1)
                    sect["events"].append(ev)
                    continue
            m = _MCE_LINE_RE.match(line)
            if m and re.match(r"^\d+\s", line):
                sect["events"].append(_parse_mce_event(m.group(1), m.group(2), m.group(3), idx))
                continue
            if sect["events"] and not re.match(r"^\d+\s", line):
                # A record wrapped over several lines: glue it back and re-parse it.
                ev = sect["events"][-1]
                joined = "%s %s" % (ev["message"], line)
                if "bank_name" in ev or current["key"] == "mce":
                    new = _parse_mce_event(ev["id"], ev["time"] or "", joined, ev["line"])
                    sect["events"][-1] = new
                else:
                    ev["message"] = joined
                continue
            m = re.match(r"^(\d+)\s+(.*)$", line)
            if m:
                sect["events"].append({"id": int(m.group(1)), "line": idx, "message": m.group(2),
                                       "time": None})
                continue
        unparsed.append(line)
    if not recognised and not error_count:
        raise RasdaemonError("text does not look like ras-mc-ctl output")
    totals = {}
    for key, sect in sections.items():
        if sect["events"]:
            totals[key] = sum(ev.get("count") or 1 for ev in sect["events"])
        elif sect["summary"]:
            totals[key] = sum(s.get("count") or 0 for s in sect["summary"])
        else:
            totals[key] = 0
    return {"sections": sections, "totals": totals, "error_count": error_count,
            "ce_total": sum(r["ce"] for r in error_count) if error_count else None,
            "ue_total": sum(r["ue"] for r in error_count) if error_count else None,
            "status": status, "unparsed_lines": unparsed}


def ras_mc_ctl_findings(parsed: dict) -> list:
    """Findings for the events of a parsed ``ras-mc-ctl --errors`` (and --error-count) output."""
    findings = []
    for key, sect in (parsed.get("sections") or {}).items():
        for ev in sect.get("events") or []:
            cat = ev.get("category")
            if not cat:
                if key == "aer":
                    cat = "pcie_aer"
                elif key == "disk":
                    cat = "block_io_error"
                elif key == "memory_failure":
                    cat = "memory_page_offlined"
                else:
                    continue
            f = {"category": cat, "severity": ev.get("severity") or "warning", "source": "ras-mc-ctl",
                 "signature": "ras-mc-ctl.%s" % key, "line": ev.get("line"), "time": ev.get("time"),
                 "message": ev.get("message")}
            for src, dst in (("cpu", "cpu"), ("bank", "bank"), ("status", "mce_status"), ("addr", "address"),
                             ("address", "address"), ("label", "dimm"), ("count", "count")):
                if ev.get(src) is not None:
                    f[dst] = ev[src]
            if ev.get("n_errors"):
                f.setdefault("count", ev["n_errors"])
            if ev.get("location") and cat.startswith("memory_error"):
                f.setdefault("dimm", ev["location"])
            findings.append(f)
    for row in parsed.get("error_count") or []:
        if row["ue"]:
            findings.append({"category": "memory_error_uncorrected", "severity": "critical",
                             "source": "ras-mc-ctl", "signature": "ras-mc-ctl.error_count",
                             "message": "%d uncorrected errors on %s" % (row["ue"], row["label"]),
                             "dimm": row["label"], "count": row["ue"]})
        if row["ce"]:
            findings.append({"category": "memory_error_corrected", "severity": "warning",
                             "source": "ras-mc-ctl", "signature": "ras-mc-ctl.error_count",
                             "message": "%d corrected errors on %s" % (row["ce"], row["label"]),
                             "dimm": row["label"], "count": row["ce"]})
    return findings
