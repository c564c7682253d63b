"""The compliance checks, each a pure function of one host report (pteguard.report/1), its settings and the host's
baseline entry. Each returns a result dict: pass, fail, or unknown (evidence not collected or not readable: never a
pass).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re

_VERSION = re.compile(r"^(\d+(?:\.\d+)*)")
# Debian/Ubuntu put the package date in the version string: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.128-1 (2025-02-07)"
_ISO_DATE = re.compile(r"\((\d{4}-\d{2}-\d{2})\)")
# uname -v elsewhere ends in the build time: "#1 SMP PREEMPT_DYNAMIC Thu Jan 11 12:00:00 UTC 2024"
_UNAME_DATE = re.compile(r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\w{3}) +(\d{1,2}) [\d:]+ (?:\w+ )?(\d{4})\s*$")


def result(check, outcome, message, details=None, not_collected=False):
    entry = {"check": check, "result": outcome, "message": message}
    if details:
        entry["details"] = [str(d) for d in details]
    if not_collected:
        entry["not_collected"] = True
    return entry


def _not_collected(check, what):
    return result(check, "unknown", "not collected: %s" % what, not_collected=True)


def event_id(origin, finding):
    """A finding's identity across runs: where it came from, its signature, its time and its log line."""
    key = [origin, finding.get("source"), finding.get("signature"), finding.get("time"), finding.get("message")]
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode("utf-8")).hexdigest()


def events(report):
    """(id, origin, finding) of every finding in the report, each id made unique by its repeat number."""
    seen = {}
    found = []
    sections = [("kernel_log", report["kernel_log"].get("findings") or [])]
    for origin in ("hardware_errors", "disk_health"):
        sections.append((origin, (report.get(origin) or {}).get("findings") or []))
    hw = report.get("hardware_errors") or {}
    if (hw.get("hardware_corrupted_kb") or 0) > 0:
        sections.append(("hardware_errors", [{"category": "memory_page_offlined", "severity": "error",
                                              "source": "meminfo", "signature": "meminfo.hardware_corrupted",
                                              "message": "HardwareCorrupted: %d kB" % hw["hardware_corrupted_kb"]}]))
    for origin, findings in sections:
        for finding in findings:
            if not isinstance(finding, dict):
                continue
            base = event_id(origin, finding)
            repeat = seen.get(base, 0)
            seen[base] = repeat + 1
            ident = base if repeat == 0 else hashlib.sha256(("%s/%d" % (base, repeat)).encode()).hexdigest()
            found.append((ident, origin, finding))
    return found


def hw_error_backend(report, _settings, _baseline):
    hw = report.get("hardware_errors")
    if not hw:
        return _not_collected("hw_error_backend", "no hardware-error evidence in the report")
    backends = hw.get("backends") or {}
    ras, mcelog, edac = backends.get("rasdaemon") or {}, backends.get("mcelog") or {}, backends.get("edac") or {}
    ras_db = "readable" if ras.get("db_readable") else "not readable"
    mcelog_log = "present" if mcelog.get("log_present") else "absent"
    details = ["rasdaemon: service %s, database %s" % (ras.get("service"), ras_db),
               "mcelog: service %s, log %s" % (mcelog.get("service"), mcelog_log),
               "edac: %s controllers" % (edac.get("controllers") or 0)]
    if ras.get("service") == "active" and ras.get("db_readable"):
        return result("hw_error_backend", "pass", "rasdaemon is active and recording", details)
    if mcelog.get("service") == "active" and mcelog.get("log_present"):
        return result("hw_error_backend", "pass", "mcelog is active and recording", details)
    return result("hw_error_backend", "fail", "no hardware-error backend is active and recording", details)


def _version_tuple(text):
    match = _VERSION.match(text or "")
    return tuple(int(p) for p in match.group(1).split(".")) if match else None


def _build_date(version):
    match = _ISO_DATE.search(version or "")
    if match:
        return datetime.date.fromisoformat(match.group(1))
    match = _UNAME_DATE.search(version or "")
    if match:
        return datetime.datetime.strptime(" ".join(match.groups()), "%b %d %Y").date()
    return None


def kernel(report, settings, _baseline, today=None):
    info = report.get("kernel") or {}
    release = info.get("release")
    if not release:
        return _not_collected("kernel", "the kernel release is not in the report")
    problems, unknown, details = [], [], ["release %s" % release, "version %s" % info.get("version")]
    if "min_version" in settings:
        have, want = _version_tuple(release), _version_tuple(settings["min_version"])
        if have is None:
            unknown.append("release %s has no version number" % release)
        elif have < want:
            problems.append("kernel %s is older than %s" % (release, settings["min_version"]))
    if "max_age_days" in settings:
        built = _build_date(info.get("version"))
        if built is None:
            unknown.append("no build date in the version string %r" % info.get("version"))
        else:
            age = ((today or datetime.date.today()) - built).days
            details.append("built %s, %d days ago" % (built.isoformat(), age))
            if age > settings["max_age_days"]:
                problems.append("kernel built %d days ago (more than %d)" % (age, settings["max_age_days"]))
    if problems:
        return result("kernel", "fail", "; ".join(problems), details)
    if unknown:
        return result("kernel", "unknown", "; ".join(unknown), details)
    return result("kernel", "pass", "kernel %s meets the policy" % release, details)


def no_new_events(report, settings, baseline):
    sources = report["kernel_log"].get("sources") or []
    if not any(s.get("status") in ("read", "empty") for s in sources):
        return result("no_new_events", "unknown", "no kernel-log source was read", not_collected=True)
    known = set((baseline or {}).get("events") or [])
    wanted = set(settings["categories"])
    new = [(origin, f) for ident, origin, f in events(report)
           if ident not in known and ({f.get("category")} | set(f.get("also_categories") or [])) & wanted]
    since = "since the baseline" if baseline is not None else "(no baseline: every event counts)"
    if new:
        details = ["%s %s %s line %s: %s" % (origin, f.get("category"), f.get("time") or "-", f.get("line") or "-",
                                             f.get("message")) for origin, f in new[:20]]
        return result("no_new_events", "fail", "%d new event(s) of %s %s" % (
            len(new), ", ".join(sorted(wanted)), since), details)
    return result("no_new_events", "pass", "no event of %s %s" % (", ".join(sorted(wanted)), since))


def memory_ce_rate(report, settings, _baseline):
    hw = report.get("hardware_errors")
    backends = (hw or {}).get("backends") or {}
    counting = ((backends.get("edac") or {}).get("controllers") or 0) > 0 or \
        (backends.get("rasdaemon") or {}).get("db_readable") or (backends.get("mcelog") or {}).get("log_present")
    if not counting:
        return _not_collected("memory_ce_rate", "no corrected-error counter (EDAC, rasdaemon or mcelog) was read")
    limit = settings["max_per_day"]
    rates = (report.get("diagnosis") or {}).get("memory_ce_rates") or []
    over = ["%s: %s (%s)" % (r.get("dimm"), r.get("peak_24h"), r.get("basis")) for r in rates
            if (r.get("peak_24h") or 0) > limit]
    if over:
        return result("memory_ce_rate", "fail", "%d DIMM(s) over %d corrected errors per day" % (len(over), limit),
                      over)
    return result("memory_ce_rate", "pass", "every DIMM at or under %d corrected errors per day" % limit,
                  ["%s: %s" % (r.get("dimm"), r.get("peak_24h")) for r in rates])


def disks_healthy(report, _settings, _baseline):
    health = report.get("disk_health")
    if not health:
        return _not_collected("disks_healthy", "no disk-health evidence in the report")
    physical = [d for d in health.get("disks") or [] if not d.get("virtual")]
    if not physical:
        return result("disks_healthy", "unknown", "no physical disk with SMART data on this host",
                      not_collected=True)
    bad = ["%s: %s" % (d.get("device"), d.get("verdict")) for d in physical if d.get("verdict") in
           ("failing", "errors-present")]
    unread = ["%s: %s" % (d.get("device"), d.get("verdict")) for d in physical if d.get("verdict") != "healthy"
              and d.get("verdict") not in ("failing", "errors-present")]
    if bad:
        return result("disks_healthy", "fail", "%d disk(s) not healthy" % len(bad), bad + unread)
    if unread:
        return result("disks_healthy", "unknown", "%d disk(s) could not be checked" % len(unread), unread)
    return result("disks_healthy", "pass", "%d disk(s) healthy" % len(physical))


def kernel_untainted(report, settings, _baseline):
    taint = (report.get("hardware_errors") or {}).get("taint")
    if not isinstance(taint, dict):
        return _not_collected("kernel_untainted", "the taint mask was not read")
    names = set(taint.get("names") or [])
    unknown_bits = taint.get("unknown_bits") or []
    disallowed = sorted(names - set(settings.get("allowed_flags") or []))
    if disallowed or unknown_bits:
        return result("kernel_untainted", "fail", "kernel tainted: %s" % ", ".join(
            disallowed + ["bit %s" % b for b in unknown_bits]), ["taint value %s" % taint.get("value")])
    if names:
        return result("kernel_untainted", "pass", "tainted only by allowed flags: %s" % ", ".join(sorted(names)))
    return result("kernel_untainted", "pass", "kernel not tainted")


def _section(report, check, name, what):
    """(section, None) when the host report carries a readable `name` section, else (None, an unknown result)."""
    section = report.get(name)
    if not isinstance(section, dict):
        return None, _not_collected(check, "the evidence has no %s section (collected by pteguard 0.3 and later)" % what)
    if "collector_error" in section:
        return None, result(check, "unknown", "%s could not be read: %s" % (what, section["collector_error"]))
    return section, None


def kdump_ready(report, _settings, _baseline):
    kdump, unknown = _section(report, "kdump_ready", "kdump", "kdump readiness")
    if unknown:
        return unknown
    crash = kdump.get("crashkernel") or {}
    service = kdump.get("service") or {}
    details = ["crashkernel %s, reserved %s bytes, crash kernel %s" % (
        crash.get("cmdline_param") or "not set", crash.get("reserved_bytes"),
        "loaded" if crash.get("loaded") else "not loaded"),
        "service %s: %s" % (service.get("unit"), service.get("active")) if service else "no kdump service"]
    if kdump.get("ready"):
        return result("kdump_ready", "pass", "kdump is ready", details)
    return result("kdump_ready", "fail", "kdump not ready: %s" % "; ".join(kdump.get("problems") or ["?"]), details)


def persistent_journal(report, _settings, _baseline):
    journal, unknown = _section(report, "persistent_journal", "journal", "journal persistence")
    if unknown:
        return unknown
    details = ["Storage=%s (from %s)" % (journal.get("storage"), journal.get("storage_from")),
               "/var/log/journal %s" % ("exists" if journal.get("journal_dir_exists") else "absent")]
    persistent = journal.get("persistent")
    if persistent is None:
        return result("persistent_journal", "unknown", journal.get("reason") or "journal persistence unknown",
                      details)
    return result("persistent_journal", "pass" if persistent else "fail",
                  ("journal persistent: %s" if persistent else "journal not persistent: %s") % journal.get("reason"),
                  details)


CHECKS = {
    "hw_error_backend": hw_error_backend,
    "kernel": kernel,
    "no_new_events": no_new_events,
    "memory_ce_rate": memory_ce_rate,
    "disks_healthy": disks_healthy,
    "kernel_untainted": kernel_untainted,
    "kdump_ready": kdump_ready,
    "persistent_journal": persistent_journal,
}


def evaluate(report, checks, baseline):
    """Every check the policy turns on, in the policy's order, for one host report."""
    return [CHECKS[name](report, settings if isinstance(settings, dict) else {}, baseline)
            for name, settings in checks.items()]


def host_result(check_results):
    outcomes = {c["result"] for c in check_results}
    if "fail" in outcomes:
        return "fail"
    if "unknown" in outcomes or not check_results:
        return "unknown"
    return "pass"
