"""pteguard.remediation.debug against real Debian 12 systemd hosts (lab nspawn containers) with ansible-playbook.

The containers share this machine's kernel: no crash kernel is reserved there, so kdump is "not ready" with the
reasons. A saved dump's dmesg is real kernel text (tests/fixtures/logs, source in its .json) placed where
kdump-tools puts it. Symbolization is delegated to this machine (localhost) holding a module built by the test
(tests/unit/plugins/module_utils/test_symbolize.py builds it with gcc), or runs on the container against the lab
module's unstripped .ko the image keeps, for the real oops that module printed in a lab guest
(tests/fixtures/tools/140.txt); its result lands in the host's report (debug_report_dir).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.lab

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "plugins", "module_utils"))
PANIC = os.path.join(REPO, "tests", "fixtures", "logs", "kernel_panic-fatal_exception_in_interrupt-5.2.log")
GUEST_KMOD = "/opt/pteguard-lab/kmod"  # the lab image keeps the test module's unstripped .ko and source here
_SPEC = importlib.util.spec_from_file_location(
    "pteguard_unit_report_sections", os.path.join(REPO, "tests", "unit", "plugins", "module_utils",
                                                  "test_report_sections.py"))
SECTIONS = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(SECTIONS)


def result_of(play, name_part):
    """The host's result of the last task whose name contains name_part."""
    found = [res for name, res in play.task_results().items() if name_part in name]
    assert found, (name_part, list(play.task_results()))
    return found[-1]


def debug_result(play):
    return result_of(play, "Keep the results as the fact debug_result")["ansible_facts"]["debug_result"]


def step_result(play):
    return result_of(play, "Say what the step found, for the runner")["ansible_facts"]["pteguard_step_result"]


def _put_dump(host):
    with open(PANIC, encoding="utf-8") as handle:
        text = handle.read()
    host.sh("mkdir -p /var/crash/202611300612 && : > /var/crash/202611300612/dump.202611300612")
    subprocess.run(host.ct.ssh_argv("cat > /var/crash/202611300612/dmesg.202611300612"), input=text, text=True,
                   capture_output=True, timeout=60, check=True)


def test_report_only_changes_nothing_and_reports_kdump_and_saved_dumps(lab_host, run_play):
    _put_dump(lab_host)
    before = lab_host.sh("dpkg-query -W -f '${Package}\\n' | sha256sum").stdout
    check = run_play(lab_host, check=True)
    assert check.proc.returncode == 0, check.explain()
    assert check.stats.get("changed", -1) == 0, check.explain()
    first = run_play(lab_host)
    assert first.proc.returncode == 0, first.explain()
    assert first.stats.get("changed", -1) == 0, first.changed_tasks()
    result = debug_result(first)
    kdump = result["kdump"]
    assert kdump["ready"] is False
    assert any("no memory reserved for a crash kernel" in p for p in kdump["problems"]), kdump
    assert any("kdump not ready: " in m for m in first.messages())
    (dump,) = kdump["dumps"]
    assert dump["vmcore"] == ["dump.202611300612"]
    assert "kernel_panic" in dump["summary"]["by_category"]
    assert result["symbols"] == {"requested": False}
    assert step_result(first) == {"outcome": "nothing_to_symbolize",
                                  "evidence": ["no oops record with a symbol+offset/size frame to symbolize"]}
    assert lab_host.sh("dpkg-query -W -f '${Package}\\n' | sha256sum").stdout == before


def test_symbols_are_not_installed_without_room(lab_host, run_play):
    play = run_play(lab_host, extra_vars={"debug_symbols_install": True, "debug_symbols_min_free_mb": 10 ** 9})
    assert play.proc.returncode != 0
    failed = result_of(play, "Refuse to install without room for them")
    assert failed.get("failed") and "nothing was installed" in failed["msg"]
    assert lab_host.sh("dpkg -l 'linux-image-*-dbg' 2>/dev/null | grep -c '^ii' || true").stdout.strip() == "0"


def test_symbols_opt_in_installs_once_then_changes_nothing(lab_host, run_play):
    # a package the image already has: apt must not be asked to download anything (no network here)
    extra = {"debug_symbols_install": True, "debug_symbols_min_free_mb": 1, "debug_symbols_packages": ["binutils"]}
    check = run_play(lab_host, check=True, extra_vars=extra, label='check mode (symbols)')
    assert check.proc.returncode == 0, check.explain()
    first = run_play(lab_host, extra_vars=extra)
    assert first.proc.returncode == 0, first.explain()
    symbols = debug_result(first)["symbols"]
    assert symbols["requested"] is True and symbols["packages"] == ["binutils"] and symbols["free_mb"] >= 1
    assert symbols["missing_before"] == [] and symbols["changed"] is False
    assert first.stats.get("changed", -1) == 0, first.changed_tasks()


def test_symbolize_on_a_delegate_holding_the_module(lab_host, run_play, tmp_path):
    from test_symbolize import build_module, oops

    build_module(str(tmp_path))
    record = oops(directory=str(tmp_path))
    extra = {"debug_oopses": [record], "debug_symbolize_on": "localhost", "debug_symbol_dirs": [str(tmp_path)]}
    play = run_play(lab_host, extra_vars=extra)
    assert play.proc.returncode == 0, play.explain()
    symbolized = debug_result(play)["symbolized"]
    rip = symbolized["records"][0]["frames"][0]
    assert rip["status"] == "resolved" and rip["line"] == 9 and rip["elf"].startswith(str(tmp_path))
    assert symbolized["release"] == lab_host.sh("uname -r").stdout.strip()
    assert play.stats.get("changed", -1) == 0
    outcome = step_result(play)
    assert outcome["outcome"] == "symbolized" and outcome["evidence"][0].endswith("ptcorrupt.c:9")


def _faulting_line(source):
    with open(source, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if "READ_ONCE(*(int *)guard)" in line:
                return number
    raise AssertionError("the test module's faulting read is gone from " + source)


def test_symbolized_section_lands_in_the_hosts_report(lab_host, run_play, tmp_path):
    """The lab module's real oops (140.txt) symbolized on the container, whose image keeps the module's unstripped
    .ko; the section goes into the host's report written beforehand from the same oops, and the driver cause then
    names the source line."""
    (oops,) = SECTIONS.report_of(SECTIONS.LAB_OOPS)["kernel_log"]["findings"]
    reports = tmp_path / "reports"
    reports.mkdir()
    extra = {"debug_oopses": [oops], "debug_symbol_dirs": [GUEST_KMOD], "debug_report_dir": str(reports)}
    missing = run_play(lab_host, extra_vars=extra, label="no report yet")
    assert missing.proc.returncode != 0, missing.explain()
    assert any("symbolized oopses" in name for name in missing.task_results()), missing.explain()
    refused = result_of(missing, "Keep the symbolized oopses in the host's report")
    assert refused["msg"].startswith("no report of labct at %s: run the diagnosis first" % (reports / "labct.json"))
    assert os.listdir(reports) == []

    path = reports / "labct.json"
    path.write_text(SECTIONS.report_text(SECTIONS.report_of(SECTIONS.LAB_OOPS, host="labct")))
    before = path.read_bytes()
    check = run_play(lab_host, check=True, extra_vars=extra, label="check mode (report)")
    assert check.proc.returncode == 0, check.explain()
    assert result_of(check, "Keep the symbolized oopses in the host's report")["changed"] is True
    assert path.read_bytes() == before

    first = run_play(lab_host, extra_vars=extra)
    assert first.proc.returncode == 0, first.explain()
    assert [name.split(" : ")[-1] for name in first.changed_tasks()] == [
        "Debug | Report | Keep the symbolized oopses in the host's report on the controller"]
    line = _faulting_line(os.path.join(str(lab_host.image.rootfs), GUEST_KMOD.lstrip("/"), "pteguard_testmod.c"))
    where = "%s/pteguard_testmod.c:%d" % (GUEST_KMOD, line)
    assert step_result(first)["outcome"] == "symbolized" and step_result(first)["evidence"][0] == where
    report = json.loads(path.read_text())
    assert report["symbolized"]["ran_on"] == "host"
    rip = report["symbolized"]["records"][0]["frames"][0]
    # the container runs this machine's kernel, where the module is not loaded: no build-id to check against
    assert rip["status"] == "resolved" and rip["build_id_verified"] is False
    driver = report["diagnosis"]["causes"][0]
    assert driver["cause"] == "driver_dma_corruption"
    assert where in [e.get("location") for e in driver["evidence"]]

    again = run_play(lab_host, extra_vars=extra)
    assert again.proc.returncode == 0, again.explain()
    assert again.stats.get("changed", -1) == 0, again.changed_tasks()
