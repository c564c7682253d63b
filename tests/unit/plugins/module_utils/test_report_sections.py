"""The step results as report sections, and the diagnosis made again with them (report_sections, diagnosis).

Real data: the host reports are built from real kernel logs (tests/fixtures/logs, sources in their .json), the
reproduction's findings are what the parser makes of real medium-error lines, and the symbolized sections are real
oops_symbolize results of a real oops of the lab's test module (tests/fixtures/tools/140-143, sources in the
.meta.json). What is synthetic is said in each test: the reproduction's envelope (status, tool, seconds), which the
stress role produces, and the pairing of a log from one machine with a reproduction whose lines came from another
machine's disk of the same name.
"""

from __future__ import annotations

import copy
import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file
from ansible_collections.pteguard.remediation.plugins.module_utils.report import host_report, rediagnose, report_text
from ansible_collections.pteguard.remediation.plugins.module_utils.report_sections import (
    SectionError, section_data, with_section)

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "..", "fixtures"))
LOGS = os.path.join(FIXTURES, "logs")
TOOLS = os.path.join(FIXTURES, "tools")
LAB_OOPS = os.path.join(TOOLS, "140.txt")
LAB_MODULE_SOURCE = "/opt/pteguard-lab/kmod/pteguard_testmod.c"


def log_path(name):
    return os.path.join(LOGS, name + ".log")


def report_of(path, host="web1", release="6.1.0-50-amd64"):
    """The host report pteguard writes, from a real kernel log read as the host's only source."""
    scanned = scan_file(path)
    kernel_log = {"findings": scanned["findings"], "summary": scanned["summary"], "cursor": None,
                  "sources": [{"name": "kern.log", "path": path, "status": "read",
                               "findings": len(scanned["findings"])}],
                  "kernel": {"release": release, "machine": "x86_64"}}
    return host_report(host, kernel_log)


def symbolized(number, ran_on, delegate=None):
    """A real oops_symbolize result (tests/fixtures/tools/NNN.json) as the debug role passes it."""
    with open(os.path.join(TOOLS, "%d.json" % number), encoding="utf-8") as handle:
        result = json.load(handle)
    result["ran_on"] = ran_on
    if delegate:
        result["delegate"] = delegate
    return result


def reproduction(status, log=None, device="/dev/sdb", stopped_early=None):
    """Synthetic envelope (the stress role's shape) around the findings of a real kernel log."""
    findings = scan_file(log_path(log))["findings"] if log else []
    return {"status": status, "tool": "fio", "mode": "randread", "target": device, "device": device,
            "seconds": 12.5, "bytes": 52428800, "stopped_early": bool(findings) if stopped_early is None
            else stopped_early, "findings": findings, "io_errors": [], "message": None}


def cause(report, name):
    found = [c for c in report["diagnosis"]["causes"] if c["cause"] == name]
    assert found, [c["cause"] for c in report["diagnosis"]["causes"]]
    return found[0]


# --- reproduction: a reproduced media error raises disk_media --------------------------------------------------

def test_reproduced_media_error_raises_disk_media_with_that_evidence():
    """real: sdb medium errors at sectors 5120 and 5256 in one kern.log (S2 + S6); the reproduction's lines are
    the real sdb medium error of corpus-045 (another machine's sdb: the pairing is synthetic)."""
    before = report_of(log_path("block_io_error-blk_update_request-suppressed-kernlog"))
    media = cause(before, "disk_media")
    assert media["subject"] == {"device": "sdb"} and media["rules"] == ["S2", "S6"]
    after = with_section(before, "reproduction", reproduction("reproduced", "corpus-045"))
    raised = cause(after, "disk_media")
    assert raised["rules"] == ["S2", "S6", "R1"]
    assert raised["confidence"] > media["confidence"] and raised["confidence"] == 0.94
    from_run = [e for e in raised["evidence"] if e["source"] == "reproduction"]
    assert {e.get("error_class") for e in from_run if e["category"] != "reproduction"} == {"media"}
    (run,) = [e for e in from_run if e["category"] == "reproduction"]
    assert run["message"].startswith("fio randread of /dev/sdb: reproduced after 12.5 s, stopped at the first")
    assert after["diagnosis"]["inputs"]["reproduction"] == "reproduced"
    assert after["reproduction"]["status"] == "reproduced" and after["kernel_log"] == before["kernel_log"]


def test_reproduction_alone_makes_disk_media_the_probable_cause():
    """real: a clean boot log (none-wsl_boot_recovery_complete) diagnosed none; the reproduction then reads real
    medium errors (corpus-045): disk_media with S2 and R1, sdb named."""
    before = report_of(log_path("none-wsl_boot_recovery_complete"))
    assert before["diagnosis"]["primary_cause"] == "none"
    after = with_section(before, "reproduction", reproduction("reproduced", "corpus-045"))
    top = after["diagnosis"]["causes"][0]
    assert (top["cause"], top["subject"], top["rules"]) == ("disk_media", {"device": "sdb"}, ["S2", "R1"])
    assert top["confidence"] == 0.88 and top["confidence_word"] == "high"
    assert after["diagnosis"]["inputs"]["kernel_findings"] == before["diagnosis"]["inputs"]["kernel_findings"]


def test_a_reproduction_that_found_nothing_halves_a_cause_resting_on_plain_io_errors():
    """real: plain I/O errors on sdc (print_req_error, no sense data: S5 only); a not-reproduced run over /dev/sdc
    is evidence against it, weighed (N1)."""
    before = report_of(log_path("block_io_error-print_req_error-syslog-4.x"))
    weak = cause(before, "disk_media")
    assert weak["rules"] == ["S5"] and weak["subject"] == {"device": "sdc"}
    after = with_section(before, "reproduction", reproduction("not_reproduced", device="/dev/sdc"))
    halved = cause(after, "disk_media")
    assert halved["confidence"] == round(weak["confidence"] * 0.5, 3)
    (against,) = halved["evidence_against"]
    assert against["rule"] == "N1" and against["weighed"] is True
    assert against["message"] == "fio randread of /dev/sdc: not reproduced after 12.5 s"


def test_a_reproduction_that_found_nothing_does_not_clear_media_errors():
    """real: sdb medium errors (S2, S6); the run found nothing: recorded against, not weighed, since a bounded
    read of part of the disk cannot clear media errors the drive reported."""
    before = report_of(log_path("block_io_error-blk_update_request-suppressed-kernlog"))
    after = with_section(before, "reproduction", reproduction("not_reproduced"))
    media = cause(after, "disk_media")
    assert media["confidence"] == cause(before, "disk_media")["confidence"]
    assert [(e["rule"], e["weighed"]) for e in media["evidence_against"]] == [("N1", False)]


@pytest.mark.parametrize("status, device, stopped", [("not_reproduced", "/dev/sda", False),
                                                     ("refused", "/dev/sdc", False),
                                                     ("error", "/dev/sdc", False),
                                                     ("not_reproduced", "/dev/sdc", True)])
def test_no_evidence_against_where_it_would_not_be_honest(status, device, stopped):
    """another disk, a refused or failed run, or a run stopped early say nothing about sdc's plain I/O errors."""
    before = report_of(log_path("block_io_error-print_req_error-syslog-4.x"))
    after = with_section(before, "reproduction", reproduction(status, device=device, stopped_early=stopped))
    assert cause(after, "disk_media") == cause(before, "disk_media")
    assert after["diagnosis"]["inputs"]["reproduction"] == status


# --- symbolized: an out-of-tree module's frame names the file and line ---------------------------------------

def test_symbolized_frame_in_the_out_of_tree_module_names_file_and_line_in_the_driver_cause():
    """real: the lab module's oops (140.txt: Modules linked in: pteguard_testmod(OE)) symbolized on a delegate
    holding the module's debug info (142.json): the driver cause names pteguard_testmod.c:163, its weight unchanged."""
    before = report_of(LAB_OOPS)
    driver = cause(before, "driver_dma_corruption")
    assert driver["subject"] == {"module": "pteguard_testmod"}
    after = with_section(before, "symbolized", symbolized(142, "delegate", "symbols-bastion"))
    located = cause(after, "driver_dma_corruption")
    assert located["confidence"] == driver["confidence"] and located["rules"] == driver["rules"]
    frames = [e for e in located["evidence"] if e["category"] == "symbolized_frame"]
    assert [f["location"] for f in frames] == [LAB_MODULE_SOURCE + ":163", LAB_MODULE_SOURCE + ":192"]
    rip = frames[0]
    assert rip["from"] == "rip" and rip["module"] == "pteguard_testmod" and rip["build_id_verified"] is True
    assert rip["out_of_tree"] == "the kernel lists it as pteguard_testmod(OE)"
    assert rip["message"].startswith("RIP pteguard_oops_read_unmapped.cold+0x16/0x21 [pteguard_testmod] is at "
                                     + LAB_MODULE_SOURCE + ":163 in pteguard_oops_read_unmapped()")
    assert rip["line"] == 3  # the oops' first line in the log
    assert after["symbolized"]["ran_on"] == "delegate" and after["symbolized"]["delegate"] == "symbols-bastion"
    assert after["diagnosis"]["inputs"]["symbolized_frames"] == 2


def test_symbols_missing_name_nothing_but_the_section_says_which_package():
    """real: the same oops symbolized on the guest that holds only the stripped module (141.json)."""
    before = report_of(LAB_OOPS)
    after = with_section(before, "symbolized", symbolized(141, "host"))
    assert after["diagnosis"] == dict(before["diagnosis"], inputs=after["diagnosis"]["inputs"])
    assert after["diagnosis"]["inputs"]["symbolized_frames"] == 0
    messages = {m["object"]: m["message"] for m in after["symbolized"]["missing"]}
    assert "linux-image-6.1.0-50-amd64-dbg" in messages["vmlinux"]
    assert "stripped" in messages["pteguard_testmod"]


def test_a_frame_of_an_in_tree_module_is_not_named_as_the_driver_culprit():
    """real oops text (140.txt), with the module list rewritten so pteguard_testmod carries no (OE) mark and the
    kernel no taint (synthetic): the kernel lists it as in-tree, so its frames do not become driver evidence."""
    before = report_of(LAB_OOPS)
    finding = before["kernel_log"]["findings"][0]
    for key in ("tainting_modules", "taint_flags"):
        finding.pop(key)
    before["diagnosis"] = rediagnose(before)
    driver = cause(before, "driver_dma_corruption")
    after = with_section(before, "symbolized", symbolized(142, "delegate"))
    assert cause(after, "driver_dma_corruption") == driver
    assert not [e for c in after["diagnosis"]["causes"] for e in c["evidence"] if e["category"] == "symbolized_frame"]


def test_only_the_taint_flags_without_a_module_list_still_name_the_frame_and_say_so():
    """real oops text (140.txt) with its 'Modules linked in' facts dropped (synthetic): the taint letters OE
    remain, the frame is named with that weaker basis."""
    before = report_of(LAB_OOPS)
    for key in ("tainting_modules", "modules_linked", "modules_linked_count"):
        before["kernel_log"]["findings"][0].pop(key)
    after = with_section(before, "symbolized", symbolized(143, "host"))
    frames = [e for e in cause(after, "driver_dma_corruption")["evidence"] if e["category"] == "symbolized_frame"]
    assert frames and frames[0]["out_of_tree"] == (
        "the kernel is tainted out_of_tree_module/unsigned_module and printed no module list")


def test_a_resolved_rip_in_core_kernel_code_is_named_in_the_kernel_bug_cause():
    """real: a GPF in mem_cgroup_iter (core code, kernel_bug K2); the symbolized section is synthetic (a vmlinux
    frame resolved the way oops_symbolize reports it: the innermost inlined function's line first, the symbol's own
    function last; the file names and lines are made up)."""
    before = report_of(log_path("kernel_oops-gpf_kswapd_memcg-5.1"), release="5.1.0")
    data = {"release": "5.1.0", "ran_on": "delegate", "delegate": "symbols-bastion", "missing": [],
            "records": [{"index": 0, "oops_line": 1, "location": "kernel/cgroup/cgroup.c:4217", "frames": [
                {"symbol": "mem_cgroup_iter", "offset": "11e", "size": "2a0", "module": None, "from": "rip",
                 "status": "resolved", "file": "kernel/cgroup/cgroup.c", "line": 4217, "function": "mem_cgroup_iter",
                 "elf": "/usr/lib/debug/boot/vmlinux-5.1.0", "build_id_verified": True,
                 "inline_chain": [{"function": "css_next_descendant_pre", "file": "kernel/cgroup/cgroup.c",
                                   "line": 4217},
                                  {"function": "mem_cgroup_iter", "file": "mm/memcontrol.c", "line": 1076}]}]}]}
    after = with_section(before, "symbolized", data)
    bug = cause(after, "kernel_bug")
    assert bug["confidence"] == cause(before, "kernel_bug")["confidence"]
    (frame,) = [e for e in bug["evidence"] if e["category"] == "symbolized_frame"]
    assert frame["message"] == ("RIP mem_cgroup_iter+0x11e/0x2a0 is at kernel/cgroup/cgroup.c:4217, inlined: "
                                "css_next_descendant_pre() kernel/cgroup/cgroup.c:4217 <- mem_cgroup_iter() "
                                "mm/memcontrol.c:1076")
    assert "out_of_tree" not in frame and "module" not in frame


# --- the section itself: replaced, idempotent, refused when wrong ----------------------------------------------

def test_same_section_twice_gives_the_same_text_and_a_new_one_replaces_it():
    base = report_of(LAB_OOPS)
    once = with_section(base, "symbolized", symbolized(142, "delegate"))
    twice = with_section(once, "symbolized", symbolized(142, "delegate"))
    assert report_text(once) == report_text(twice)
    replaced = with_section(twice, "symbolized", symbolized(141, "host"))
    assert replaced["symbolized"]["ran_on"] == "host"
    assert not [e for e in cause(replaced, "driver_dma_corruption")["evidence"]
                if e["category"] == "symbolized_frame"]
    assert base.get("symbolized") is None  # the input report is not changed in place


def test_ansible_result_keys_are_dropped():
    data = dict(symbolized(142, "delegate"), changed=False, invocation={"module_args": {}})
    clean = section_data("symbolized", data)
    assert "changed" not in clean and "invocation" not in clean and clean["records"]


@pytest.mark.parametrize("name, data, message", [
    ("reproduction", {"status": "maybe"}, "reproduction.status must be one of reproduced, not_reproduced"),
    ("reproduction", {"status": "reproduced", "findings": "none"}, "reproduction.findings must be a list"),
    ("reproduction", {"status": "reproduced", "findings": [{"category": "disk", "severity": "error"}]},
     "reproduction.findings item 0 has an unknown category 'disk'"),
    ("reproduction", {"status": "reproduced", "findings": [{"category": "block_io_error", "severity": "error"}]},
     "reproduction.findings item 0 is not a kernel finding (no line, message, signature, arch)"),
    ("reproduction", {"status": "error", "seconds": -1}, "reproduction.seconds must not be negative"),
    ("reproduction", {"status": "error", "stopped_early": "yes"}, "reproduction.stopped_early must be true or false"),
    ("symbolized", {"release": "6.1.0-50-amd64", "records": []}, "symbolized.ran_on must be host or delegate"),
    ("symbolized", {"ran_on": "host", "records": []}, "symbolized.release must be the kernel release"),
    ("symbolized", {"ran_on": "host", "release": "6.1", "records": [{"frames": [{"symbol": "x"}]}]},
     "symbolized.records item 0 is not an oops_symbolize record"),
    ("symbolized", {"ran_on": "host", "release": "6.1", "records": [], "failed": True, "msg": "boom"},
     "data of the symbolized section is a failed task's result"),
    ("stress", {}, "section must be one of reproduction, symbolized"),
    ("symbolized", ["records"], "data of the symbolized section must be a dict, got a list"),
])
def test_bad_sections_are_refused_with_one_line(name, data, message):
    with pytest.raises(SectionError) as caught:
        with_section(report_of(LAB_OOPS), name, data)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_a_document_that_is_not_a_host_report_is_refused():
    with pytest.raises(SectionError, match="not a pteguard host report"):
        with_section({"schema": "pteguard.fleet/1"}, "symbolized", symbolized(142, "host"))
    broken = copy.deepcopy(report_of(LAB_OOPS))
    del broken["kernel_log"]
    with pytest.raises(SectionError, match="no kernel_log findings"):
        with_section(broken, "symbolized", symbolized(142, "host"))
