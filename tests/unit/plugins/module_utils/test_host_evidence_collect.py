"""Every evidence kind of a host in one call (host_evidence_collect), driven by recorded real outputs.

114.json: lsblk on a development machine (vda, zram0; tests/fixtures/tools/114.meta.json); the kernel-log and host-fact
inputs are the fixtures named in test_kernel_log_collect.py. The hardware-error collector reads this machine's
/proc and sysfs (its tools are absent from the recorded host, so no command runs).
"""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError
from ansible_collections.pteguard.remediation.plugins.module_utils.disk_health_collect import LSBLK_ARGV
from ansible_collections.pteguard.remediation.plugins.module_utils.host_evidence_collect import (
    bound_findings, collect_host_evidence, collector_gaps)
from ansible_collections.pteguard.remediation.plugins.module_utils.report import evidence_report

from .recorded_host import RecordedHost, fixture
from .test_kernel_log_collect import CURSOR, journal_host, nothing_else

LSBLK = " ".join(["lsblk"] + LSBLK_ARGV)


def host_with_disk():
    host = journal_host(**{LSBLK: (0, fixture("114.json"), "")})
    host.bins.add("lsblk")
    return host


def test_one_call_returns_every_kind_and_the_report_is_built_from_it(tmp_path):
    out = collect_host_evidence(host_with_disk(), **nothing_else(tmp_path))
    assert out["kernel_log"]["cursor"] == CURSOR
    assert out["kernel_log"]["kernel"]["host_facts"] is out["host_facts"]  # read once
    assert out["host_facts"]["arch"] == "x86_64"
    assert out["disk_health"]["enumerated_by"] == "lsblk"
    assert out["disk_health"]["findings"][0]["signature"] == "smartctl.missing"
    assert "backends" in out["hardware_errors"]
    kinds = ("kernel_log", "hardware_errors", "disk_health")
    assert out["collectors"] == [{"name": n, "status": "read"} for n in kinds]
    assert collector_gaps(out) == []
    report = evidence_report("web1", out)
    assert report["host"] == "web1" and report["disk_health"]["enumerated_by"] == "lsblk"
    assert report["collectors"] == out["collectors"]


class _BrokenDisks(RecordedHost):
    """Synthetic: a host whose disk enumeration raises an error no collector expects (stands for a collector bug)."""

    def listdir(self, path):
        raise RuntimeError("sysfs walk exploded")


def test_a_broken_collector_keeps_the_others_and_is_never_clean(tmp_path):
    host = _BrokenDisks(bins=("journalctl",), outputs=journal_host().outputs)
    out = collect_host_evidence(host, **nothing_else(tmp_path))
    assert out["disk_health"] == {"collector_error": "RuntimeError: sysfs walk exploded", "findings": []}
    assert out["kernel_log"]["summary"]["findings"] > 0 and "backends" in out["hardware_errors"]
    assert collector_gaps(out) == ["disk_health collector unreadable: RuntimeError: sysfs walk exploded"]
    report = evidence_report("web1", out)  # the diagnosis weighs what was read, and the report says what was not
    assert report["disk_health"]["collector_error"] and report["diagnosis"] is not None


def test_unwanted_kinds_are_null_and_a_rejected_since_still_fails(tmp_path):
    out = collect_host_evidence(journal_host(), hw_errors=False, disk_health=False, **nothing_else(tmp_path))
    assert out["hardware_errors"] is None and out["disk_health"] is None
    since = "yesterday at noonish"
    host = journal_host(**{"journalctl -k -n 1 -o cat --no-pager -q --since=" + since: (
        1, b"", "Failed to parse timestamp: yesterday at noonish\n")})
    with pytest.raises(CollectError, match="journalctl rejected since=yesterday at noonish"):
        collect_host_evidence(host, since=since, **nothing_else(tmp_path))


def test_bound_keeps_the_most_severe_and_counts_the_cut():
    noise = [{"category": "storage_device_error", "severity": "info", "message": "n%d" % i} for i in range(5)]
    bad = {"category": "memory_error_uncorrected", "severity": "critical", "message": "ue"}
    section = bound_findings({"findings": noise + [bad]}, 2)
    assert bad in section["findings"] and len(section["findings"]) == 2
    assert section["findings_dropped"] == 4
