"""`pteguard analyze` as a user runs it: the real console script, real files, exit codes and output."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOGS = os.path.join(ROOT, "tests", "fixtures", "logs")
PTEGUARD = os.path.join(os.path.dirname(sys.executable), "pteguard")


def run(*args, stdin=None):
    return subprocess.run([PTEGUARD] + list(args), input=stdin, capture_output=True, timeout=120, check=False)


def log(name):
    return os.path.join(LOGS, name + ".log")


def test_json_document_shape_and_exit_code_for_findings():
    proc = run("analyze", "--format", "json", log("corpus-045"))
    assert proc.returncode == 1, proc.stderr
    document = json.loads(proc.stdout)
    assert document["version"] == 1
    source = document["sources"][0]
    assert source["path"] == log("corpus-045")
    assert {f["category"] for f in source["findings"]} == {"block_io_error", "storage_device_error"}
    for finding in source["findings"]:
        assert {"category", "severity", "line", "message", "signature"} <= set(finding)
    assert source["summary"]["by_category"] == {"block_io_error": 2, "storage_device_error": 1}


def test_clean_log_exits_zero():
    proc = run("analyze", log("corpus-070"))
    assert proc.returncode == 0
    assert b"no findings" in proc.stdout


@pytest.mark.parametrize("fail_on, code", [("critical", 0), ("error", 1), ("warning", 1), ("never", 0)])
def test_fail_on_threshold(fail_on, code):
    # corpus-045's worst finding is an error
    assert run("analyze", "--fail-on", fail_on, log("corpus-045")).returncode == code


def test_missing_path_is_one_line_error_and_other_paths_still_reported(tmp_path):
    missing = str(tmp_path / "nope.log")
    proc = run("analyze", "--format", "json", log("corpus-045"), missing)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "pteguard analyze: %s: no such file" % missing
    sources = json.loads(proc.stdout)["sources"]
    assert sources[1] == {"path": missing, "status": "missing", "error": "%s: no such file" % missing}
    assert sources[0]["status"] == "read"
    assert sources[0]["findings"]


def test_directory_and_unreadable_paths(tmp_path):
    proc = run("analyze", str(tmp_path))
    assert proc.returncode == 2 and b"is a directory" in proc.stderr
    assert b"Traceback" not in proc.stderr


def test_stdin(tmp_path):
    with open(log("corpus-012"), "rb") as handle:
        data = handle.read()
    proc = run("analyze", "--format", "json", "-", stdin=data)
    assert proc.returncode == 1
    assert json.loads(proc.stdout)["sources"][0]["findings"][0]["category"] == "bad_page_state"


@pytest.mark.parametrize("engine", ["grep", "python"])
def test_binary_junk_and_empty_files(tmp_path, engine):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4000 + b"\x00" * 100000)
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    proc = run("analyze", "--engine", engine, "--format", "json", str(junk), str(empty))
    assert proc.returncode == 0, proc.stderr
    assert b"Traceback" not in proc.stderr
    sources = json.loads(proc.stdout)["sources"]
    assert [s["findings"] for s in sources] == [[], []]
    assert [s["status"] for s in sources] == ["read", "empty"]


def test_gzip_rotation(tmp_path):
    packed = tmp_path / "kern.log.2.gz"
    with open(log("corpus-045"), "rb") as handle:
        packed.write_bytes(gzip.compress(handle.read()))
    proc = run("analyze", "--format", "json", str(packed))
    assert json.loads(proc.stdout)["sources"][0]["summary"]["findings"] == 3


def test_text_report_names_facts():
    proc = run("analyze", log("kernel_oops-null_deref-dmesgT-5.10-i40e"))
    text = proc.stdout.decode()
    assert "kernel_oops" in text and "module=i40e" in text and "symbol=i40e_setup_tx_descriptors" in text


def test_bad_arguments_exit_2():
    assert run("analyze").returncode == 2
    assert run("analyze", "--format", "xml", log("corpus-045")).returncode == 2
    assert run("analyze", "--max-findings", "-1", log("corpus-045")).returncode == 2


def test_signatures_catalogue_lists_every_category_with_sources():
    catalogue = json.loads(run("signatures", "--format", "json").stdout)
    categories = {entry["category"] for entry in catalogue["signatures"]}
    # every category but unexpected_reboot, which comes from the previous boot's journal end (boot_end.py)
    assert len(categories) == 13 and "system_freeze" in categories and "unexpected_reboot" not in categories
    assert all(entry["source"] and entry["anchors"] for entry in catalogue["signatures"])
