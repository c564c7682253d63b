"""The signature catalogue is the whole contract: behaviour is data there, and findings carry what they need.

Logs are real fixtures (tests/fixtures/logs, sources in their .json); where a test repeats or joins real lines to
make a noisy log, it says so: the lines are real, the mix is synthetic.
"""

from __future__ import annotations

import os
import re

from ansible_collections.pteguard.remediation.plugins.module_utils import kernel_log, signatures
from ansible_collections.pteguard.remediation.plugins.module_utils.findings import (
    BoundedFindings, rank_key, select_across_sources,
)
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import merge_results, scan_lines

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")


def _lines(name):
    with open(os.path.join(LOGS, name), encoding="utf-8", errors="replace") as handle:
        return handle.read().splitlines()


def test_every_refiner_named_in_the_catalogue_exists():
    named = set(sig.refine for sig in signatures.SIGNATURES if sig.refine)
    assert named == set(kernel_log.REFINERS)


def test_no_signature_id_is_spelled_in_the_assembler():
    # adding or renaming a message must be an edit of signatures.py alone
    with open(kernel_log.__file__, encoding="utf-8") as handle:
        source = handle.read()
    # category and refiner names may coincide with an id ("kernel_panic", "memory_failure"): those are not ids
    quoted = set(re.findall(r'"([a-z0-9_]+)"', source)) - set(signatures.CATEGORIES) - set(kernel_log.REFINERS)
    assert not quoted & set(signatures.SIGNATURE_BY_ID), sorted(quoted & set(signatures.SIGNATURE_BY_ID))


def test_a_bad_role_or_category_is_refused_at_import():
    entry = dict(id="x", category="pte_corruption", severity="error", anchor="x", pattern="x", source="s",
                 roles=("no_such_role",))
    try:
        signatures.Signature(entry)
    except ValueError as exc:
        assert "no_such_role" in str(exc)
    else:
        raise AssertionError("an unknown role was accepted")


def test_roles_and_behaviour_are_published_with_the_catalogue():
    published = dict((sig.id, sig.as_dict()) for sig in signatures.SIGNATURES)
    assert published["nvme_controller_down"]["roles"] == ["controller"]
    assert published["block_request_error"]["refine"] == "block"
    assert published["bad_pagetable_oops"]["marks_pte"] is True


def test_arch_is_recorded_on_every_finding():
    arm = scan_lines(_lines("kernel_oops-arm64_paging_request-short_precise-6.x.log"))["findings"]
    x86 = scan_lines(_lines("pte_corruption-pf_reserved_bit-dmesg-5.7.log"))["findings"]
    disk = scan_lines(_lines("storage_device_error-scsi_medium_error-iscsi.log"))["findings"]
    assert arm and all(f["arch"] == "arm64" for f in arm if f["category"] == "kernel_oops")
    assert x86 and all(f["arch"] == "x86_64" for f in x86 if f["category"] == "pte_corruption")
    # a SCSI sense report says nothing of the CPU: unknown unless the host told us
    assert disk and all(f["arch"] == "unknown" for f in disk)
    told = scan_lines(_lines("storage_device_error-scsi_medium_error-iscsi.log"), arch="aarch64")["findings"]
    assert all(f["arch"] == "arm64" for f in told)


def test_the_cap_keeps_the_page_table_corruption_behind_a_flood_of_link_errors():
    # synthetic mix of real lines: 300 copies of a real ATA ICRC report, then a real reserved-bit #PF oops
    noise = _lines("storage_device_error-ata_icrc_abrt_sata-kernlog-2010.log")
    lines = noise * 300 + _lines("pte_corruption-pf_reserved_bit-dmesg-5.7.log")
    result = scan_lines(lines, max_findings=10)
    kept = result["findings"]
    summary = result["summary"]
    assert len(kept) == 10
    assert any(f["category"] == "pte_corruption" for f in kept)
    assert summary["findings_dropped"] == summary["findings"] - 10 > 0
    assert sum(summary["dropped_by_category"].values()) == summary["findings_dropped"]
    assert "pte_corruption" not in summary["dropped_by_category"]
    assert [f["line"] for f in kept] == sorted(f["line"] for f in kept)


def test_equal_findings_keep_the_earliest():
    keeper = BoundedFindings(2)
    for line in range(1, 6):
        keeper.add({"category": "block_io_error", "severity": "error", "line": line})
    assert [f["line"] for f in keeper.findings()] == [1, 2]
    assert keeper.dropped == 3 and keeper.dropped_by_severity == {"error": 3}


def test_zero_cap_keeps_nothing_and_counts_everything():
    keeper = BoundedFindings(0)
    keeper.add({"category": "pcie_aer", "severity": "warning", "line": 1})
    assert keeper.findings() == [] and keeper.dropped == 1


def test_every_source_gets_its_turn_at_the_bound():
    journal = scan_lines(_lines("block_io_error-blk_update_request-suppressed-kernlog.log"))
    crash = scan_lines(_lines("kernel_panic-fatal_exception_in_interrupt-5.2.log"))
    assert journal["summary"]["findings"] > 3
    findings, summary = merge_results([journal, crash], 3)
    assert len(findings) == 3
    assert any(f["category"] in ("kernel_panic", "kernel_oops") for f in findings)
    assert summary["findings_dropped"] == journal["summary"]["findings"] + crash["summary"]["findings"] - 3
    assert sum(summary["dropped_by_category"].values()) == summary["findings_dropped"]


def test_select_across_sources_prefers_the_most_telling_within_a_source():
    low = {"category": "pcie_aer", "severity": "warning", "line": 1}
    high = {"category": "pte_corruption", "severity": "critical", "line": 2}
    kept, tally = select_across_sources([[low, high]], 1)
    assert kept == [high] and tally.dropped_by_category == {"pcie_aer": 1}
    assert rank_key(high) > rank_key(low)
