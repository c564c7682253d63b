"""What the record assembler makes of real records: decoded facts, categories, culprits, limits."""

from __future__ import annotations

import os

from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_log import KernelLogScanner
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file, scan_lines

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")


def fixture(name):
    return os.path.join(LOGS, name + ".log")


def lines_of(name):
    with open(fixture(name), "rb") as handle:
        return handle.read().splitlines()


def only(findings, category):
    found = [f for f in findings if f["category"] == category]
    assert found, "no %s finding" % category
    return found


def test_reserved_bit_page_fault_is_page_table_corruption_and_an_oops():
    finding = only(scan_file(fixture("pte_corruption-pf_reserved_bit-dmesg-5.7"))["findings"], "pte_corruption")[0]
    assert finding["error_code"] == "0x000b"
    assert "reserved_bit" in finding["pf_flags"] and "write" in finding["pf_flags"]
    assert finding["also_categories"] == ["kernel_oops"]
    assert finding["pte"] == "0x8000273942ab2163"
    assert finding["process"] == "mpv" and finding["pid"] == 691 and finding["cpu"] == 3


def test_corrupted_page_table_walk_marked_bad():
    finding = scan_file(fixture("corpus-002"))["findings"][0]
    assert finding["category"] == "pte_corruption"
    assert finding["page_walk_bad"] is True
    assert finding["pmd"] == "0xffe7a0414d080067"
    assert finding["address_region"] == "user"


def test_culprit_module_comes_from_rip_not_from_the_faulting_address():
    finding = scan_file(fixture("kernel_oops-null_deref-dmesgT-5.10-i40e"))["findings"][0]
    assert finding["module"] == "i40e" and finding["module_from"] == "rip"
    assert finding["symbol"] == "i40e_setup_tx_descriptors"
    assert finding["address"] == "0x0000000000000010"
    assert finding["address_region"] == "null_page"
    assert finding["hint"] == "software_null_dereference"
    assert "out_of_tree_module" in finding["taint_flags"] and "unsigned_module" in finding["taint_flags"]


def test_bad_page_map_names_the_mapping_driver():
    findings = scan_file(fixture("pte_corruption-corrupted_page_table-syslog-6.10"))["findings"]
    mapped = [f for f in findings if f.get("mmap_fn")]
    assert mapped and mapped[0]["mmap_fn"] == "btrfs_file_mmap" and mapped[0]["mmap_module"] == "btrfs"


def test_intel_memory_controller_machine_check_with_edac_dimm():
    finding = only(scan_file(fixture("corpus-031"))["findings"], "memory_error_corrected")[0]
    assert finding["mce"]["mcacod_class"] == "memory_controller"
    assert finding["mce"]["corrected"] is True
    assert finding["dimm"] == "CPU_SrcID#0_Ha#0_Chan#1_DIMM#0"
    assert finding["error_count"] == 262 and finding["bank"] == 7 and finding["cpu"] == 0
    assert finding["address_space"] == "physical"


def test_amd_umc_error_is_memory_by_ipid():
    finding = scan_file(fixture("corpus-034"))["findings"][0]
    assert finding["category"] == "memory_error_corrected"
    assert finding["mce"]["amd_hwid"] == "0x096"
    # the later bare "Machine check events logged" lines repeat the event, they are not new unknown errors
    assert finding["repeats"] >= 1
    assert len(scan_file(fixture("corpus-034"))["findings"]) == 1


def test_fatal_machine_check_then_panic():
    findings = scan_file(fixture("corpus-027"))["findings"]
    mce = only(findings, "machine_check_other")[0]
    assert mce["mce"]["processor_context_corrupt"] is True and mce["severity"] == "critical"
    panic = only(findings, "kernel_panic")[0]
    assert panic["machine_check"] is True
    assert "machine_check" in panic["taint_flags"]


def test_rate_limited_messages_are_counted():
    summary = scan_file(fixture("corpus-049"))["summary"]
    assert summary["suppressed"]["buffer_io_error"] == 19980
    assert summary["suppressed_by_category"]["block_io_error"] == 20039


def test_medium_error_classified_as_media():
    findings = scan_file(fixture("corpus-045"))["findings"]
    block = [f for f in findings if f["signature"] == "block_request_error"][0]
    assert block["error_class"] == "media" and block["device"] == "sdb" and block["sector"] == 0
    scsi = only(findings, "storage_device_error")[0]
    assert scsi["sense_key"] == "Medium Error" and scsi["error_class"] == "media"


def test_crlf_and_invalid_utf8_do_not_change_findings():
    lines = lines_of("corpus-045")
    plain = scan_lines(lines)["findings"]
    crlf = scan_lines([line + b"\r" for line in lines])["findings"]
    assert crlf == plain
    junk = scan_lines([line.replace(b"sdb", b"sdb") + b"\xff\xfe" if b"Sense" in line else line for line in lines])
    assert [f["category"] for f in junk["findings"]] == [f["category"] for f in plain]


def test_findings_are_capped_but_counted():
    lines = lines_of("corpus-049") * 50
    result = scan_lines(lines, max_findings=5)
    assert len(result["findings"]) == 5
    assert result["summary"]["findings"] > 5
    assert result["summary"]["findings_dropped"] == result["summary"]["findings"] - 5


def test_benign_look_alikes_are_not_findings():
    # synthetic: benign boot lines named in SIGNATURES.md's "Not problems" list, written out here
    benign = [
        "[    0.043437] mce: CPU supports 9 MCE banks",
        "[    0.512000] EDAC MC: Ver: 3.0.0",
        "[    3.100000] EXT4-fs (sda1): recovery complete",
        "[    3.200000] pcieport 0000:00:1c.0: AER: enabled with IRQ 122",
        "[    0.600000] mce: CPU0: Thermal monitoring enabled (TM1)",
    ]
    assert scan_lines(benign)["findings"] == []


def test_scanner_accepts_str_and_bytes_alike():
    lines = lines_of("corpus-012")
    assert scan_lines(lines)["findings"] == scan_lines([line.decode("utf-8", "replace") for line in lines])["findings"]


def test_record_span_is_bounded():
    scanner = KernelLogScanner()
    lines = lines_of("corpus-016")
    for number, line in enumerate(lines, 1):
        scanner.feed(number, line)
    # a line far beyond the record's span must not be absorbed into it
    scanner.feed(len(lines) + 500, b"[ 9999.0] CPU: 7 PID: 1 Comm: late Not tainted 6.1.0 #1")
    finding = scanner.finish()["findings"][0]
    assert finding["process"] == "swapper/0"
