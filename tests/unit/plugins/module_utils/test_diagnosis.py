"""diagnose() on real evidence: findings the parser produces from tests/fixtures/logs, and real tool outputs from
tests/fixtures/tools read through the real parsers. Logs and tool outputs come from different public machines; each
test combines them as the situation it models, and says so. Synthetic variants are marked as such."""

from __future__ import annotations

import copy
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils import rasdaemon, smartctl
from ansible_collections.pteguard.remediation.plugins.module_utils.diagnosis import (
    CAUSES, FACT_KINDS, NEXT_STEPS, RULES, DiagnosisInputError, diagnose)
from ansible_collections.pteguard.remediation.plugins.module_utils.edac import parse_edac_text
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file

HERE = os.path.dirname(__file__)
LOGS = os.path.join(HERE, "..", "..", "..", "fixtures", "logs")
TOOLS = os.path.join(HERE, "..", "..", "..", "fixtures", "tools")
GIB = 1 << 30


def kernel(name):
    return scan_file(os.path.join(LOGS, name + ".log"))["findings"]


def tool(name):
    with open(os.path.join(TOOLS, name)) as handle:
        return handle.read()


def ras_mc_ctl(name):
    return rasdaemon.ras_mc_ctl_findings(rasdaemon.parse_ras_mc_ctl(tool(name)))


def smart(name):
    return smartctl.parse_smartctl(tool(name))


def top(result):
    return result["causes"][0]


# --- the table itself ---------------------------------------------------------------------------------

def test_rule_table_is_consistent():
    ids = [r[0] for r in RULES]
    assert len(ids) == len(set(ids))
    for rid, need, forbid, cause, weight, why in RULES:
        assert cause in CAUSES and 0 < weight < 1 and len(why) > 20, rid
        assert set(need) | set(forbid) <= set(FACT_KINDS), rid
        assert not set(need) & set(forbid), rid
        kinds = set(FACT_KINDS[f] for f in need if FACT_KINDS[f])
        assert len(kinds) <= 1, "%s mixes subject kinds" % rid
    assert set(NEXT_STEPS) == set(CAUSES) | {"none"}


def test_docs_render_every_rule():
    with open(os.path.join(HERE, "..", "..", "..", "..", "docs", "diagnosis.md")) as handle:
        text = handle.read()
    for rid, need, forbid, cause, weight, _why in RULES:
        assert "| %s | %s |" % (rid, cause) in text, rid


# --- memory --------------------------------------------------------------------------------------------

def test_lone_corrected_error_is_a_note_to_monitor_not_a_cause():
    """one real EDAC corrected error (sb_edac, one DIMM): under every threshold, so no cause, a note that names
    the DIMM and says to keep monitoring."""
    result = diagnose(kernel("memory_error_corrected-edac_sbridge-dmesgT"))
    assert result["primary_cause"] == "none"
    assert not [r for r in result["rules_fired"] if r["cause"] == "faulty_memory"]
    note = result["notes"][0]
    assert note["about"] == "memory_ce_seen" and note["subject"] == {"dimm": "CPU_SrcID#0_Ha#0_Chan#2_DIMM#0"}
    assert note["message"].startswith("1 corrected memory error(s) on CPU_SrcID#0_Ha#0_Chan#2_DIMM#0")
    assert "10 / 24h" in note["message"] and "PAGE_CE_THRESHOLD=50" in note["message"]
    assert [s["name"] for s in note["next_steps"]] == ["hardware_error_monitoring"]
    assert note["evidence"][0]["line"] >= 1
    assert result["memory_ce_rates"][0]["peak_24h"] == 1


def test_corrected_errors_over_the_rasdaemon_threshold_name_the_dimm():
    """real: 262 corrected errors at once on one DIMM (sb_edac, corpus-031): over mcelog's 10 and rasdaemon's
    50 per 24 h, so faulty_memory with that DIMM's EDAC label."""
    result = diagnose(kernel("corpus-031"))
    cause = top(result)
    assert cause["cause"] == "faulty_memory"
    assert cause["subject"] == {"dimm": "CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"}
    assert cause["rules"] == ["M2", "M7"] and cause["confidence_word"] == "high"
    assert [s["step"] for s in cause["next_steps"]][:2] == [2, 4]
    assert "CPU_SrcID#0_Ha#0_Chan#1_DIMM#0" in cause["next_steps"][0]["action"]
    assert result["memory_ce_rates"][0]["peak_24h"] == 262 and not result["notes"]


@pytest.mark.parametrize("count, rules", [(9, []), (10, ["M2"]), (49, ["M2"]), (60, ["M2", "M7"])])
def test_thresholds_per_dimm(count, rules):
    """synthetic counts on the real sb_edac finding: the boundaries are mcelog's 10 and rasdaemon's 50 / 24 h."""
    finding = copy.deepcopy(kernel("memory_error_corrected-edac_sbridge-dmesgT"))
    finding[0]["error_count"] = count
    result = diagnose(finding)
    fired = [r["rule"] for r in result["rules_fired"] if r["cause"] == "faulty_memory"]
    assert fired == rules
    assert bool(result["notes"]) == (not rules)


def test_sixty_corrected_errors_within_24_hours_from_separate_records():
    """synthetic: the real sb_edac record repeated 60 times one minute apart, then 60 more spread over 60 days:
    the rate, not the total, decides."""
    base = kernel("memory_error_corrected-edac_sbridge-dmesgT")[0]
    burst = [dict(base, time="Mon Jan 27 %02d:%02d:15 2020" % (10 + i // 60, i % 60), line=i + 1) for i in range(60)]
    cause = top(diagnose(burst))
    # the same address each time: mcelog's page threshold (M8) holds too
    assert cause["cause"] == "faulty_memory" and cause["rules"] == ["M2", "M7", "M8"]
    assert cause["subject"] == {"dimm": "CPU_SrcID#0_Ha#0_Chan#2_DIMM#0"}
    spread = [dict(base, time="2020-%02d-%02d 10:00:00" % (1 + i // 28, 1 + i % 28), line=i + 1) for i in range(60)]
    result = diagnose(spread)
    assert result["primary_cause"] == "none" and result["memory_ce_rates"][0]["peak_24h"] == 1


def test_medium_errors_repeated_and_one_corrected_error_is_the_disk():
    """the issue's scenario, from real texts of two machines: repeated critical medium errors at sectors 5120
    and 5256 of sdb (one 1 MiB region; kern.log with rate-limited callbacks) and one EDAC corrected error
    (sb_edac). disk_media first, memory only a note."""
    findings = kernel("block_io_error-blk_update_request-suppressed-kernlog") + \
        kernel("memory_error_corrected-edac_sbridge-dmesgT")
    result = diagnose(findings)
    first = top(result)
    assert first["cause"] == "disk_media" and first["subject"] == {"device": "sdb"}
    assert "S6" in first["rules"] and first["confidence_word"] == "high"
    assert all(c["cause"] != "faulty_memory" for c in result["causes"])
    assert result["notes"][0]["subject"] == {"dimm": "CPU_SrcID#0_Ha#0_Chan#2_DIMM#0"}


def test_ties_are_broken_by_the_strongest_evidence():
    """real: one ATA ICRC link error (L1 0.6) against one GHES corrected error from a DIMM at 10/24 h
    (synthetic count; M2 0.6): equal confidence, equal strongest weight, so the amount of evidence decides and
    the order of the cause table does not."""
    link = kernel("storage_device_error-ata_icrc_abrt_sata-kernlog-2010")
    memory = copy.deepcopy(kernel("memory_error_corrected-ghes_corrected-journal-proxmox"))
    memory[0]["error_count"] = 10
    result = diagnose(link + memory)
    a, b = result["causes"][:2]
    assert a["confidence"] == b["confidence"] and a["strongest_rule_weight"] == b["strongest_rule_weight"]
    assert len(a["evidence"]) >= len(b["evidence"])
    if len(a["evidence"]) > len(b["evidence"]):
        assert a["cause"] == "storage_link_or_controller"


def test_ghes_uncorrected_error_is_high_confidence_memory():
    cause = top(diagnose(kernel("memory_error_uncorrected-ghes_recoverable-syslog")))
    assert cause["cause"] == "faulty_memory" and cause["subject"] == {"dimm": "B2"}
    assert cause["confidence_word"] == "high" and "M1" in cause["rules"]


def test_rasdaemon_error_count_names_the_dimm():
    result = diagnose([], hw_errors=ras_mc_ctl("105.txt"))
    cause = top(result)
    assert cause["cause"] == "faulty_memory"
    assert cause["subject"] == {"dimm": "CPU_SrcID#1_Ha#0_Chan#0_DIMM#0"}
    assert cause["evidence"][0]["source"] == "ras-mc-ctl"


def test_amd_umc_corrected_mce_from_ras_mc_ctl():
    """real: three corrected errors at one address on AMD UMC channel 0 csrow 1 over 30 hours, two of them
    within 24 h: under the DIMM rates, but the same page again within a day (mcelog's page threshold): a weak
    cell, low confidence."""
    result = diagnose([], hw_errors={"findings": ras_mc_ctl("104.txt"), "taint": None})
    cause = top(result)
    assert cause["cause"] == "faulty_memory" and cause["subject"] == {"dimm": "channel0/csrow1"}
    assert cause["rules"] == ["M8"] and cause["confidence_word"] == "low"
    assert len(cause["evidence"]) == 3
    assert result["memory_ce_rates"][0]["peak_24h"] == 2


def test_pte_bit_flip_with_corrected_errors_is_memory_first():
    """synthetic combination: the real 5.7 walk with its real PMD value one bit flipped (bit 45), on a host whose
    kernel log has real EDAC corrected errors (edac_sbridge sample) and whose rasdaemon reports more (105)."""
    oops = copy.deepcopy([f for f in kernel("pte_corruption-pf_reserved_bit-dmesg-5.7")
                          if f["category"] == "pte_corruption"][0])
    oops["pmd"] = "0x%x" % (int(oops["pmd"], 16) ^ (1 << 45))
    oops["pte"] = "0x3f8822163"  # synthetic: a sane leaf, so only the flipped PMD is wrong
    oops.pop("pf_flags")
    findings = [oops] + kernel("memory_error_corrected-edac_sbridge-dmesgT")
    result = diagnose(findings, hw_errors=ras_mc_ctl("105.txt"), host_facts={"memory_bytes": 64 * GIB})
    assert result["pte_analysis"][0]["points_to"] == "hardware"
    first = top(result)
    assert first["cause"] == "faulty_memory" and "M4" in first["rules"]
    assert first["confidence_word"] == "high"
    assert all(c["cause"] != "driver_dma_corruption" for c in result["causes"])


def test_pte_corruption_alongside_corrected_errors_is_memory_even_with_a_module():
    """real 6.10 Bad page map (btrfs mmap) + real rasdaemon corrected errors (105): hardware evidence wins."""
    result = diagnose(kernel("pte_corruption-corrupted_page_table-syslog-6.10"), hw_errors=ras_mc_ctl("105.txt"))
    assert top(result)["cause"] == "faulty_memory"
    assert "D2" not in [r["rule"] for r in result["rules_fired"]]


# --- drivers -------------------------------------------------------------------------------------------

def test_pte_corruption_with_out_of_tree_taint_and_no_hw_errors_is_a_driver():
    """4.1 celery host: Bad page map, Tainted: G B OE, no hardware errors (EDAC sysfs 109: all zero)."""
    edac = parse_edac_text(tool("109.txt"))
    assert edac["ce_total"] == 0 and edac["ue_total"] == 0
    result = diagnose(kernel("pte_corruption-bad_swap_entry-kernlog-4.1"), hw_errors=[],
                      host_facts={"kernel": "4.1.0"})
    cause = top(result)
    assert cause["cause"] == "driver_dma_corruption" and "D1" in cause["rules"]
    assert any(e.get("line") == 3 for e in cause["evidence"])  # the Bad page map line
    assert cause["next_steps"][0]["step"] == 3


def test_tainting_module_named_from_taint_mask_and_modules_list():
    """real arm64 oops with staging (C) modules listed; its page walk is not a page-table finding, so a synthetic
    page-table finding (the real corpus-008 Bad page map) is added: the module named is the tainting one."""
    findings = kernel("kernel_oops-arm64_paging_request_mem_abort-4.19")
    bad_map = [f for f in kernel("corpus-008") if f["signature"] == "bad_page_map"]
    result = diagnose(findings + bad_map, host_facts={"arch": "arm64"})
    drivers = [c for c in result["causes"] if c["cause"] == "driver_dma_corruption"]
    assert drivers and drivers[0]["subject"]["module"] in ("bcm2835_codec", "bcm2835_v4l2")


def test_module_in_bad_page_map_mmap_is_named():
    """6.10: Bad page map with mmap:btrfs_file_mmap [btrfs], no hardware errors (ras-mc-ctl summary 018 clean)."""
    result = diagnose(kernel("pte_corruption-corrupted_page_table-syslog-6.10"), hw_errors=ras_mc_ctl("018.txt"),
                      taint=0)
    cause = top(result)
    assert cause["cause"] == "driver_dma_corruption" and cause["subject"] == {"module": "btrfs"}
    assert "D2" in cause["rules"] and "D3" in cause["rules"]  # the PTE value is a kernel pointer too
    assert any(o["code"] == "pointer_like" for p in result["pte_analysis"] for o in p["observations"])


def test_dma_overwrite_on_arm64_points_at_driver():
    """corpus-008: CM4 'rpidmareproduce', data-shaped PTE, staging taint C, no hardware errors."""
    result = diagnose(kernel("corpus-008"), host_facts={"arch": "arm64"})
    cause = top(result)
    assert cause["cause"] == "driver_dma_corruption"
    assert set(cause["rules"]) >= {"D1", "D3"}


def test_oops_rip_in_module_blames_that_module():
    cause = top(diagnose(kernel("kernel_oops-null_deref-notime-5.17-zfs")))
    assert cause["cause"] == "driver_dma_corruption" and cause["subject"] == {"module": "zfs"}


# --- kernel bugs ---------------------------------------------------------------------------------------

def test_list_corruption_without_hardware_evidence_is_a_kernel_bug():
    cause = top(diagnose(kernel("kernel_oops-list_del_corruption_BUG-4.19")))
    assert cause["cause"] == "kernel_bug" and "K1" in cause["rules"]
    assert cause["next_steps"][0]["step"] == 6


def test_poison_address_oops_is_a_kernel_bug_unless_memory_errors():
    """synthetic: the real 5.1 GPF finding with a slab-poison address (as the parser classifies one)."""
    gpf = copy.deepcopy(kernel("kernel_oops-gpf_kswapd_memcg-5.1"))
    gpf[0].update({"address": "0x6b6b6b6b6b6b6b6b", "address_poison": "slab_free",
                   "hint": "software_use_after_free"})
    assert top(diagnose(gpf))["cause"] == "kernel_bug"
    # a lone corrected error does not turn a poison-address oops into a memory fault: it is a note
    lone = diagnose(gpf + kernel("memory_error_corrected-edac_sbridge-dmesgT"))
    assert top(lone)["cause"] == "kernel_bug"
    assert lone["notes"][0]["subject"] == {"dimm": "CPU_SrcID#0_Ha#0_Chan#2_DIMM#0"}
    # 262 corrected errors on one DIMM (corpus-031) are memory evidence strong enough to clear software
    with_memory = diagnose(gpf + kernel("corpus-031"))
    assert top(with_memory)["cause"] == "faulty_memory"
    assert all(c["cause"] != "kernel_bug" for c in with_memory["causes"])


# --- disks ---------------------------------------------------------------------------------------------

def test_nvme_media_errors_and_smart_media_errors_on_the_same_disk():
    """nvme0n1 media errors in the log; smartctl --json of nvme0 with 7 media errors (012)."""
    result = diagnose(kernel("storage_device_error-nvme_access_denied-dmesg_relative"),
                      disk_health={"disks": [smart("012.json")], "findings": []})
    cause = top(result)
    assert cause["cause"] == "disk_media" and cause["subject"] == {"device": "nvme0"}
    assert "S1" in cause["rules"] and cause["confidence_word"] == "high"
    assert any(e.get("counters", {}).get("media_errors") == 7 for e in cause["evidence"])
    assert cause["next_steps"][0]["step"] == 7 and "/dev/nvme0" in cause["next_steps"][0]["action"]


def test_medium_error_and_smart_defects_on_different_disks_do_not_confirm_each_other():
    """sda medium errors in the log; SMART failing with pending sectors is /dev/sdc (102)."""
    result = diagnose(kernel("storage_device_error-ata_unc_medium_error-dmesgT"), disk_health=[smart("102.json")])
    assert "S1" not in [r["rule"] for r in result["rules_fired"]]
    devices = [c["subject"]["device"] for c in result["causes"] if c["cause"] == "disk_media"]
    assert "sda" in devices and "sdc" in devices


def test_device_alias_links_the_ata_port_and_smart_report():
    """same as above, with the host's mapping ata1 -> sdc and sda -> sdc: now the rule S1 holds."""
    result = diagnose(kernel("storage_device_error-ata_unc_medium_error-dmesgT"), disk_health=[smart("102.json")],
                      host_facts={"device_aliases": {"ata1": "sdc", "sda": "sdc"}})
    cause = top(result)
    assert cause["cause"] == "disk_media" and cause["subject"] == {"device": "sdc"} and "S1" in cause["rules"]


def test_ata_icrc_is_the_link():
    cause = top(diagnose(kernel("storage_device_error-ata_icrc_abrt_sata-kernlog-2010")))
    assert cause["cause"] == "storage_link_or_controller" and cause["subject"] == {"device": "ata3"}


def test_udma_crc_count_with_link_errors_on_the_same_disk():
    """synthetic SMART report: the real 103.json (healthy SATA disk) with UDMA_CRC_Error_Count 58 set, mapped to
    the port of the real ICRC log (ata3)."""
    disk = smart("103.json")
    disk["udma_crc_errors"] = 58
    result = diagnose(kernel("storage_device_error-ata_icrc_abrt_sata-kernlog-2010"), disk_health=[disk],
                      host_facts={"device_aliases": {"ata3": "sdc"}})
    cause = top(result)
    assert cause["cause"] == "storage_link_or_controller" and cause["subject"] == {"device": "sdc"}
    assert "L3" in cause["rules"] and cause["confidence_word"] == "high"


def test_smart_only_failing_disk():
    cause = top(diagnose([], disk_health=[smart("102.json")]))
    assert cause["cause"] == "disk_media" and cause["subject"] == {"device": "sdc"}
    assert set(cause["rules"]) == {"S3", "S4"}


# --- machine checks, clean hosts ------------------------------------------------------------------------

def test_uncorrected_internal_machine_check_is_firmware_or_power():
    cause = top(diagnose(kernel("machine_check_other-boot_logged_internal-syslog_nohost")))
    assert cause["cause"] == "firmware_or_power" and "F1" in cause["rules"]


def test_mcelog_uncorrected_internal_error():
    from ansible_collections.pteguard.remediation.plugins.module_utils.mcelog import parse_mcelog
    rec = parse_mcelog(tool("015.txt"))["records"][0]
    finding = {"category": rec["category"], "severity": rec["severity"], "source": "mcelog_log",
               "message": rec["mca"], "line": rec["line"]}
    cause = top(diagnose([], hw_errors=[finding]))
    assert cause["cause"] == "firmware_or_power"


def test_clean_host_is_none():
    result = diagnose(kernel("none-wsl_boot_recovery_complete"), hw_errors=ras_mc_ctl("018.txt"),
                      disk_health=[smart("010.json")], taint=0)
    assert result["primary_cause"] == "none"
    assert result["causes"][0]["confidence_word"] == "high"


def test_findings_no_rule_explains_give_none_with_lower_confidence():
    result = diagnose(kernel("pcie_aer-correctable-dmesgT-6x") or
                      [{"category": "pcie_aer", "severity": "warning", "line": 1, "message": "x"}])
    assert result["primary_cause"] == "none"


def test_ranking_is_by_confidence():
    findings = kernel("storage_device_error-ata_icrc_abrt_sata-kernlog-2010") + \
        kernel("memory_error_uncorrected-ghes_recoverable-syslog")
    result = diagnose(findings)
    confidences = [c["confidence"] for c in result["causes"]]
    assert confidences == sorted(confidences, reverse=True)
    assert [c["cause"] for c in result["causes"]][:2] == ["faulty_memory", "storage_link_or_controller"]


# --- inputs --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [
    dict(kernel_findings="text"),
    dict(kernel_findings=[1]),
    dict(kernel_findings=[{"category": "nope", "severity": "error"}]),
    dict(kernel_findings=[], hw_errors=5),
    dict(kernel_findings=[], disk_health="x"),
    dict(kernel_findings=[], disk_health=[{"verdict": "healthy"}]),
    dict(kernel_findings=[], taint=[1]),
    dict(kernel_findings=[], taint=-1),
    dict(kernel_findings=[], host_facts=[]),
    dict(kernel_findings=[], host_facts={"memory_bytes": "lots"}),
    dict(kernel_findings=[], host_facts={"max_phys_bits": 80}),
])
def test_bad_input_is_a_clear_error(kwargs):
    with pytest.raises(DiagnosisInputError):
        diagnose(**kwargs)


@pytest.mark.parametrize("taint", [4096, "4096", "Tainted: G           O", {"names": ["out_of_tree_module"]},
                                   {"value": 4096}])
def test_taint_forms(taint):
    result = diagnose(kernel("pte_corruption-bad_pud-riscv-6.1"), taint=taint)
    assert top(result)["cause"] == "driver_dma_corruption"
    assert result["inputs"]["taint"] == ["out_of_tree_module"]


def test_one_media_error_is_not_repeated():
    """real: a single critical medium error at sector 0 (Longhorn arm64): S2 only, no repeat."""
    cause = top(diagnose(kernel("storage_device_error-scsi_medium_error-kernlog-arm64")))
    assert cause["cause"] == "disk_media" and cause["rules"] == ["S2"]
