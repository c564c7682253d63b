"""kernel_log_info run in-process on this machine's real files and commands (grep, zgrep, dmesg)."""

from __future__ import annotations

import gzip
import json
import os
import shutil

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.pteguard.remediation.plugins.modules import kernel_log_info

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")


def run_module(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            kernel_log_info.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def kern_logs(tmp_path):
    with open(os.path.join(LOGS, "corpus-045.log"), "rb") as handle:
        (tmp_path / "kern.log").write_bytes(handle.read())
    with open(os.path.join(LOGS, "pte_corruption-pf_reserved_bit-dmesg-5.7.log"), "rb") as handle:
        (tmp_path / "kern.log.1.gz").write_bytes(gzip.compress(handle.read()))
    (tmp_path / "kern.log.2").mkdir()  # a path that matches but cannot be read as a log
    return tmp_path


@pytest.mark.parametrize("engine", ["auto", "python"])
def test_kern_log_files_with_rotation_and_an_unreadable_one(capsys, kern_logs, engine):
    if engine == "auto" and shutil.which("zgrep") is None:
        pytest.skip("zgrep is not installed")
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(kern_logs / "kern.log*")],
                                 "engine": engine})
    assert result["changed"] is False
    categories = {f["category"] for f in result["findings"]}
    assert categories == {"block_io_error", "storage_device_error", "pte_corruption"}
    assert {f["source"] for f in result["findings"]} == {str(kern_logs / "kern.log"), str(kern_logs / "kern.log.1.gz")}
    status = {os.path.basename(s["path"]): s["status"] for s in result["sources"]}
    assert status == {"kern.log": "read", "kern.log.1.gz": "read", "kern.log.2": "unreadable"}
    unreadable = [s for s in result["sources"] if s["status"] == "unreadable"][0]
    assert "is a directory" in unreadable["reason"]
    assert result["summary"]["by_category"]["block_io_error"] == 2


def test_grep_and_python_engines_agree(capsys, kern_logs):
    args = {"sources": ["kern_log"], "kern_log_paths": [str(kern_logs / "kern.log"), str(kern_logs / "kern.log.1.gz")]}
    grep = run_module(capsys, dict(args, engine="auto"))
    python = run_module(capsys, dict(args, engine="python"))
    assert grep["findings"] == python["findings"]


def test_missing_sources_never_fail_the_host(capsys, tmp_path):
    result = run_module(capsys, {"sources": ["kern_log", "crash", "pstore"],
                                 "kern_log_paths": [str(tmp_path / "none*")], "crash_dir": str(tmp_path / "crash"),
                                 "pstore_dirs": [str(tmp_path / "pstore")]})
    assert result.get("failed") is not True
    assert [s["status"] for s in result["sources"]] == ["missing", "missing", "missing"]
    assert result["summary"]["sources_read"] == 0


def test_crash_dump_dmesg_is_read(capsys, tmp_path):
    dump = tmp_path / "202611251010"
    dump.mkdir()
    with open(os.path.join(LOGS, "corpus-016.log"), "rb") as handle:
        (dump / "dmesg.202611251010").write_bytes(handle.read())
    result = run_module(capsys, {"sources": ["crash"], "crash_dir": str(tmp_path)})
    assert result["findings"][0]["category"] == "kernel_oops"
    assert result["findings"][0]["source"].endswith("dmesg.202611251010")


def test_bad_limits_are_a_clear_failure(capsys):
    result = run_module(capsys, {"boots": 0})
    assert result["failed"] is True and "boots" in result["msg"]


def test_max_findings_bounds_the_result(capsys, tmp_path):
    with open(os.path.join(LOGS, "corpus-049.log"), "rb") as handle:
        (tmp_path / "kern.log").write_bytes(handle.read() * 20)
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(tmp_path / "kern.log")],
                                 "max_findings": 3})
    assert len(result["findings"]) == 3
    assert result["summary"]["findings_dropped"] == result["summary"]["findings"] - 3 > 0


def test_running_kernel_is_reported(capsys, tmp_path):
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(tmp_path / "x")]})
    assert result["kernel"]["release"] == os.uname().release


def _pack(argv, data):
    import subprocess

    if shutil.which(argv[0]) is None:
        pytest.skip("%s is not installed" % argv[0])
    return subprocess.run(argv, input=data, capture_output=True, check=True, timeout=60).stdout


def _fixture_then_filler():
    """corpus-045 (3 findings), then ~2 MB of SYNTHETIC benign lines: a cut in the second half spares the findings."""
    with open(os.path.join(LOGS, "corpus-045.log"), "rb") as handle:
        fixture = handle.read()
    return fixture + b"".join(b"Nov  3 10:%02d:%02d host kernel: [%6d.%06d] synthetic benign line\n"
                              % (i // 60 % 60, i % 60, i, i * 7919 % 1000000) for i in range(40000))


@pytest.mark.parametrize("engine", ["auto", "python"])
def test_truncated_gzip_rotation_is_partial_with_its_findings(capsys, tmp_path, engine):
    packed = gzip.compress(_fixture_then_filler())
    (tmp_path / "kern.log.1.gz").write_bytes(packed[: len(packed) * 3 // 4])
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(tmp_path / "kern.log.1.gz")],
                                 "engine": engine})
    (source,) = result["sources"]
    assert source["status"] == "partial" and "truncated" in source["reason"] and source["offset"] > 0, source
    assert source["findings"] == 3 and result["summary"]["sources_read"] == 1
    assert {f["category"] for f in result["findings"]} == {"block_io_error", "storage_device_error"}


@pytest.mark.parametrize("tool, fmt", [(["xz", "-c"], "xz"), (["bzip2", "-c"], "bzip2")])
def test_xz_and_bzip2_rotations_are_read(capsys, tmp_path, tool, fmt):
    with open(os.path.join(LOGS, "corpus-045.log"), "rb") as handle:
        (tmp_path / "kern.log.2").write_bytes(_pack(tool, handle.read()))
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(tmp_path / "kern.log.2")]})
    assert result["sources"][0]["status"] == "read", result["sources"]
    assert result["summary"]["by_category"] == {"block_io_error": 2, "storage_device_error": 1}


def test_zstd_rotation_is_unreadable_by_name(capsys, tmp_path):
    (tmp_path / "kern.log.3").write_bytes(_pack(["zstd", "-q", "-c"], b"x\n"))
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(tmp_path / "kern.log.3")]})
    (source,) = result["sources"]
    assert source["status"] == "unreadable" and "zstd-compressed" in source["reason"]


@pytest.mark.parametrize("engine", ["auto", "python"])
def test_line_after_a_nul_run_is_found(capsys, tmp_path, engine):
    # SYNTHETIC layout of an unclean shutdown: a block of NULs glued to the next line of a real log
    with open(os.path.join(LOGS, "corpus-045.log"), "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    (tmp_path / "kern.log").write_bytes(b"".join(lines[:4]) + b"\0" * 8192 + b"".join(lines[4:]))
    result = run_module(capsys, {"sources": ["kern_log"], "kern_log_paths": [str(tmp_path / "kern.log")],
                                 "engine": engine})
    assert result["summary"]["by_category"] == {"block_io_error": 2, "storage_device_error": 1}


@pytest.mark.parametrize("since", ["s=not-a-cursor", "yesterday at noonish"])
def test_rejected_since_fails_the_host(capsys, since):
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl is not installed")
    result = run_module(capsys, {"sources": ["journal"], "since": since})
    assert result["failed"] is True
    assert "journalctl rejected since=%s" % since in result["msg"], result["msg"]
