# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collector core for hardware errors: rasdaemon, mcelog, EDAC, HardwareCorrupted and the taint mask, as findings.

Runs through a CollectHost (collect_host.py): the hw_error_info module passes its ModuleHost, tests a host that
answers with recorded tool outputs. The parsers are rasdaemon.py, mcelog.py, edac.py and host_state.py; this file
only decides what to read, records why a source could not be read, and turns parsed records into findings.
"""

from __future__ import annotations

from .collect_host import CollectError
from .edac import edac_error_locations, read_edac_sysfs
from .host_state import HostStateParseError, decode_taint, host_state_findings, parse_meminfo
from .mcelog import McelogParseError, parse_mcelog
from .rasdaemon import RasdaemonError, db_findings, parse_ras_mc_ctl, ras_mc_ctl_findings, read_rasdaemon_db, summarize_db
from .source_status import MISSING, READ, UNREADABLE


class _Sources(object):
    """Per source, in the vocabulary every collector uses (source_status): read, missing or unreadable, and why."""

    def __init__(self):
        self.by_name = {}

    def _set(self, name, status, reason):
        self.by_name[name] = {"name": name, "status": status}
        if reason:
            self.by_name[name]["reason"] = reason

    def ok(self, name, reason=None):
        self._set(name, READ, reason)

    def missing(self, name, reason):
        """Not on this host (no tool, no file, no driver): normal, but nothing was read from it."""
        self._set(name, MISSING, reason)

    def bad(self, name, reason):
        self._set(name, UNREADABLE, reason)

    def listed(self):
        return [self.by_name[name] for name in sorted(self.by_name)]


def _tool_output(host, argv, sources, name):
    """stdout of a read-only tool, or None with the reason recorded."""
    rc, out, err = host.run(argv)
    if rc != 0:
        sources.bad(name, "%s exited %d: %s" % (" ".join([argv[0].rsplit("/", 1)[-1]] + argv[1:]), rc,
                                                (err or out).strip()[:300]))
        return None
    return out


def unit_state(host, systemctl, unit):
    """systemctl is-active: active, inactive, failed, ..., not-found, or None without systemctl."""
    if not systemctl:
        return None
    rc, out, _err = host.run([systemctl, "is-active", unit])
    state = (out or "").strip() or None
    # is-active: rc 0 active; 3 inactive/failed; 4 no such unit
    if rc == 4 or state in (None, "unknown") and rc != 0:
        return "not-found"
    return state


def collect_rasdaemon(host, sources, findings, rasdaemon_db, use_ras_mc_ctl, max_records, systemctl):
    """rasdaemon's database (read-only), else ``ras-mc-ctl --errors``: (backend state, records and summary)."""
    ras_mc_ctl = host.which("ras-mc-ctl")
    ras = {"db": None, "ras_mc_ctl": None, "summary": None}
    installed = bool(host.which("rasdaemon") or ras_mc_ctl)
    backend = {
        "installed": installed,
        # as for mcelog: systemd is asked about the unit only where the tool is installed
        "service": unit_state(host, systemctl, "rasdaemon.service") if installed else None,
        "db_path": rasdaemon_db,
        "db_readable": False,
        "ras_mc_ctl": ras_mc_ctl,
    }
    try:
        db = read_rasdaemon_db(rasdaemon_db, max_records=max_records)
        ras["db"] = db
        ras["summary"] = summarize_db(db)
        backend["db_readable"] = True
        sources.ok("rasdaemon_db")
        findings.extend(db_findings(db))
    except RasdaemonError as exc:
        (sources.bad if host.exists(rasdaemon_db) else sources.missing)("rasdaemon_db", str(exc))
    if backend["db_readable"] or not use_ras_mc_ctl:
        return backend, ras
    if not ras_mc_ctl:
        sources.missing("ras_mc_ctl", "ras-mc-ctl not installed")
        return backend, ras
    out = _tool_output(host, [ras_mc_ctl, "--errors"], sources, "ras_mc_ctl")
    if out is not None:
        try:
            parsed = parse_ras_mc_ctl(out)
            ras["ras_mc_ctl"] = parsed
            ras["summary"] = parsed["totals"]
            sources.ok("ras_mc_ctl")
            findings.extend(ras_mc_ctl_findings(parsed))
        except RasdaemonError as exc:
            sources.bad("ras_mc_ctl", "cannot parse ras-mc-ctl output: %s" % exc)
    return backend, ras


def mcelog_finding(rec, source):
    """A parsed mcelog record as a finding."""
    f = {"category": rec["category"], "severity": rec["severity"], "source": source,
         "signature": "mcelog.record", "line": rec["line"],
         "message": rec.get("mca") or ("machine check on CPU %s bank %s" % (rec["cpu"], rec["bank"])),
         "cpu": rec["cpu"], "bank": rec["bank"]}
    if rec.get("time"):
        f["time"] = str(rec["time"])
    if rec.get("status"):
        f["mce_status"] = rec["status"]
    if rec.get("address"):
        f["address"] = rec["address"]
    return f


def collect_mcelog(host, sources, findings, mcelog_log, mcelog_device, use_mcelog_client, systemctl):
    """mcelog's log file and ``mcelog --client``: (backend state, records and daemon messages)."""
    mcelog_bin = host.which("mcelog")
    mce = {"records": [], "messages": []}
    backend = {
        "installed": bool(mcelog_bin),
        "device_present": host.exists(mcelog_device),
        "log_present": host.isfile(mcelog_log),
        "service": unit_state(host, systemctl, "mcelog.service") if mcelog_bin else None,
    }
    texts = []
    if backend["log_present"]:
        try:
            texts.append(("mcelog_log", host.read_text(mcelog_log)))
        except (IOError, OSError) as exc:
            sources.bad("mcelog_log", "cannot read %s: %s" % (mcelog_log, exc))
    else:
        sources.missing("mcelog_log", "%s does not exist" % mcelog_log)
    if use_mcelog_client:
        if not mcelog_bin:
            sources.missing("mcelog_client", "mcelog not installed")
        elif not backend["device_present"]:
            sources.missing("mcelog_client", "%s absent (kernel without CONFIG_X86_MCELOG_LEGACY): mcelog cannot "
                            "run here" % mcelog_device)
        else:
            out = _tool_output(host, [mcelog_bin, "--client"], sources, "mcelog_client")
            if out is not None:
                texts.append(("mcelog_client", out))
    for name, text in texts:
        try:
            parsed = parse_mcelog(text)
        except McelogParseError as exc:
            sources.bad(name, "cannot parse: %s" % exc)
            continue
        sources.ok(name)
        for rec in parsed["records"]:
            rec["source"] = name
            mce["records"].append(rec)
            findings.append(mcelog_finding(rec, name))
        mce["messages"].extend(parsed["messages"])
    return backend, mce


def edac_findings(locations):
    """EDAC places with non-zero counters as findings (uncorrected first, per place)."""
    findings = []
    for loc in locations:
        where = loc["label"] or "%s/%s" % (loc["mc"], loc["location"])
        for key, category, severity, kind in (("ue_count", "memory_error_uncorrected", "critical", "uncorrected"),
                                              ("ce_count", "memory_error_corrected", "warning", "corrected")):
            if loc[key]:
                findings.append({"category": category, "severity": severity, "source": "edac",
                                 "signature": "edac.%s" % key, "dimm": where, "count": loc[key],
                                 "message": "EDAC: %d %s errors on %s" % (loc[key], kind, where)})
    return findings


def collect_edac(sources, findings, edac_root):
    """EDAC sysfs counters: (the tree as read, places with errors)."""
    edac = read_edac_sysfs(edac_root)
    locations = edac_error_locations(edac)
    if not edac["present"] or not edac["controllers"]:
        # no tree, or a tree without controllers: no EDAC coverage on this host
        sources.missing("edac", edac["reason"])
    elif edac["errors"]:
        sources.bad("edac", "; ".join("%s: %s" % (e["path"], e["reason"]) for e in edac["errors"][:5]))
    else:
        sources.ok("edac")
    findings.extend(edac_findings(locations))
    return edac, locations


def _read_parsed(host, sources, name, path, parse):
    """parse(text of path), or None with the reason recorded."""
    try:
        value = parse(host.read_text(path))
    except (IOError, OSError) as exc:
        sources.bad(name, "cannot read %s: %s" % (path, exc))
        return None
    except HostStateParseError as exc:
        sources.bad(name, str(exc))
        return None
    sources.ok(name)
    return value


def collect_hw_errors(host, rasdaemon_db="/var/lib/rasdaemon/ras-mc_event.db", use_ras_mc_ctl=True,
                      mcelog_log="/var/log/mcelog", mcelog_device="/dev/mcelog", use_mcelog_client=True,
                      edac_root="/sys/devices/system/edac/mc", meminfo_path="/proc/meminfo",
                      tainted_path="/proc/sys/kernel/tainted", max_records=200):
    """Everything hw_error_info returns (backends, sources, rasdaemon, mcelog, edac,
    edac_locations, hardware_corrupted_kb, taint, findings). Raises CollectError for bad arguments."""
    if max_records < 1:
        raise CollectError("max_records must be at least 1")
    sources = _Sources()
    findings = []
    systemctl = host.which("systemctl")
    ras_backend, ras = collect_rasdaemon(host, sources, findings, rasdaemon_db, use_ras_mc_ctl, max_records,
                                         systemctl)
    mce_backend, mce = collect_mcelog(host, sources, findings, mcelog_log, mcelog_device, use_mcelog_client,
                                      systemctl)
    edac, locations = collect_edac(sources, findings, edac_root)
    meminfo = _read_parsed(host, sources, "meminfo", meminfo_path, parse_meminfo)
    if meminfo is not None and meminfo["hardware_corrupted_kb"] is None:
        sources.ok("meminfo", "no HardwareCorrupted line (kernel without CONFIG_MEMORY_FAILURE)")
    taint = _read_parsed(host, sources, "taint", tainted_path, decode_taint)
    findings.extend(host_state_findings(meminfo=meminfo, taint=taint))
    return {
        "backends": {"rasdaemon": ras_backend, "mcelog": mce_backend,
                     "edac": {"present": edac["present"], "controllers": len(edac["controllers"]),
                              "reason": edac["reason"]}},
        "sources": sources.listed(),
        "rasdaemon": ras,
        "mcelog": mce,
        "edac": edac,
        "edac_locations": locations,
        "hardware_corrupted_kb": (meminfo or {}).get("hardware_corrupted_kb"),
        "taint": taint,
        "findings": findings,
    }
