"""The grep prefilter and the pure-Python engine give the same findings, on every real fixture."""

from __future__ import annotations

import glob
import gzip
import os
import shutil

import pytest

from pteguard.scan_io import scan_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "logs", "*.log")))

pytestmark = pytest.mark.skipif(shutil.which("grep") is None, reason="grep is not installed")


@pytest.mark.parametrize("path", FIXTURES, ids=[os.path.basename(p) for p in FIXTURES])
def test_grep_engine_matches_python_engine(path):
    grep = scan_path(path, engine="grep")
    python = scan_path(path, engine="python")
    assert grep["findings"] == python["findings"]
    assert grep["summary"]["engine"] == "grep" and python["summary"]["engine"] == "python"


def test_all_fixtures_concatenated_agree(tmp_path):
    # records at file boundaries and dense anchors: the context windows overlap and must merge the same way
    big = tmp_path / "all.log"
    with open(big, "wb") as out:
        for path in FIXTURES:
            with open(path, "rb") as handle:
                out.write(handle.read())
            out.write(b"\n")
    grep = scan_path(str(big), engine="grep", max_findings=100000)
    python = scan_path(str(big), engine="python", max_findings=100000)
    assert grep["findings"] == python["findings"]
    assert len(python["findings"]) > 200


def test_gzip_rotation_agrees(tmp_path):
    source = next(p for p in FIXTURES if "corpus-045" in p)
    packed = tmp_path / "kern.log.2.gz"
    with open(source, "rb") as handle, gzip.open(packed, "wb") as out:
        out.write(handle.read())
    assert scan_path(str(packed), engine="grep")["findings"] == scan_path(source, engine="python")["findings"]
    assert scan_path(str(packed), engine="python")["findings"] == scan_path(source, engine="python")["findings"]


def test_enormous_line_makes_grep_hand_over_to_python(tmp_path):
    # grep doubles its buffer up to the longest line; past its memory cap the Python engine (64 KiB lines) reads it
    huge = tmp_path / "junk.log"
    with open(huge, "wb") as out:
        block = b"x" * (1 << 20)
        for _index in range(140):
            out.write(block)
        out.write(b" Buffer I/O error on dev sda, logical block 1, async page read\n")
        with open(next(p for p in FIXTURES if "corpus-045" in p), "rb") as handle:
            out.write(handle.read())
    result = scan_path(str(huge), engine="auto")
    assert result["summary"]["engine"].startswith("python")
    assert {f["category"] for f in result["findings"]} == {"block_io_error", "storage_device_error"}
