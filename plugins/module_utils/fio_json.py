# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fio's ``--output-format=json`` and its error lines, and dd's status lines, as plain data.

fio prints its JSON on stdout, but error lines ("fio: io_u error on file ...", "fio: pid=..., err=5/...") can land
before it in the same stream (fio issues #731, #1685), and ``--output-format=normal,json`` adds text after it: the
JSON document is found where it starts, not assumed to be the whole text. Units moved between versions: up to fio
2.x ``io_bytes`` is KiB; from 3.0 it is bytes and ``io_kbytes`` holds KiB. ``bw`` is KiB/s in every version.
The JSON carries only the job's error number; the first failing offset is in the io_u error line (io_u.c).

Pure Python, no Ansible import; 3.6-compatible syntax (runs on the target's python3).
"""

from __future__ import annotations

import errno
import json
import re

DIRECTIONS = ("read", "write", "trim")

_IO_U_ERROR = re.compile(r"^fio: io_u error on file (?P<file>.*): (?P<message>[^:]*): (?P<op>\w+) "
                         r"offset=(?P<offset>\d+), buflen=(?P<buflen>\d+)\s*$")
_JOB_ERROR = re.compile(r"^fio: pid=(?P<pid>\d+), err=(?P<errno>\d+)/(?P<where>\S*), func=(?P<func>.*?), "
                        r"error=(?P<message>.*?)\s*$")
_DD_RECORDS = re.compile(r"^(?P<full>\d+)\+(?P<partial>\d+) records (?P<what>in|out)\s*$")
_DD_BYTES = re.compile(r"^(?P<bytes>\d+) bytes? (?:\([^)]*\) )?copied, (?P<seconds>[\d.]+) s, (?P<rate>.*?)\s*$")
# called by its absolute path, dd names itself with that path ("/usr/bin/dd: failed to open ...")
_DD_PREFIX = re.compile(r"^(?:\S*/)?dd: ")
# errno values a failing device gives an application (EIO for media errors; NVMe/SCSI paths may give the others)
IO_ERRNOS = (errno.EIO, errno.ENODATA, errno.EILSEQ, errno.EREMOTEIO, errno.ENOLINK, errno.ETIMEDOUT)
_MESSAGES = {"Input/output error": errno.EIO, "No space left on device": errno.ENOSPC,
             "Read-only file system": errno.EROFS, "Permission denied": errno.EACCES,
             "No such file or directory": errno.ENOENT, "No such device or address": errno.ENXIO,
             "Invalid argument": errno.EINVAL, "Operation not permitted": errno.EPERM,
             "No data available": errno.ENODATA, "Remote I/O error": errno.EREMOTEIO}


class FioParseError(ValueError):
    """The text holds no fio JSON document (or a broken one)."""


def errno_name(number):
    """EIO for 5; None for 0 or None; the number as text when unknown."""
    if not number:
        return None
    return errno.errorcode.get(number, str(number))


def _text(data):
    if isinstance(data, bytes):
        return data.decode("utf-8", "replace")
    return data or ""


def extract_json(text):
    """(document, text before it, text after it) for the first JSON object that starts a line."""
    text = _text(text)
    decoder = json.JSONDecoder()
    for match in re.finditer(r"(?m)^\s*\{", text):
        start = text.index("{", match.start())
        try:
            document, end = decoder.raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(document, dict) and ("jobs" in document or "fio version" in document):
            return document, text[:start], text[end:]
    raise FioParseError("no fio JSON document in the output (%d characters)" % len(text))


def _direction(data):
    """One direction of a job: bytes, IOPS, bandwidth (bytes/s) and runtime (ms)."""
    data = data or {}
    raw = int(data.get("io_bytes") or 0)
    # fio < 3.0 reports io_bytes in KiB and has no io_kbytes
    io_bytes = raw if "io_kbytes" in data else raw * 1024
    bw_bytes = data.get("bw_bytes")
    if bw_bytes is None:
        bw_bytes = int(data.get("bw") or 0) * 1024
    return {"bytes": io_bytes, "iops": float(data.get("iops") or 0), "bw_bytes": int(bw_bytes),
            "runtime_ms": int(data.get("runtime") or 0), "total_ios": data.get("total_ios")}


def error_lines(text):
    """fio's own error lines: io_u errors (file, op, offset, buflen) and per-job err= lines, in order."""
    found = []
    for line in _text(text).splitlines():
        line = line.strip()
        match = _IO_U_ERROR.match(line)
        if match:
            message = match.group("message")
            found.append({"kind": "io_u", "file": match.group("file"), "op": match.group("op"),
                          "offset": int(match.group("offset")), "buflen": int(match.group("buflen")),
                          "message": message, "errno": _MESSAGES.get(message)})
            continue
        match = _JOB_ERROR.match(line)
        if match:
            found.append({"kind": "job", "pid": int(match.group("pid")), "errno": int(match.group("errno")),
                          "where": match.group("where"), "func": match.group("func"),
                          "message": match.group("message")})
    return found


def parse_fio(stdout, stderr=""):
    """fio's JSON output as {version, jobs: [...], errors: [...], disk_util: [...]}.

    Each job: name, error (errno number, 0 when none), error_name (EIO...), read/write/trim (bytes, iops, bw_bytes,
    runtime_ms), runtime_ms (the longest direction), bytes (all directions), first_error_offset (from the io_u error
    line for this job's file when fio printed one), total_err/first_error when continue_on_error reported them.
    Raises FioParseError when there is no JSON document.
    """
    document, before, after = extract_json(stdout)
    errors = error_lines(_text(stderr) + "\n" + before + "\n" + after)
    io_u = [e for e in errors if e["kind"] == "io_u"]
    jobs = []
    for raw in document.get("jobs") or document.get("client_stats") or []:
        if not isinstance(raw, dict):
            continue
        job = {"name": raw.get("jobname"), "error": int(raw.get("error") or 0)}
        job["error_name"] = errno_name(job["error"])
        for direction in DIRECTIONS:
            job[direction] = _direction(raw.get(direction))
        if "mixed" in raw:
            job["mixed"] = _direction(raw.get("mixed"))
        job["bytes"] = sum(job[d]["bytes"] for d in DIRECTIONS) + job.get("mixed", {}).get("bytes", 0)
        job["runtime_ms"] = max([job[d]["runtime_ms"] for d in DIRECTIONS] + [int(raw.get("job_runtime") or 0)])
        if "total_err" in raw:
            job["total_err"] = int(raw["total_err"])
            job["first_error"] = int(raw.get("first_error") or 0)
        filename = (raw.get("job options") or {}).get("filename")
        mine = [e for e in io_u if filename is None or e["file"] == filename]
        job["first_error_offset"] = mine[0]["offset"] if (job["error"] and mine) else None
        job["first_error_op"] = mine[0]["op"] if (job["error"] and mine) else None
        jobs.append(job)
    return {"version": document.get("fio version"), "jobs": jobs, "errors": errors,
            "disk_util": [d for d in document.get("disk_util") or [] if isinstance(d, dict)]}


def totals(parsed):
    """Bytes, IOPS and bandwidth summed over the jobs; the first job error (errno) or 0."""
    jobs = parsed.get("jobs") or []
    first = next((j for j in jobs if j["error"]), None)
    return {"bytes": sum(j["bytes"] for j in jobs),
            "iops": round(sum(j[d]["iops"] for j in jobs for d in DIRECTIONS), 3),
            "bw_bytes": sum(j[d]["bw_bytes"] for j in jobs for d in DIRECTIONS),
            "runtime_ms": max([j["runtime_ms"] for j in jobs] + [0]),
            "error": first["error"] if first else 0,
            "first_error_offset": first["first_error_offset"] if first else None}


def parse_dd(stderr):
    """dd's status lines: records in/out as [full, partial], bytes, seconds, rate and its error lines."""
    result = {"records_in": None, "records_out": None, "bytes": None, "seconds": None, "rate": None, "errors": []}
    for line in _text(stderr).splitlines():
        line = line.strip()
        match = _DD_RECORDS.match(line)
        if match:
            result["records_" + match.group("what")] = [int(match.group("full")), int(match.group("partial"))]
            continue
        match = _DD_BYTES.match(line)
        if match:
            result.update(bytes=int(match.group("bytes")), seconds=float(match.group("seconds")),
                          rate=match.group("rate"))
            continue
        if _DD_PREFIX.match(line):
            message = line.rsplit(": ", 1)[-1]
            path = re.search(r"'([^']*)'", line)
            op = re.search(r"\b(reading|writing|open)", line)
            result["errors"].append({"line": line, "message": message, "errno": _MESSAGES.get(message),
                                     "path": path.group(1) if path else None,
                                     "op": op.group(1) if op else None})
    return result


def dd_error_offset(parsed, block_size, skip_blocks=0):
    """Byte offset where dd stopped with an error: the blocks it copied whole, from where it started."""
    if not parsed["errors"] or parsed["records_in"] is None:
        return None
    return (skip_blocks + parsed["records_in"][0]) * block_size
