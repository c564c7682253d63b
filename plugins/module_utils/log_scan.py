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

import codecs
import errno
import gzip
import os
import re
import stat
import zlib
from bisect import bisect_right
from itertools import accumulate

try:
    import bz2
except ImportError:  # a Python built without it: such files are refused by name
    bz2 = None
try:
    import lzma
except ImportError:
    lzma = None

from .findings import select_across_sources
from .kernel_log import ANCHORS_BYTES, KernelLogScanner
from .signatures import ANCHORS, MAX_RECORD_LINES, highest_severity

MAX_LINE_BYTES = 65536


# grep keeps a whole line in memory, doubling its buffer as it grows: a log with a 200 MB "line" (binary junk, a
# dump without newlines) costs it 400 MB. Under this cap it fails with "memory exhausted" instead, and the Python
# engine (which cuts lines at MAX_LINE_BYTES) reads that file. One policy for the CLI and the module.
GREP_MEMORY_LIMIT_BYTES = 128 << 20
GREP_MEMORY_NOTE = "a line too long for grep's memory cap: read by the Python engine"


class LogSourceError(Exception):
    """A log source could not be read; the message names it and says why. status: missing or unreadable."""

    def __init__(self, message, status="unreadable"):
        super(LogSourceError, self).__init__(message)
        self.status = status


class DamagedData(Exception):
    """A decoder found the data damaged (a truncated archive, trailing garbage): what came before still counts."""


def memory_capped(argv):
    """argv run under GREP_MEMORY_LIMIT_BYTES of address space. The shell text is constant: argv travels as "$@"."""
    return ["/bin/sh", "-c", 'ulimit -v %d 2>/dev/null; exec "$@"' % (GREP_MEMORY_LIMIT_BYTES // 1024), "grep"] + argv


def grep_failure(rc, err):
    """What a grep exit status means: None (ran through), "memory" (fall back to Python), "io" (a read error: the
    output so far counts), "other"."""
    if rc in (0, 1):
        return None
    if "memory exhausted" in err:
        return "memory"
    if "Input/output error" in err:
        return "io"
    return "other"


def first_read_error(fd, chunk_size=1 << 20, limit=None):
    """Byte offset of the first read error in a regular file (None when it reads whole), found with pread.

    A buffered read that reaches a bad block returns what it copied before it; the next read fails: so the offset is
    exact to the page. The part before is in the page cache already (the scan just read it), so this is cheap.
    """
    offset = 0
    while limit is None or offset < limit:
        try:
            data = os.pread(fd, chunk_size, offset)
        except OSError as exc:
            if exc.errno == errno.EIO:
                return offset
            raise
        if not data:
            return None
        offset += len(data)
    return None


def bounded_lines(stream, limit=MAX_LINE_BYTES, chunk_size=1 << 20):
    """Yield the lines of a binary stream without their newline, each cut to `limit` bytes.

    Reads in chunks and splits in C: much faster than readline() per line,
    and memory stays at one chunk plus one capped line however long a line is.
    """
    pending = b""
    skipping = False  # inside a line already cut at `limit`
    while True:
        try:
            chunk = stream.read(chunk_size)
        except Exception:
            if pending and not skipping:
                yield pending  # the line the error cut: what was read of it still counts
            raise
        if not chunk:
            break
        if b"\0" in chunk:
            # an unclean shutdown leaves runs of NULs in syslog files, glued to the next line: dropped here, they
            # would push that line's text past every length cap (memchr first: no cost on clean logs)
            chunk = chunk.replace(b"\0", b"")
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
    try:
        for line in bounded_lines(stream):
            batch.append(line)
            size += len(line) + 1
            if size >= chunk_size:
                feed_block(scanner, batch, b"\n".join(batch), lineno)
                lineno += len(batch)
                batch = []
                size = 0
    finally:
        # on a read error too: the lines read before it are evidence
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


# Formats are told by their first bytes, never by the file name. Longer magics first (UTF-32 LE before UTF-16 LE).
_MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
    # recognised only to be refused by name instead of being scanned as binary noise
    (b"\x04\x22\x4d\x18", "lz4"),
    (b"LZIP", "lzip"),
    (b"\x1f\x9d", "compress (.Z)"),
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
)
MAGIC_BYTES = 6
_BOM_LENGTH = {"utf-32-le": 4, "utf-32-be": 4, "utf-16-le": 2, "utf-16-be": 2}
REFUSED_FORMATS = ("lz4", "lzip", "compress (.Z)", "zip", "7z")


def sniff_format(head):
    """The format of a log from its first MAGIC_BYTES bytes: plain, gzip, xz, bzip2, zstd, utf-16/32-le/be, or one
    of REFUSED_FORMATS."""
    for magic, name in _MAGICS:
        if head.startswith(magic):
            if name == "bzip2" and not head[3:4].isdigit():
                continue
            return name
    return "plain"


class _Transcoder(object):
    """A UTF-16/32 byte stream read as UTF-8, which is what grep and the scanner match."""

    def __init__(self, raw, encoding):
        self.raw = raw
        self.decoder = codecs.getincrementaldecoder(encoding)("replace")
        self.skip = _BOM_LENGTH[encoding]
        self.done = False

    def read(self, size=-1):
        while not self.done:
            data = self.raw.read(size)
            if self.skip:
                cut = min(self.skip, len(data))
                data, self.skip = data[cut:], self.skip - cut
            text = self.decoder.decode(data, final=not data)
            if not data:
                self.done = True
            if text:
                return text.encode("utf-8")
        return b""


class _OneRead(object):
    """read() as read1(): a buffered read(n) that meets damaged data drops everything it decoded in that call."""

    def __init__(self, stream):
        self.stream = stream

    def read(self, size=-1):
        return self.stream.read1(size if size is not None and size > 0 else 1 << 20)

    def close(self):
        self.stream.close()


def decoded_stream(handle, fmt, name):
    """A binary stream of the log's text for a format the standard library reads; LogSourceError for the others."""
    if fmt == "plain":
        return handle
    if fmt == "gzip":
        return _OneRead(gzip.GzipFile(fileobj=handle, mode="rb"))
    if fmt == "xz" and lzma is not None:
        return _OneRead(lzma.LZMAFile(handle))
    if fmt == "bzip2" and bz2 is not None:
        return _OneRead(bz2.BZ2File(handle))
    if fmt in _BOM_LENGTH:
        return _Transcoder(handle, fmt)
    raise LogSourceError("%s: %s-compressed data cannot be decoded here; decompress it first" % (name, fmt))


class CountingReader(object):
    """Counts the bytes read, so a read error can say where it happened."""

    def __init__(self, stream):
        self.stream = stream
        self.offset = 0

    def read(self, size=-1):
        data = self.stream.read(size)
        self.offset += len(data)
        return data


# What damaged data raises: gzip (EOFError, BadGzipFile is an OSError, zlib.error), bz2 (EOFError, OSError), xz
# (LZMAError), zstd through scan_io (DamagedData).
DATA_ERRORS = (OSError, EOFError, ValueError, zlib.error, DamagedData) + ((lzma.LZMAError,) if lzma else ())


def damage_reason(exc, fmt, offset):
    """One line saying why reading stopped and where (offset: bytes of log text read before)."""
    if isinstance(exc, OSError) and exc.errno is not None:
        what = "read error (%s)" % (exc.strerror or exc)
    elif isinstance(exc, EOFError):
        what = "%s data ends early (truncated)" % fmt
    elif isinstance(exc, gzip.BadGzipFile if hasattr(gzip, "BadGzipFile") else ()):
        what = "data after the end of the gzip stream that is not gzip (%s)" % exc
    else:
        what = "damaged %s data (%s)" % (fmt, exc)
    where = "byte %d" % offset if fmt == "plain" else "byte %d of the decompressed log" % offset
    return "%s at %s; the rest was not read" % (what, where)


def feed_checked(scanner, stream, fmt):
    """feed_stream that keeps what was read before an error: None when read whole, else {"reason", "offset"}."""
    counter = CountingReader(stream)
    try:
        feed_stream(scanner, counter)
    except DATA_ERRORS as exc:
        return {"reason": damage_reason(exc, fmt, counter.offset), "offset": counter.offset}
    return None


def open_error(path, exc):
    """LogSourceError for an OSError from stat/open, in words that say which problem it is."""
    if exc.errno == errno.ENOENT:
        return LogSourceError("%s: no such file" % path, status="missing")
    if exc.errno == errno.EISDIR:
        return LogSourceError("%s: is a directory" % path)
    return LogSourceError("%s: cannot read: %s" % (path, exc.strerror or exc))


def refuse_kind(path, mode):
    """LogSourceError for what is not a log to read to its end (None for files, pipes, ttys)."""
    if stat.S_ISDIR(mode):
        return LogSourceError("%s: is a directory" % path)
    if stat.S_ISBLK(mode):
        return LogSourceError("%s: is a block device, not a log file" % path)
    if stat.S_ISSOCK(mode):
        return LogSourceError("%s: is a socket, not a log file" % path)
    return None


def open_log(path):
    """Open a log file for binary reading, with a one-line reason when that is impossible."""
    try:
        refused = refuse_kind(path, os.stat(path).st_mode)
    except OSError as exc:
        raise open_error(path, exc)
    if refused is not None:
        raise refused
    try:
        return open(path, "rb")
    except OSError as exc:
        raise open_error(path, exc)


def log_format(path):
    """The format of a log file by its magic bytes (raises LogSourceError when it cannot be opened)."""
    with open_log(path) as handle:
        try:
            return sniff_format(handle.read(MAGIC_BYTES))
        except OSError as exc:
            raise open_error(path, exc)


def scan_file(path, max_findings=None, arch=None):
    """Scan one log file (plain, gzip, xz, bzip2, UTF-16/32) with the pure-Python engine.

    A read error or damaged compressed data keeps the findings before it: the result then carries
    "damage": {"reason", "offset"}.
    """
    scanner = new_scanner(max_findings, arch)
    with open_log(path) as handle:
        try:
            fmt = sniff_format(handle.read(MAGIC_BYTES))
            handle.seek(0)
        except OSError as exc:
            raise open_error(path, exc)
        damage = feed_checked(scanner, decoded_stream(handle, fmt, path), fmt)
    result = scanner.finish(engine="python")
    if damage is not None:
        result["damage"] = damage
    return result


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
    summary["highest_severity"] = highest_severity(summary["by_severity"])
    summary["findings_returned"] = len(findings)
    summary["findings_dropped"] = summary["findings"] - len(findings)
    return findings, summary
