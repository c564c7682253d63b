"""The step-result sections through real ansible-playbook (pteguard.remediation.report_section on the controller)
and through the real CLI (`pteguard report --format html|markdown`), every written report checked against
schemas/report.schema.json.

The host reports and sections are built from real data (tests/unit/plugins/module_utils/test_report_sections.py
says which): the lab module's real oops and its real oops_symbolize results, real medium-error lines under a
synthetic reproduction envelope.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.report import report_text
from ansible_collections.pteguard.remediation.plugins.module_utils.report_sections import with_section

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the unit tests' builders of real-data reports and sections (same file name there, so loaded by path)
_SPEC = importlib.util.spec_from_file_location(
    "pteguard_unit_report_sections", os.path.join(ROOT, "tests", "unit", "plugins", "module_utils",
                                                  "test_report_sections.py"))
_UNIT = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_UNIT)
LAB_MODULE_SOURCE, LAB_OOPS, log_path, report_of = _UNIT.LAB_MODULE_SOURCE, _UNIT.LAB_OOPS, _UNIT.log_path, _UNIT.report_of
reproduction, symbolized = _UNIT.reproduction, _UNIT.symbolized

BIN = os.path.dirname(sys.executable)
CALLBACKS = os.path.join(ROOT, "tests", "roles", "callback_plugins")
TIMEOUT = 300

# The task the stress role (step 5) uses to keep its result in the host's report (also in the final report).
PLAY = """
- name: Report sections
  hosts: all
  gather_facts: false
  tasks:
    - name: Stress | Report | Keep the reproduction in the host's report on the controller
      pteguard.remediation.report_section:
        report_dir: "{{ report_dir }}"
        section: "{{ section }}"
        data: "{{ data }}"
      register: pteguard_section
"""


def validate(document):
    with open(os.path.join(ROOT, "schemas", "report.schema.json"), encoding="utf-8") as handle:
        jsonschema.Draft202012Validator(json.load(handle)).validate(document)


@pytest.fixture
def playbook(tmp_path):
    farm = tmp_path / "collections" / "ansible_collections" / "pteguard"
    farm.mkdir(parents=True)
    (farm / "remediation").symlink_to(ROOT)
    (tmp_path / "inventory.json").write_text(json.dumps({"all": {"hosts": {"web1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    (tmp_path / "play.yml").write_text(PLAY)
    home = tmp_path / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
    env.update(ANSIBLE_HOME=str(home), ANSIBLE_LOCAL_TEMP=str(home / "tmp"),
               ANSIBLE_COLLECTIONS_PATH=str(tmp_path / "collections"), ANSIBLE_STDOUT_CALLBACK="hwm_json",
               ANSIBLE_CALLBACK_PLUGINS=CALLBACKS, ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               LC_ALL="C.UTF-8")

    def run(report_dir, section, data, check=False):
        extra = tmp_path / "vars.json"
        extra.write_text(json.dumps({"report_dir": str(report_dir), "section": section, "data": data}))
        argv = [os.path.join(BIN, "ansible-playbook"), "-i", str(tmp_path / "inventory.json"),
                str(tmp_path / "play.yml"), "-e", "@%s" % extra] + (["--check"] if check else [])
        proc = subprocess.run(argv, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=TIMEOUT,
                              stdin=subprocess.DEVNULL, check=False)
        try:
            out = json.loads(proc.stdout)
        except ValueError:
            raise AssertionError("rc=%s %s %s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:]))
        (task,) = [t for play in out["plays"] for t in play["tasks"]]
        return proc.returncode, task["hosts"]["web1"]

    return run


def write(directory, report):
    directory.mkdir(exist_ok=True)
    path = directory / "web1.json"
    path.write_text(report_text(report))
    return path


def test_the_section_is_added_once_check_mode_writes_nothing_and_the_diagnosis_uses_it(playbook, tmp_path):
    reports = tmp_path / "reports"
    path = write(reports, report_of(LAB_OOPS))
    original = path.read_bytes()
    data = symbolized(142, "delegate", "symbols-bastion")

    rc, check = playbook(reports, "symbolized", data, check=True)
    assert rc == 0 and check["changed"] is True, check
    assert path.read_bytes() == original and sorted(os.listdir(reports)) == ["web1.json"]

    rc, first = playbook(reports, "symbolized", data)
    assert rc == 0 and first["changed"] is True and first["path"] == str(path), first
    assert first["primary_cause"] == "driver_dma_corruption"
    assert sorted(os.listdir(reports)) == ["web1.json"]  # the temporary file was renamed, none left behind
    written = json.loads(path.read_text())
    validate(written)
    assert written["symbolized"]["ran_on"] == "delegate" and "changed" not in written["symbolized"]
    driver = written["diagnosis"]["causes"][0]
    assert LAB_MODULE_SOURCE + ":163" in [e.get("location") for e in driver["evidence"]]

    stat = os.stat(path)
    rc, second = playbook(reports, "symbolized", data)
    assert rc == 0 and second["changed"] is False, second
    assert os.stat(path).st_ino == stat.st_ino and os.stat(path).st_mtime_ns == stat.st_mtime_ns


def test_reproduction_section_through_the_stress_task(playbook, tmp_path):
    reports = tmp_path / "reports"
    path = write(reports, report_of(log_path("none-wsl_boot_recovery_complete")))
    rc, result = playbook(reports, "reproduction", reproduction("reproduced", "corpus-045"))
    assert rc == 0 and result["changed"] is True and result["primary_cause"] == "disk_media", result
    written = json.loads(path.read_text())
    validate(written)
    assert written["reproduction"]["findings"][0]["error_class"] == "media"
    assert written["diagnosis"]["causes"][0]["rules"] == ["S2", "R1"]


def test_no_report_yet_is_a_clear_error_and_nothing_is_written(playbook, tmp_path):
    reports = tmp_path / "empty"
    reports.mkdir()
    rc, result = playbook(reports, "symbolized", symbolized(142, "host"))
    assert rc != 0 and result["failed"] is True
    assert result["msg"].startswith("no report of web1 at %s: run the diagnosis first" % (reports / "web1.json"))
    assert os.listdir(reports) == []


@pytest.mark.parametrize("content, message", [
    ('{"schema": "pteguard.report/1", "host": "we', "is not complete JSON (half-written or damaged)"),
    ('{"schema": "pteguard.report/1", "host": "db2"}', "is the report of db2, not of web1"),
])
def test_a_broken_or_foreign_report_is_left_as_it_is(playbook, tmp_path, content, message):
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "web1.json").write_text(content)
    rc, result = playbook(reports, "symbolized", symbolized(142, "host"))
    assert rc != 0 and message in result["msg"] and "\n" not in result["msg"]
    assert (reports / "web1.json").read_text() == content


def test_a_bad_section_fails_with_one_line(playbook, tmp_path):
    reports = tmp_path / "reports"
    path = write(reports, report_of(LAB_OOPS))
    before = path.read_bytes()
    rc, result = playbook(reports, "reproduction", {"status": "maybe"})
    assert rc != 0
    assert result["msg"].startswith("reproduction section of web1 not added to %s: reproduction.status must be" % path)
    assert path.read_bytes() == before


# --- rendering --------------------------------------------------------------------------------------------

def _render(report_dir, fmt):
    proc = subprocess.run([os.path.join(BIN, "pteguard"), "report", str(report_dir), "--format", fmt],
                          capture_output=True, text=True, timeout=TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_html_and_markdown_show_both_sections(tmp_path):
    report = with_section(report_of(LAB_OOPS), "symbolized", symbolized(142, "delegate", "symbols-bastion"))
    report = with_section(report, "reproduction", reproduction("reproduced", "corpus-045"))
    validate(report)
    reports = tmp_path / "run"
    write(reports, report)

    html = _render(reports, "html")
    assert "Reproduction (step 5): reproduced" in html
    assert "fio randread of /dev/sdb (device /dev/sdb), 12.5 s, 52428800 bytes, stopped at the first new" in html
    assert "critical medium error, dev sdb, sector 0" in html.replace("  ", " ")
    assert "Symbolized oopses (step 6, kernel 6.1.0-50-amd64, on delegate symbols-bastion)" in html
    assert "<code>%s:163</code> pteguard_oops_read_unmapped()" % LAB_MODULE_SOURCE in html
    assert "Missing symbols: no vmlinux with debug info for 6.1.0-50-amd64; install linux-image-6.1.0-50-amd64-dbg" \
        in html
    assert "is at %s:163 in pteguard_oops_read_unmapped()" % LAB_MODULE_SOURCE in html  # in the cause's evidence

    markdown = _render(reports, "markdown")
    assert "Reproduction (step 5): **reproduced**, fio randread of /dev/sdb, 12.5 s, stopped at the first" in markdown
    assert "Symbolized oopses (step 6, on delegate symbols-bastion):" in markdown
    assert "- oops 0: `pteguard_oops_read_unmapped.cold` [pteguard\\_testmod] at `%s:163`; `pteguard_ctl_write`" \
        % LAB_MODULE_SOURCE in markdown
    assert "- missing symbols: no vmlinux with debug info" in markdown


def test_a_not_reproduced_run_is_shown_against_the_cause(tmp_path):
    report_dir = tmp_path / "run"
    report = with_section(report_of(log_path("block_io_error-print_req_error-syslog-4.x")), "reproduction",
                          reproduction("not_reproduced", device="/dev/sdc"))
    write(report_dir, report)
    html = _render(report_dir, "html")
    assert "Against (1):" in html and "N1: fio randread of /dev/sdc: not reproduced after 12.5 s" in html
    assert "Reproduction (step 5): not_reproduced" in html
