"""fio JSON and dd status parser on real outputs (tests/fixtures/tools 120-125, sources in the .meta.json sidecars).

Several fio versions: 2.1.4 and 2.17 (io_bytes in KiB, from PerfKitBenchmarker's tests), 3.33 (the lab guest's own
fio, io_bytes in bytes), and fio's error lines from fio's issue tracker (3.36 with an io_u error line and offset,
3.12 with err= lines only).
"""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.fio_json import (
    IO_ERRNOS, FioParseError, dd_error_offset, error_lines, errno_name, extract_json, parse_dd, parse_fio, totals)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def _fixture(number, suffix):
    with open(os.path.join(FIXTURES, "%d.%s" % (number, suffix)), encoding="utf-8") as handle:
        return handle.read()


def _meta(number):
    return json.loads(_fixture(number, "meta.json"))


@pytest.mark.parametrize("number", [120, 121, 122])
def test_fio_versions_give_bytes_in_bytes(number):
    expect = _meta(number)["expect"]
    parsed = parse_fio(_fixture(number, "json"))
    assert parsed["version"] == expect["version"]
    assert len(parsed["jobs"]) == expect["jobs"]
    assert all(job["error"] == 0 and job["error_name"] is None for job in parsed["jobs"])
    assert parsed["errors"] == []


def test_fio_2_1_4_io_bytes_is_kib():
    parsed = parse_fio(_fixture(120, "json"))
    job = next(j for j in parsed["jobs"] if j["name"] == "sequential_read")
    assert job["read"]["bytes"] == _meta(120)["expect"]["sequential_read_bytes"]
    # the units agree: KiB/s * seconds is the byte count fio reported, within a KiB per second of rounding
    seconds = job["read"]["runtime_ms"] / 1000.0
    assert abs(job["read"]["bw_bytes"] * seconds - job["read"]["bytes"]) < job["read"]["bw_bytes"] * 0.01
    assert job["write"]["bytes"] == 0 and job["runtime_ms"] == 2788
    assert parsed["disk_util"][0]["name"] == "sdb"


def test_fio_2_17_float_iops_and_kib():
    parsed = parse_fio(_fixture(121, "json"))
    read, write = parsed["jobs"]
    assert read["read"]["bytes"] == _meta(121)["expect"]["read_bytes"]
    assert read["read"]["iops"] == pytest.approx(8086.673998)
    assert write["write"]["bytes"] == 393280 * 1024 and write["read"]["bytes"] == 0


def test_fio_3_33_from_the_lab_guest():
    parsed = parse_fio(_fixture(122, "json"))
    (job,) = parsed["jobs"]
    assert job["name"] == "pteguard-stress"
    assert job["read"]["bytes"] == 16777216 == job["bytes"]
    assert job["read"]["bw_bytes"] > 0 and job["read"]["iops"] > 0
    assert job["first_error_offset"] is None
    summed = totals(parsed)
    assert summed["bytes"] == 16777216 and summed["error"] == 0


def test_fio_io_u_error_line_gives_the_first_failing_offset():
    (io_u, job) = error_lines(_fixture(123, "txt"))
    expect = _meta(123)["expect"]
    assert io_u["kind"] == "io_u" and io_u["file"] == expect["file"] and io_u["op"] == expect["op"]
    assert io_u["offset"] == expect["offset"] and io_u["buflen"] == expect["buflen"]
    assert io_u["errno"] == 5 and job["errno"] == 5 and job["func"] == "io_u error"
    assert errno_name(job["errno"]) == "EIO"


def test_fio_error_lines_before_the_json_tie_the_offset_to_the_job():
    # synthetic composition of real parts: fio 3.x prints its error lines into the same stream before the JSON
    # (issue #1685); the document is found
    # after them and the job's EIO gets the offset of the io_u line naming its file
    document = json.loads(_fixture(122, "json"))
    document["jobs"][0]["error"] = 5
    document["jobs"][0]["job options"] = {"filename": "/dev/sdb"}
    mixed = _fixture(123, "txt") + json.dumps(document, indent=2) + "\n\nRun status group 0 (all jobs):\n"
    parsed = parse_fio(mixed)
    (job,) = parsed["jobs"]
    assert job["error_name"] == "EIO" and job["first_error_offset"] == 184912257024
    assert job["first_error_op"] == "read"
    assert totals(parsed)["first_error_offset"] == 184912257024


def test_fio_err_lines_without_offset():
    errors = error_lines(_fixture(125, "txt"))
    assert len(errors) == _meta(125)["expect"]["pids"]
    assert {e["errno"] for e in errors} == {5} and all(e["kind"] == "job" for e in errors)
    assert errors[0]["func"] == "td_io_queue" and errors[0]["where"] == "file:ioengines.c:351"


@pytest.mark.parametrize("text", ["", "fio: failed parsing rw=write\n", "{ broken", "[1, 2]\n"])
def test_no_fio_json_is_a_clear_error(text):
    with pytest.raises(FioParseError, match="no fio JSON document"):
        parse_fio(text)


def test_extract_json_keeps_what_surrounds_it():
    document, before, after = extract_json("line one\n{\"fio version\": \"fio-3.33\", \"jobs\": []}\ntail\n")
    assert document["fio version"] == "fio-3.33" and before == "line one\n" and after == "\ntail\n"


def test_dd_status_lines_from_the_lab_guest():
    parsed = parse_dd(_fixture(124, "txt"))
    expect = _meta(124)["expect"]
    assert parsed["records_in"] == expect["records_in"] and parsed["records_out"] == expect["records_out"]
    assert parsed["bytes"] == expect["bytes"] and parsed["seconds"] > 0 and parsed["errors"] == []
    assert dd_error_offset(parsed, 65536) is None


def test_dd_error_line_gives_errno_and_offset():
    # synthetic: coreutils prints "dd: error reading 'FILE': MESSAGE" (dd.c); with the records it copied whole before it
    text = "dd: error reading '/dev/sda': Input/output error\n" + _fixture(124, "txt").replace("256+0", "16+0")
    parsed = parse_dd(text)
    (error,) = parsed["errors"]
    assert error["errno"] == 5 and error["path"] == "/dev/sda" and error["op"] == "reading"
    assert dd_error_offset(parsed, 65536) == 16 * 65536
    assert dd_error_offset(parsed, 65536, skip_blocks=4) == 20 * 65536


def test_dd_called_by_its_path_and_an_open_failure():
    parsed = parse_dd(_fixture(126, "txt"))
    (error,) = parsed["errors"]
    assert error["errno"] == _meta(126)["expect"]["errno"] and error["op"] == "open"
    assert error["path"] == "/dev/vda" and error["errno"] not in IO_ERRNOS
    assert parsed["records_in"] is None and dd_error_offset(parsed, 65536) is None


def test_fio_3_33_medium_error_from_the_lab_guest_is_enodata_with_its_offset():
    expect = _meta(127)["expect"]
    parsed = parse_fio(_fixture(127, "json"), _fixture(127, "stderr.txt"))
    (job,) = parsed["jobs"]
    assert job["error"] == expect["error"] and job["error_name"] == expect["error_name"]
    assert job["error"] in IO_ERRNOS
    assert job["first_error_offset"] == expect["first_error_offset"] and job["first_error_op"] == "read"
    assert job["read"]["bytes"] == expect["read_bytes"]
    # without fio's stderr the JSON alone knows the error but not where
    assert parse_fio(_fixture(127, "json"))["jobs"][0]["first_error_offset"] is None


def test_dd_medium_error_from_the_lab_guest():
    expect = _meta(128)["expect"]
    parsed = parse_dd(_fixture(128, "txt"))
    (error,) = parsed["errors"]
    assert error["errno"] == expect["errno"] and error["op"] == "reading" and error["path"] == "/dev/sda"
    assert parsed["records_in"] == expect["records_in"]
    assert dd_error_offset(parsed, 65536) == expect["offset"]
