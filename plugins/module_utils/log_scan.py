# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run the kernel-log scanner over lines, text, files and grep output.

Two engines give the same findings:
- grep: GNU grep -F finds anchor lines and prints MAX_RECORD_LINES of
  context after each (grep_argv), so Python only reads a small fraction of
  a big log; feed_grep_output() takes that output. Whoever runs grep owns
  the process: the module through run_command, the CLI with a streaming pipe.
- python: every line goes through a substring test (scan_lines, scan_file).
Memory stays bounded: lines are cut at MAX_LINE_BYTES and the scanner keeps
at most max_findings findings plus counters.
"""

from __future__ import annotations

import gzip
import os
import re

from .kernel_log import KernelLogScanner
from .signatures import ANCHORS, MAX_RECORD_LINES, SEVERITY_RANK

MAX_LINE_BYTES = 65536


class LogSourceError(Exception):
    """A log source could not be read; the message names it and says why."""


def bounded_lines(stream, limit=MAX_LINE_BYTES):
    """Yield lines of a binary stream, each cut to `limit` bytes, the rest of a long line skipped."""
    readline = stream.readline
    while True:
        line = readline(limit)
        if not line:
            return
        if len(line) == limit and not line.endswith(b"\n"):
            while True:
                rest = readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
        yield line


def new_scanner(max_findings=None, arch=None):
    if max_findings is None:
        return KernelLogScanner(arch=arch)
    return KernelLogScanner(max_findings=max_findings, arch=arch)


def scan_lines(lines, max_findings=None, arch=None):
    """Scan an iterable of lines (str or bytes) with the pure-Python engine."""
    scanner = new_scanner(max_findings, arch)
    for lineno, line in enumerate(lines, 1):
        scanner.feed(lineno, line)
    return scanner.finish(engine="python")


def scan_text(text, max_findings=None, arch=None):
    """Scan a whole log held in memory (str or bytes)."""
    return scan_lines(text.splitlines(), max_findings, arch)


def anchor_pattern():
    """All anchors as one extended regex of escaped literals.

    One alternation is what GNU grep handles fastest (measured: -F with 60+
    patterns, or 60+ -e options, run at half its speed); escaping keeps it
    equal to the literal substring test the Python engine does.
    """
    return "|".join(re.sub(r"([][.*+?(){}|^$\\])", r"\\\1", anchor) for anchor in ANCHORS)


def grep_argv(grep, path="-", max_count=None):
    """The prefilter command line: anchors, line numbers, record-sized trailing context."""
    argv = [grep, "-a", "-n", "-E", "-A", str(MAX_RECORD_LINES)]
    if max_count:
        argv.extend(["-m", str(max_count)])
    argv.extend(["-e", anchor_pattern(), "--", path])
    return argv


def feed_grep_output(scanner, lines):
    """Feed `grep -n -A` output lines (bytes) to a scanner: "N:text" matched, "N-text" context, "--" a gap."""
    for out in lines:
        if out[:2] == b"--" and out.rstrip(b"\r\n") == b"--":
            continue
        pos = 0
        length = len(out)
        while pos < length and 48 <= out[pos] <= 57:
            pos += 1
        if pos == 0 or pos >= length:
            continue
        if len(out) > MAX_LINE_BYTES:
            out = out[:MAX_LINE_BYTES]
        scanner.feed(int(out[:pos]), out[pos + 1:], out[pos:pos + 1] == b":")


def open_log(path):
    """Open a log file for binary reading, with a one-line reason when that is impossible."""
    if not os.path.exists(path):
        raise LogSourceError("%s: no such file" % path)
    if os.path.isdir(path):
        raise LogSourceError("%s: is a directory" % path)
    try:
        return open(path, "rb")
    except OSError as exc:
        raise LogSourceError("%s: cannot read: %s" % (path, exc.strerror or exc))


def is_gzip(path):
    with open_log(path) as handle:
        return handle.read(2) == b"\x1f\x8b"


def scan_file(path, max_findings=None, arch=None):
    """Scan one log file (plain or gzip) with the pure-Python engine."""
    scanner = new_scanner(max_findings, arch)
    handle = open_log(path)
    try:
        with handle:
            magic = handle.read(2)
            handle.seek(0)
            stream = gzip.GzipFile(fileobj=handle) if magic == b"\x1f\x8b" else handle
            for lineno, line in enumerate(bounded_lines(stream), 1):
                scanner.feed(lineno, line)
    except (OSError, EOFError, ValueError) as exc:
        raise LogSourceError("%s: cannot read: %s" % (path, exc))
    return scanner.finish(engine="python")


def merge_results(results, max_findings):
    """Merge per-source results into one bounded list of findings and one summary."""
    findings = []
    summary = {"findings": 0, "findings_returned": 0, "findings_dropped": 0, "by_category": {}, "by_severity": {},
               "highest_severity": None, "suppressed": {}, "suppressed_by_category": {}}
    for result in results:
        part = result["summary"]
        summary["findings"] += part["findings"]
        for key in ("by_category", "by_severity", "suppressed", "suppressed_by_category"):
            for name, count in part[key].items():
                summary[key][name] = summary[key].get(name, 0) + count
        for finding in result["findings"]:
            if len(findings) < max_findings:
                findings.append(finding)
    for severity in summary["by_severity"]:
        best = summary["highest_severity"]
        if best is None or SEVERITY_RANK[severity] > SEVERITY_RANK[best]:
            summary["highest_severity"] = severity
    summary["findings_returned"] = len(findings)
    summary["findings_dropped"] = summary["findings"] - len(findings)
    return findings, summary
