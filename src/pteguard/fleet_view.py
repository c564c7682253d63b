"""One run's reports as one data model: loaded, validated against the published schema, summarised for the fleet.

Every rendering (`pteguard report --format ...`) is a thin writer over the view built here, so the formats cannot
disagree on a verdict. A report directory that is missing, empty, half-written or invalid is refused with one line
naming the file and what is wrong.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os

import jsonschema

from pteguard.parsers.signatures import at_or_above, highest_severity

COMPLIANCE_FILE = "compliance.json"
FLEET_FILE = "fleet.json"  # the run rendered as one JSON document (report_cmd.FILES), not a host report
HOST_SCHEMA = "pteguard.report/1"
COMPLIANCE_SCHEMA = "pteguard.compliance/1"
FAILING_SEVERITY = "error"  # a host "has findings" at this severity or above, as diagnose's default --fail-on
_TIMELINE_LIMIT = 500


class ViewError(Exception):
    """A run that cannot be shown: the message is the one line the user sees."""


def schema_path(name="report.schema.json"):
    """The published schema, from the collection installed with the CLI (the wheel carries schemas/)."""
    package = importlib.import_module("ansible_collections.pteguard.remediation")
    return os.path.join(list(package.__path__)[0], "schemas", name)


_VALIDATORS = {}


def validator(name="report.schema.json"):
    if name not in _VALIDATORS:
        with open(schema_path(name), encoding="utf-8") as handle:
            _VALIDATORS[name] = jsonschema.Draft202012Validator(json.load(handle))
    return _VALIDATORS[name]


def schema_errors(document, name="report.schema.json"):
    """'path: message' for each way `document` breaks the schema (best match first), empty when it is valid."""
    errors = list(validator(name).iter_errors(document))
    if not errors:
        return []
    best = jsonschema.exceptions.best_match(errors)
    return ["%s: %s" % ("/" + "/".join(str(p) for p in best.absolute_path) or "/", best.message)]


def resolve_run(run, report_base):
    """The report directory of RUN: a directory, a run id under report_base, or 'latest'."""
    if os.path.isdir(run):
        return os.path.abspath(run)
    candidate = os.path.join(report_base, run)
    if os.path.isdir(candidate):
        return os.path.abspath(os.path.realpath(candidate))
    raise ViewError("no report directory %s (nor %s): give a report folder, a run id or 'latest'" % (run, candidate))


def read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except json.JSONDecodeError as exc:
        raise ViewError("%s is not complete JSON (half-written or damaged): %s" % (path, exc))
    except (OSError, UnicodeDecodeError) as exc:
        raise ViewError("%s cannot be read: %s" % (path, exc))


def _run_record(report_dir, work_base):
    """The run record (.pteguard/runs/<id>/run.json) when it is there: it lists the reports the run wrote."""
    path = os.path.join(work_base, os.path.basename(report_dir), "run.json")
    if not os.path.isfile(path):
        return None
    record = read_json(path)
    if not isinstance(record, dict) or not isinstance(record.get("reports"), dict):
        raise ViewError("%s is not a pteguard run record" % path)
    return record


def load_run(report_dir, work_base=None):
    """Validated host reports and the compliance result (if any) of one run: (reports, compliance, record)."""
    if not os.path.isdir(report_dir):
        raise ViewError("no report directory %s" % report_dir)
    record = _run_record(report_dir, work_base) if work_base else None
    names = sorted(n for n in os.listdir(report_dir) if n.endswith(".json") and n not in (COMPLIANCE_FILE, FLEET_FILE))
    if record is not None:
        missing = sorted(set(record["reports"].values()) - set(names))
        if missing:
            raise ViewError("%s: the run record lists reports that are missing: %s" % (report_dir, ", ".join(missing)))
    reports = []
    for name in names:
        path = os.path.join(report_dir, name)
        document = read_json(path)
        if not isinstance(document, dict) or document.get("schema") != HOST_SCHEMA:
            raise ViewError("%s is not a pteguard host report (schema %r)" % (
                path, document.get("schema") if isinstance(document, dict) else type(document).__name__))
        errors = schema_errors(document)
        if errors:
            raise ViewError("%s does not match the report schema at %s" % (path, errors[0]))
        reports.append(document)
    compliance = None
    compliance_path = os.path.join(report_dir, COMPLIANCE_FILE)
    if os.path.exists(compliance_path):
        compliance = read_json(compliance_path)
        errors = schema_errors(compliance)
        if errors or compliance.get("schema") != COMPLIANCE_SCHEMA:
            raise ViewError("%s does not match the compliance schema at %s" % (
                compliance_path, errors[0] if errors else "/schema"))
    if not reports and compliance is None and not (record or {}).get("unread"):
        raise ViewError("%s holds no host report (a run that wrote nothing, or not a report folder)" % report_dir)
    return reports, compliance, record


def _run_time(report_dir, record):
    """When the run started: from the run id (YYYYmmddTHHMMSSZ-pid), else the folder's modification time."""
    name = os.path.basename(os.path.normpath(report_dir))
    try:
        stamp = datetime.datetime.strptime(name.split("-")[0], "%Y%m%dT%H%M%SZ")
        return stamp.replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return datetime.datetime.fromtimestamp(os.stat(report_dir).st_mtime, datetime.timezone.utc)


def _cause_text(cause):
    subject = cause.get("subject") or {}
    what = " ".join("%s %s" % kv for kv in subject.items() if kv[1] not in (None, ""))
    return ("%s %s" % (cause["cause"], what)).strip()


def _all_findings(report):
    """(origin, finding) for the kernel log, the hardware-error records and SMART, in that order."""
    found = [("kernel_log", f) for f in report["kernel_log"]["findings"]]
    for origin in ("hardware_errors", "disk_health"):
        section = report.get(origin) or {}
        found.extend((origin, f) for f in section.get("findings") or [] if isinstance(f, dict))
    return found


def _host_entry(report, compliance_host):
    summary = report["kernel_log"]["summary"] or {}
    diagnosis = report["diagnosis"]
    causes = diagnosis.get("causes") or []
    top = causes[0] if causes else {"cause": diagnosis.get("primary_cause", "none"), "confidence": 0}
    findings = []
    for origin, finding in _all_findings(report):
        findings.append({
            "origin": origin, "category": finding.get("category", "?"), "severity": finding.get("severity", "info"),
            "time": finding.get("time"), "line": finding.get("line"), "message": finding.get("message", ""),
            "signature": finding.get("signature"), "source": finding.get("source"),
        })
    highest = highest_severity(f["severity"] for f in findings)
    entry = {
        "host": report["host"],
        "status": "ok",
        "kernel": (report.get("kernel") or {}).get("release") or "unknown",
        "highest_severity": highest,
        "findings_total": len(findings),
        "kernel_log_findings": summary.get("findings", 0),
        "by_category": _count(f["category"] for f in findings),
        "findings": findings,
        "sources": report["kernel_log"]["sources"],
        "probable_cause": top["cause"],
        "cause_text": _cause_text(top),
        "confidence": top.get("confidence", 0),
        "confidence_word": top.get("confidence_word", ""),
        "causes": causes,
        "pte_analysis": diagnosis.get("pte_analysis") or [],
        "notes": diagnosis.get("notes") or [],
        "verdict": verdict_of(highest),
        "compliance": compliance_host,
        "traits": host_traits(report),
        # the later steps' results (sections reproduction and symbolized), shown as they are written
        "reproduction": report.get("reproduction"),
        "symbolized": report.get("symbolized"),
    }
    return entry


def verdict_of(highest):
    """'findings' when a finding is at or above FAILING_SEVERITY, else 'clean'."""
    if at_or_above(highest, FAILING_SEVERITY):
        return "findings"
    return "clean"


def _count(values):
    counts = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def _unreported_entry(compliance_host):
    """A host the run could not read (unreachable, failed, timeout): shown, never as clean."""
    return {
        "host": compliance_host["host"], "status": compliance_host["status"], "kernel": "unknown",
        "highest_severity": None, "findings_total": 0, "kernel_log_findings": 0, "by_category": {}, "findings": [],
        "sources": [], "probable_cause": "not_evaluated", "cause_text": compliance_host.get("message") or "",
        "confidence": 0, "confidence_word": "", "causes": [], "pte_analysis": [], "notes": [],
        "verdict": "not_evaluated", "compliance": compliance_host, "traits": [],
    }


def _timeline(hosts):
    """Every finding that carries a time, per host, in log order (times are the hosts' own clocks and formats)."""
    events = []
    for host in hosts:
        for finding in host["findings"]:
            if finding["time"]:
                events.append(dict(finding, host=host["host"]))
    events.sort(key=lambda e: (str(e["time"]), e["host"], e["line"] or 0))
    return events[:_TIMELINE_LIMIT], max(len(events) - _TIMELINE_LIMIT, 0)


def _by_cause(hosts):
    groups = {}
    for host in hosts:
        groups.setdefault(host["probable_cause"], []).append(host["host"])
    return dict(sorted(groups.items(), key=lambda kv: (kv[0] in ("none", "not_evaluated"), kv[0])))


AFFECTED_CATEGORIES = ("pte_corruption", "bad_page_state", "memory_error_uncorrected", "memory_error_corrected",
                       "memory_page_offlined")


def host_traits(report):
    """(kind, label) of what a host may share with others: kernel release, each tainting module with its version,
    the BIOS, each DIMM part number. Only what the host's evidence really carries."""
    traits = [("kernel", "kernel %s" % ((report.get("kernel") or {}).get("release") or "unknown"))]
    inventory = report.get("inventory") or {}
    for module in inventory.get("modules") or []:
        version = module.get("version") or ("srcversion %s" % module["srcversion"] if module.get("srcversion")
                                            else "(no version)")
        traits.append(("module", "module %s %s" % (module.get("name"), version)))
    firmware = inventory.get("firmware") or {}
    if firmware.get("bios_version"):
        traits.append(("bios", "BIOS %s %s" % (firmware.get("bios_vendor") or "", firmware["bios_version"])))
    for part in sorted({d.get("part_number") for d in inventory.get("dimms") or [] if d.get("part_number")}):
        traits.append(("dimm_part", "DIMM part %s" % part))
    return traits


def _events_word(categories):
    names = {"pte_corruption": "page-table corruption", "bad_page_state": "bad page state",
             "memory_error_uncorrected": "uncorrected memory errors", "memory_error_corrected": "corrected memory "
             "errors", "memory_page_offlined": "offlined pages"}
    return ", ".join(names[c] for c in AFFECTED_CATEGORIES if c in categories) or "corruption or memory events"


def _correlation(hosts):
    """Hosts with corruption or memory events grouped by what they share (kernel release, tainting module and
    version, BIOS, DIMM part number), each with the rate inside the group against the rest of the read fleet;
    groups where an affected host is, most telling first."""
    read = [h for h in hosts if h["status"] == "ok"]
    hit = {h["host"]: set(AFFECTED_CATEGORIES) & set(h["by_category"]) for h in read}
    labels = {}
    for host in read:
        for kind, label in host["traits"]:
            labels.setdefault((kind, label), set()).add(host["host"])
    groups = []
    for (kind, label), members in labels.items():
        inside = sorted(members)
        affected = [h for h in inside if hit[h]]
        if kind != "kernel" and not affected:
            continue  # a module, BIOS or part no affected host has says nothing about the events
        rest = [h["host"] for h in read if h["host"] not in members]
        rest_affected = sum(1 for h in rest if hit[h])
        events = set().union(*(hit[h] for h in affected)) if affected else set()
        groups.append({
            "kind": kind, "what": label, "hosts": len(inside), "affected": len(affected), "affected_hosts": affected,
            "rest": len(rest), "rest_affected": rest_affected, "categories": sorted(events),
            "text": "%d of %d hosts with %s show %s, %d of %d without it" % (
                len(affected), len(inside), label, _events_word(events), rest_affected, len(rest)),
        })
    groups.sort(key=lambda g: (-(g["affected"] / g["hosts"] - (g["rest_affected"] / g["rest"] if g["rest"] else 0)),
                               g["kind"], g["what"]))
    return groups


def build(report_dir, work_base=None):
    """The fleet view of one run (what every renderer draws)."""
    reports, compliance, record = load_run(report_dir, work_base)
    checks_by_host = {h["host"]: h for h in (compliance or {}).get("hosts", [])}
    hosts = [_host_entry(r, checks_by_host.get(r["host"])) for r in reports]
    seen = {h["host"] for h in hosts}
    hosts.extend(_unreported_entry(h) for h in checks_by_host.values() if h["host"] not in seen)
    seen = {h["host"] for h in hosts}
    # hosts the run could not read (diagnose's run record lists them): shown as not evaluated, never left out
    hosts.extend(dict(_unreported_entry(dict(v, host=h)), compliance=None)
                 for h, v in sorted(((record or {}).get("unread") or {}).items()) if h not in seen)
    hosts.sort(key=lambda h: h["host"])
    timeline, timeline_dropped = _timeline(hosts)
    started = _run_time(report_dir, record)
    return {
        "run_id": os.path.basename(os.path.normpath(report_dir)),
        "report_dir": report_dir,
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "started_epoch": int(started.timestamp()),
        "hosts": hosts,
        "summary": {
            "hosts": len(hosts),
            "by_verdict": _count(h["verdict"] for h in hosts),
            "by_status": _count(h["status"] for h in hosts),
            "by_severity": _count(h["highest_severity"] or "none" for h in hosts),
            "findings": sum(h["findings_total"] for h in hosts),
        },
        "by_cause": _by_cause(hosts),
        "timeline": timeline,
        "timeline_dropped": timeline_dropped,
        "correlation": _correlation(hosts),
        "compliance": compliance,
        "reports": reports,
        "checks": sorted({c["check"] for h in (compliance or {}).get("hosts", []) for c in h["checks"]}),
    }
