"""Junk in, no crash out: random bytes, truncated and enormous lines, binary files."""

from __future__ import annotations

import gzip
import io
import os
import random

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import (
    MAX_LINE_BYTES,
    LogSourceError,
    bounded_lines,
    feed_grep_output,
    new_scanner,
    scan_file,
    scan_lines,
)
from ansible_collections.pteguard.remediation.plugins.module_utils.signatures import ANCHORS, CATEGORIES, SEVERITIES

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings, strategies as st  # noqa: E402

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")


def _valid(result):
    for finding in result["findings"]:
        assert finding["category"] in CATEGORIES
        assert finding["severity"] in SEVERITIES
        assert isinstance(finding["line"], int) and finding["line"] >= 1
    assert result["summary"]["findings"] >= len(result["findings"])


# anchors glued to random bytes reach the record code paths, not just the prefilter
_pieces = st.one_of(st.binary(max_size=200), st.sampled_from([a.encode() for a in ANCHORS]),
                    st.sampled_from([b"CPU: 1 PID: 2 Comm: x Tainted: G B", b"RIP: 0010:f+0x1/0x2 [m]", b"Call Trace:",
                                     b"#PF: error_code(0x000d) - reserved bit violation", b"PGD 0 P4D 0 BAD",
                                     b"---[ end trace 1 ]---", b" ? foo+0x1/0x2", b"Modules linked in: a(OE) b"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(_pieces, max_size=6).map(b" ".join), max_size=60))
def test_random_lines_never_crash(lines):
    _valid(scan_lines(lines))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=5000))
def test_random_grep_output_never_crashes(blob):
    scanner = new_scanner()
    feed_grep_output(scanner, blob.splitlines())
    _valid(scanner.finish())


def test_enormous_line_is_cut_and_the_rest_skipped():
    line = b"Buffer I/O error on dev sda, logical block 1, async page read " + b"x" * (MAX_LINE_BYTES * 4) + b"\n"
    stream = io.BytesIO(line + b"second line\n")
    lines = list(bounded_lines(stream))
    assert len(lines) == 2
    assert len(lines[0]) == MAX_LINE_BYTES and lines[1] == b"second line"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       st.integers(min_value=1, max_value=17), st.booleans())
def test_chunked_line_splitting_matches_a_plain_split(lines, chunk_size, trailing_newline):
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    # NULs are dropped (unclean-shutdown padding): as if they were never in the data
    data_seen = data.replace(b"\0", b"")
    expected = [line[:8] for line in data_seen.split(b"\n")]
    if data_seen.endswith(b"\n") or not data_seen:
        expected.pop()
    assert list(bounded_lines(io.BytesIO(data), limit=8, chunk_size=chunk_size)) == expected


def test_binary_file_is_scanned_without_error(tmp_path):
    rng = random.Random(7)
    path = tmp_path / "junk.bin"
    path.write_bytes(bytes(rng.randrange(256) for _index in range(300000)))
    _valid(scan_file(str(path)))


def test_empty_file(tmp_path):
    path = tmp_path / "empty.log"
    path.write_bytes(b"")
    result = scan_file(str(path))
    assert result["findings"] == [] and result["summary"]["highest_severity"] is None


def test_missing_file_and_directory_get_one_line_reasons(tmp_path):
    with pytest.raises(LogSourceError, match="no such file"):
        scan_file(str(tmp_path / "absent.log"))
    with pytest.raises(LogSourceError, match="is a directory"):
        scan_file(str(tmp_path))


def test_truncated_gzip_keeps_what_came_before(tmp_path):
    with open(os.path.join(LOGS, "corpus-045.log"), "rb") as handle:
        packed = gzip.compress(handle.read() * 20)
    path = tmp_path / "kern.log.1.gz"
    path.write_bytes(packed[: len(packed) // 2])
    result = scan_file(str(path))
    assert "truncated" in result["damage"]["reason"]
    assert result["damage"]["offset"] > 0
    assert "findings" in result


def test_truncated_record_at_end_of_file_still_reported():
    with open(os.path.join(LOGS, "corpus-016.log"), "rb") as handle:
        head = handle.read().splitlines()[:3]
    findings = scan_lines(head)["findings"]
    assert findings and findings[0]["category"] == "kernel_oops"
