# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's JSON report, built in one place: by the CLI from the module results it captured, and by the
diagnose role's report task (through the host_report filter) for plain ansible-playbook runs.

Pure Python, no Ansible import.
"""

from __future__ import annotations

import hashlib
import json
import re

from .diagnosis import diagnose

SCHEMA = "pteguard.report/1"
EXTRA_SECTIONS = ("inventory", "journal", "kdump")

# Module result keys Ansible adds around what the module returned; not part of the evidence.
_ANSIBLE_KEYS = ("invocation", "changed", "failed", "skipped", "warnings", "deprecations")

_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]")
# names the run's own files take beside the host reports (compliance.json, fleet.json): a host never gets them
_RUN_FILES = ("compliance", "fleet")


def _evidence(result):
    """A module result without Ansible's bookkeeping keys; None when the collector was skipped or not run."""
    if not isinstance(result, dict) or result.get("skipped"):
        return None
    return {k: v for k, v in result.items() if k not in _ANSIBLE_KEYS and not k.startswith("_ansible")}


def _readable(section):
    """A collector's section as the diagnosis may weigh it: None when not run or when the collector broke."""
    return None if section is None or "collector_error" in section else section


def host_report(host, kernel_log, hw_errors=None, disk_health=None, collectors=None, extras=None):
    """The report of one host from its kernel_log_info result and, when run, hw_error_info and disk_health_info."""
    kernel = kernel_log.get("kernel") or {}
    hw = _evidence(hw_errors)
    disks = _evidence(disk_health)
    report = {
        "schema": SCHEMA,
        "host": host,
        "kernel": kernel,
        "diagnosis": diagnose(kernel_log, hw_errors=_readable(hw), disk_health=_readable(disks),
                              host_facts=_host_facts(kernel)),
        "hardware_errors": hw,
        "disk_health": disks,
        "kernel_log": {
            "summary": kernel_log.get("summary"),
            "sources": kernel_log.get("sources") or [],
            "cursor": kernel_log.get("cursor"),
            "findings": kernel_log.get("findings") or [],
        },
    }
    if collectors is not None:
        report["collectors"] = collectors
    # inventory (tainting modules, firmware, DIMMs), journal persistence and kdump readiness, when collected
    for name, section in (extras or {}).items():
        if isinstance(section, dict):
            report[name] = section
    return report


def _host_facts(kernel):
    """Memory size, physical address bits (from /proc/cpuinfo, or assumed and said so), CPU, as the module read them."""
    facts = dict(kernel.get("host_facts") or {})
    facts.update(memory_bytes=kernel.get("memory_bytes"), arch=kernel.get("machine"), kernel=kernel.get("release"))
    return facts


def rediagnose(report):
    """The diagnosis of a written report again, from its own sections, the later steps' results included."""
    return diagnose(report["kernel_log"], hw_errors=_readable(report.get("hardware_errors")),
                    disk_health=_readable(report.get("disk_health")), host_facts=_host_facts(report.get("kernel") or {}),
                    reproduction=report.get("reproduction"), symbolized=report.get("symbolized"))


def evidence_report(host, evidence):
    """The report of one host from its host_evidence_info result (one round trip: every evidence kind)."""
    evidence = _evidence(evidence)
    if not evidence or not isinstance(evidence.get("kernel_log"), dict):
        raise ValueError("not a host_evidence_info result (no kernel_log section)")
    return host_report(host, evidence["kernel_log"], hw_errors=evidence.get("hardware_errors"),
                       disk_health=evidence.get("disk_health"), collectors=evidence.get("collectors"),
                       extras={k: evidence.get(k) for k in EXTRA_SECTIONS})


def report_text(report):
    """The report file's text: sorted keys, one-space indent (stable, so an unchanged report is an unchanged file)."""
    return json.dumps(report, indent=1, sort_keys=True) + "\n"


def report_file_name(host):
    """A file name for a host's report that stays inside the report directory whatever the inventory calls it.

    Inventory names may hold '/', '..', control characters or be empty; those are replaced, and a short hash of the
    real name is added whenever the name had to change, so two different hosts never share a file.
    """
    host = str(host)
    safe = _SAFE_NAME.sub("_", host).strip(".")[:100]
    if safe == host and safe and safe not in _RUN_FILES:
        return safe + ".json"
    digest = hashlib.sha256(host.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return "%s-%s.json" % (safe or "host", digest)
