# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every evidence kind of one host in one call: host facts, kernel log, hardware errors, disk health.

The diagnosis needs all four, and each module round trip costs about as much as the work itself, so
host_evidence_info runs them together on the target. One collector that breaks (an unexpected tool output, a bug)
must not lose the others: its section becomes ``{"collector_error": ...}`` and ``collectors`` says it was not read,
so the host is never shown clean for it. Bad options, and a ``since`` journalctl rejects, still fail the host
(CollectError), as in kernel_log_info.

Pure Python, no Ansible import; 3.6-compatible syntax (runs on the target's python3).
"""

from __future__ import annotations

from .collect_host import CollectError
from .disk_health_collect import collect_disk_health
from .findings import BoundedFindings
from .host_facts import host_facts_or_note
from .host_inventory import collect_inventory
from .hw_errors_collect import collect_hw_errors
from .journal_storage import journal_storage
from .kdump_collect import collect_kdump
from .kernel_log_collect import check_params, collect_kernel_log, kernel_identity
from .source_status import PARTIAL, READ, UNREADABLE, any_read

SECTIONS = ("kernel_log", "hardware_errors", "disk_health")
# Cheap read-only extras for the fleet correlation and the compliance checks; a failure is the section's own
# collector_error, never the host's (they are not evidence of a fault, so they do not make a host incomplete).
EXTRAS = (("inventory", collect_inventory), ("journal", journal_storage),
          ("kdump", lambda host: collect_kdump(host, max_vmcores=0)))


def _failure(exc):
    return "%s: %s" % (type(exc).__name__, exc)


def bound_findings(section, limit):
    """Keep the `limit` most telling findings of a collector's result (findings.BoundedFindings), counting the cut."""
    bounded = BoundedFindings(limit)
    for finding in section.get("findings") or []:
        bounded.add(finding)
    section["findings"] = bounded.findings()
    section["findings_dropped"] = bounded.dropped
    return section


def empty_kernel_log(reason):
    """The kernel_log section of a host whose kernel-log collector broke: nothing read, and why."""
    return {"findings": [], "collector_error": reason,
            "summary": {"findings": 0, "findings_returned": 0, "findings_dropped": 0, "by_category": {},
                        "by_severity": {}, "highest_severity": None, "suppressed": {}, "suppressed_by_category": {},
                        "dropped_by_category": {}, "dropped_by_severity": {}, "sources_read": 0},
            "sources": [{"name": "kernel_log", "status": UNREADABLE, "reason": "collector failed: %s" % reason}]}


def collect_host_evidence(host, hw_errors=True, disk_health=True, check_mode=False, **kernel_log_options):
    """{kernel_log, hardware_errors, disk_health, host_facts, collectors, inventory, journal, kdump};
    hardware_errors / disk_health are None when not asked for. Raises CollectError for bad kernel-log options and a rejected ``since``."""
    options = check_params(kernel_log_options)
    facts = host_facts_or_note(host)
    collectors = []
    try:
        kernel_log = collect_kernel_log(host, **options)
        entry = {"name": "kernel_log", "status": READ}
        if not any_read(kernel_log["sources"]):
            entry.update(status=UNREADABLE, reason="no kernel-log source could be read")
        collectors.append(entry)
    except CollectError:
        raise
    except Exception as exc:  # a broken collector must not lose the other evidence kinds
        kernel_log = empty_kernel_log(_failure(exc))
        collectors.append({"name": "kernel_log", "status": UNREADABLE, "reason": kernel_log["collector_error"]})
    kernel_log["kernel"] = kernel_identity(host, facts)
    result = {"kernel_log": kernel_log, "host_facts": facts, "collectors": collectors}
    for name, wanted, collect in (("hardware_errors", hw_errors, collect_hw_errors),
                                  ("disk_health", disk_health, collect_disk_health)):
        if not wanted:
            result[name] = None
            continue
        kwargs = {"check_mode": check_mode} if name == "disk_health" else {}
        try:
            result[name] = bound_findings(collect(host, **kwargs), options["max_findings"])
            collectors.append({"name": name, "status": READ})
        except Exception as exc:  # CollectError included: defaults only, so it is a broken host, not bad input
            result[name] = {"collector_error": _failure(exc), "findings": []}
            collectors.append({"name": name, "status": UNREADABLE, "reason": result[name]["collector_error"]})
    for name, collect in EXTRAS:
        try:
            result[name] = collect(host)
        except Exception as exc:  # same rule as above: one broken reader loses only its own section
            result[name] = {"collector_error": _failure(exc)}
    return result


def collector_gaps(evidence, skip=()):
    """'name: reason' for every collector of a host_evidence_info result that did not read its evidence."""
    return ["%s collector %s: %s" % (c.get("name"), c.get("status"), c.get("reason") or "nothing could be read")
            for c in (evidence or {}).get("collectors") or []
            if c.get("status") not in (READ, PARTIAL) and c.get("name") not in skip]
