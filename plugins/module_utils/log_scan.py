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
from bisect import bisect_right
from itertools import accumulate

from .findings import select_across_sources
from .kernel_log import ANCHORS_BYTES, KernelLogScanner
from .signatures import ANCHORS, MAX_RECORD_LINES, SEVERITY_RANK

MAX_LINE_BYTES = 65536


class LogSourceError(Exception):
    """A log source could not be read; the message names it and says why."""


def bounded_lines(stream, limit=MAX_LINE_BYTES, chunk_size=1 << 20):
    """Yield the lines of a binary stream without their newline, each cut to `limit` bytes.

    Reads in chunks and splits in C: much faster than readline() per line,
    and memory stays at one chunk plus one capped line however long a line is.
    """
    pending = b""
    skipping = False  # inside a line already cut at `limit`
    while True:
        chunk = stream.read(chunk_size)
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        for line in lines:
            if skipping:
                skipping = False
                continue
            yield line[:limit] if len(line) > limit else line
        if skipping:
            pending = b""
        elif len(pending) > limit:
            yield pending[:limit]
            pending = b""
            skipping = True
    if pending and not skipping:
        yield pending


def new_scanner(max_findings=None, arch=None):
    if max_findings is None:
        return KernelLogScanner(arch=arch)
    return KernelLogScanner(max_findings=max_findings, arch=arch)


def scan_lines(lines, max_findings=None, arch=None):
    """Scan an iterable of lines (str or bytes) with the pure-Python engine."""
    scanner = new_scanner(max_findings, arch)
    lines = list(lines)
    if lines and isinstance(lines[0], bytes):
        lines = [line if isinstance(line, bytes) else line.encode("utf-8", "surrogateescape") for line in lines]
        feed_block(scanner, lines, b"\n".join(lines), 1)
    else:
        lines = [line if isinstance(line, str) else line.decode("utf-8", "replace") for line in lines]
        feed_block(scanner, lines, "\n".join(lines), 1)
    scanner.lines = len(lines)
    return scanner.finish(engine="python")


_ANCHORS_BY_TYPE = {bytes: ANCHORS_BYTES, str: ANCHORS}


def feed_block(scanner, lines, block, first_lineno):
    """Feed the lines of `block` (== NL.join(lines)) that can matter to the scanner.

    The anchors are searched in the whole block with str/bytes.find (C speed)
    instead of line by line. Anchor lines are fed, and the lines after them
    while a record is open; everything else is skipped without a look, as
    the scanner would ignore it anyway.
    """
    hits = set()
    for anchor in _ANCHORS_BY_TYPE[type(block)]:
        find = block.find
        pos = find(anchor)
        while pos != -1:
            hits.add(pos)
            pos = find(anchor, pos + 1)
    if not hits and scanner.record is None:
        return
    starts = []
    if hits:
        ends = list(accumulate(len(line) + 1 for line in lines))
        starts = sorted(set(bisect_right(ends, pos) for pos in hits))
    count = len(lines)
    next_start = 0
    index = 0
    while index < count:
        if scanner.record is None:
            if next_start >= len(starts):
                break
            index = starts[next_start]
        is_anchor = next_start < len(starts) and starts[next_start] == index
        if is_anchor:
            next_start += 1
        scanner.feed(first_lineno + index, lines[index], is_anchor)
        index += 1


def feed_stream(scanner, stream, chunk_size=1 << 22):
    """Feed a binary stream block by block (whole lines per block) through feed_block; returns the line count."""
    lineno = 1
    batch = []
    size = 0
    for line in bounded_lines(stream):
        batch.append(line)
        size += len(line) + 1
        if size >= chunk_size:
            feed_block(scanner, batch, b"\n".join(batch), lineno)
            lineno += len(batch)
            batch = []
            size = 0
    if batch:
        feed_block(scanner, batch, b"\n".join(batch), lineno)
        lineno += len(batch)
    scanner.lines = lineno - 1
    return lineno - 1


def anchor_pattern():
    """All anchors as one extended regex of escaped literals.

    One alternation is what GNU grep handles fastest (measured: -F with 60+
    patterns, or 60+ -e options, ran at about half its speed); escaping keeps
    it equal to the literal substring test of the Python engine.
    """
    return "|".join(re.sub(r"([][.*+?(){}|^$\\])", r"\\\1", anchor) for anchor in ANCHORS)


def grep_argv(grep, path="-", max_count=None):
    """The prefilter command line: anchors, line numbers, record-sized trailing context."""
    argv = [grep, "-a", "-n", "-E", "-A", str(MAX_RECORD_LINES)]
    if max_count:
        argv.extend(["-m", str(max_count)])
    argv.extend(["-e", anchor_pattern(), "--", path])
    return argv


_GREP_PREFIX = re.compile(b"([0-9]+)([:-])")


def feed_grep_output(scanner, lines):
    """Feed `grep -n -A` output lines (bytes) to a scanner: "N:text" matched, "N-text" context, "--" a gap."""
    match_prefix = _GREP_PREFIX.match
    for out in lines:
        prefix = match_prefix(out)
        if prefix is None:
            continue  # "--" between groups, or damaged output
        is_match = prefix.group(2) == b":"
        if not is_match and scanner.record is None:
            continue  # context after an anchor that opened nothing: no need to look
        scanner.feed(int(prefix.group(1)), out[prefix.end():], is_match)


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
            feed_stream(scanner, stream)
    except (OSError, EOFError, ValueError) as exc:
        raise LogSourceError("%s: cannot read: %s" % (path, exc))
    return scanner.finish(engine="python")


def merge_results(results, max_findings):
    """Merge per-source results into one bounded list of findings and one summary.

    Every source gets its turn at the bound (select_across_sources), so a crash dump's findings are never pushed
    out by a noisy journal; the summary says what was cut, by category and severity.
    """
    summary = {"findings": 0, "findings_returned": 0, "findings_dropped": 0, "by_category": {}, "by_severity": {},
               "highest_severity": None, "suppressed": {}, "suppressed_by_category": {}, "dropped_by_category": {},
               "dropped_by_severity": {}}
    for result in results:
        part = result["summary"]
        summary["findings"] += part["findings"]
        for key in ("by_category", "by_severity", "suppressed", "suppressed_by_category", "dropped_by_category",
                    "dropped_by_severity"):
            for name, count in part.get(key, {}).items():
                summary[key][name] = summary[key].get(name, 0) + count
    findings, tally = select_across_sources([result["findings"] for result in results], max_findings)
    for key, counts in (("dropped_by_category", tally.dropped_by_category),
                        ("dropped_by_severity", tally.dropped_by_severity)):
        for name, count in counts.items():
            summary[key][name] = summary[key].get(name, 0) + count
    for severity in summary["by_severity"]:
        best = summary["highest_severity"]
        if best is None or SEVERITY_RANK[severity] > SEVERITY_RANK[best]:
            summary["highest_severity"] = severity
    summary["findings_returned"] = len(findings)
    summary["findings_dropped"] = summary["findings"] - len(findings)
    return findings, summary
