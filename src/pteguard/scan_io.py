"""Controller-side scanning of files and streams, with grep as a streaming prefilter.

The parsers and the format policy live in the collection's module_utils (pteguard.parsers.log_scan); this module
only owns processes and file descriptors. Every input is opened once. A plain regular file goes to grep as its
standard input (the fast path: grep reads it itself); anything else (a pipe, a FIFO, `<(cmd)`, decompressed or
transcoded data) is read by Python and pumped into grep by a thread. grep's output is parsed as it comes, so memory
stays bounded whatever the log's size. A read error or damaged compressed data keeps the findings before it; the
result then carries "damage": {"reason", "offset"}.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading

from pteguard.parsers.log_scan import (
    MAGIC_BYTES,
    REFUSED_FORMATS,
    CountingReader,
    DamagedData,
    LogSourceError,
    bounded_lines,
    damage_reason,
    decoded_stream,
    feed_checked,
    feed_grep_output,
    first_read_error,
    grep_argv,
    grep_failure,
    memory_capped,
    new_scanner,
    open_error,
    refuse_kind,
    sniff_format,
)

GREP_TIMEOUT_SECONDS = 3600
CHUNK = 1 << 20
# Data pumped into grep has its lines cut here, so grep never reaches its memory cap on a stream that cannot be read
# a second time by the Python engine (which cuts lines far shorter, at MAX_LINE_BYTES, anyway).
PUMP_LINE_LIMIT = 16 << 20
ZSTD_TIMEOUT_SECONDS = GREP_TIMEOUT_SECONDS


def find_grep():
    return shutil.which("grep")


def _grep_for(engine, name):
    if engine == "python":
        return None
    grep = find_grep()
    if grep is None and engine == "grep":
        raise LogSourceError("%s: the grep engine was asked for but grep is not installed" % name)
    return grep


def scan_path(path, engine="auto", max_findings=None, arch=None):
    """Scan one log file, FIFO or /dev/fd/N. Raises LogSourceError (with .status missing/unreadable)."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise open_error(path, exc)
    _refuse(path, mode)
    try:
        handle = open(path, "rb", buffering=0)
    except OSError as exc:
        raise open_error(path, exc)
    with handle:
        return _scan_handle(handle, path, engine, max_findings, arch)


def scan_stream(stream, engine="auto", max_findings=None, arch=None, name="-"):
    """Scan a binary stream with a real file descriptor (our stdin, a pipe)."""
    if stream is None:
        raise LogSourceError("%s: standard input is closed" % name)
    try:
        stream.fileno()
    except (OSError, ValueError):
        raise LogSourceError("%s: standard input is closed" % name)
    return _scan_handle(stream, name, engine, max_findings, arch)


def _refuse(name, mode):
    refused = refuse_kind(name, mode)
    if refused is not None:
        raise refused
    if stat.S_ISCHR(mode):
        raise LogSourceError("%s: is a character device (it never ends, or is not a log); save the kernel log with "
                             "`dmesg > FILE`, or pipe it: `dmesg | pteguard analyze -`" % name)


def _null_device():
    try:
        return os.stat(os.devnull).st_rdev
    except OSError:
        return None


def _scan_handle(handle, name, engine, max_findings, arch):
    fd = handle.fileno()
    try:
        info = os.fstat(fd)
    except OSError as exc:
        if name == "-":
            raise LogSourceError("-: standard input is closed")
        raise open_error(name, exc)
    if stat.S_ISCHR(info.st_mode) and (os.isatty(fd) or info.st_rdev == _null_device()):
        pass  # a terminal (someone pasting a log) or /dev/null: they end
    else:
        _refuse(name, info.st_mode)
    regular = stat.S_ISREG(info.st_mode)
    try:
        start = os.lseek(fd, 0, os.SEEK_CUR) if regular else 0  # standard input may be a file read in part
    except OSError as exc:
        raise LogSourceError("%s: cannot read: %s" % (name, exc.strerror or exc))
    if regular and info.st_size <= start:
        if _on_procfs(info):
            # /proc/kmsg says it is empty, never ends, and reading it (even its first bytes) blocks and takes the
            # messages from syslog
            raise LogSourceError("%s: a /proc file with no end; save the kernel log with `dmesg > FILE`, or pipe "
                                 "it: `dmesg | pteguard analyze -`" % name)
        return _finish(new_scanner(max_findings, arch), "python", "plain", None, empty=True)
    try:
        head = os.pread(fd, MAGIC_BYTES, start) if regular else _read_head(handle)
    except OSError as exc:
        raise LogSourceError("%s: cannot read: %s" % (name, exc.strerror or exc))
    fmt = sniff_format(head)
    if fmt in REFUSED_FORMATS:
        raise LogSourceError("%s: %s-compressed data is not supported; decompress it and pipe it to "
                             "`pteguard analyze -`" % (name, fmt))
    grep = _grep_for(engine, name)
    if fmt == "plain" and regular:
        if grep is not None:
            return _scan_regular_grep(fd, start, name, grep, max_findings, arch)
        scanner = new_scanner(max_findings, arch)
        return _finish(scanner, "python", fmt, feed_checked(scanner, _FdReader(fd), fmt))
    raw = _FdReader(fd) if regular else _Prefixed(head, handle)
    data = _ZstdReader(raw, name) if fmt == "zstd" else decoded_stream(raw, fmt, name)
    scanner = new_scanner(max_findings, arch)
    try:
        if grep is None:
            damage = feed_checked(scanner, data, fmt)
            empty = scanner.lines == 0 and damage is None
            return _finish(scanner, "python", fmt, damage, empty=empty)
        damage, size = _pipe_through_grep(scanner, grep, data, name, fmt)
        return _finish(scanner, "grep", fmt, damage, empty=size == 0 and damage is None)
    finally:
        close = getattr(data, "close", None)
        if close is not None and data is not raw:
            close()


def _finish(scanner, engine, fmt, damage, empty=False, note=None):
    result = scanner.finish(engine=engine, lines_known=engine == "python")
    result["format"] = fmt
    if damage is not None:
        result["damage"] = damage
    if empty:
        result["empty"] = True
    if note:
        result["summary"]["engine"] = "%s (%s)" % (engine, note)
    return result


def _on_procfs(info):
    try:
        return info.st_dev == os.stat("/proc/self").st_dev
    except OSError:
        return False


def _read_head(handle):
    """The first bytes of a stream that cannot seek (stopping early only at its end)."""
    head = b""
    while len(head) < MAGIC_BYTES:
        data = handle.read(MAGIC_BYTES - len(head))
        if not data:
            break
        head += data
    return head


class _FdReader(object):
    """Unbuffered reads of a descriptor from its current position."""

    def __init__(self, fd):
        self.fd = fd

    def read(self, size=-1):
        return os.read(self.fd, CHUNK if size is None or size < 0 else size)

    def fileno(self):
        return self.fd


class _Prefixed(object):
    """A stream whose first bytes were already read to tell its format."""

    def __init__(self, head, stream):
        self.head = head
        self.stream = stream

    def read(self, size=-1):
        size = CHUNK if size is None or size < 0 else size
        if self.head:
            data, self.head = self.head[:size], self.head[size:]
            return data
        return self.stream.read(size)


class _ZstdReader(object):
    """zstd-compressed data through the `zstd` program (not in Python's standard library before 3.14).

    Its failure (a truncated or damaged frame) surfaces as DamagedData after the data it did decompress.
    """

    def __init__(self, raw, name):
        zstd = shutil.which("zstd")
        if zstd is None:
            raise LogSourceError("%s: zstd-compressed, and the zstd program is not installed; decompress it and pipe "
                                 "it to `pteguard analyze -`" % name)
        self.name = name
        self.proc = subprocess.Popen([zstd, "-d", "-c", "-q"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.feeder = threading.Thread(target=_copy_to, args=(raw, self.proc.stdin, []), daemon=True)
        self.feeder.start()

    def read(self, size=-1):
        data = self.proc.stdout.read(CHUNK if size is None or size < 0 else size)
        if data:
            return data
        err = self.proc.stderr.read(4096).decode("utf-8", "replace").strip().splitlines()
        rc = self.proc.wait(timeout=ZSTD_TIMEOUT_SECONDS)
        if rc != 0:
            raise DamagedData(err[-1] if err else "zstd exited with %d" % rc)
        return b""

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        self.feeder.join(timeout=10)


def _copy_to(source, sink, failure, line_limit=None):
    """Copy a stream into a pipe until its end; what stopped it early goes into `failure`. Lines longer than
    line_limit are cut (the rest of such a line is dropped, as the Python engine does)."""
    line_length = 0
    try:
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                break
            if line_limit is not None:
                chunk, line_length = _cap_lines(chunk, line_length, line_limit)
            sink.write(chunk)
    except BrokenPipeError:
        pass  # the reader stopped (grep at its memory cap): it says why
    except Exception as exc:  # noqa: BLE001 - any decoder error is a reason to report, never a crash
        failure.append(exc)
    finally:
        try:
            sink.close()
        except OSError:
            pass


def _cap_lines(chunk, line_length, limit):
    """(chunk with over-long lines cut, length of the line still open at its end)."""
    first = chunk.find(b"\n")
    if first == -1:
        keep = max(0, min(len(chunk), limit - line_length))
        return chunk[:keep], line_length + len(chunk)
    if line_length + first > limit:
        chunk = chunk[:max(0, limit - line_length)] + chunk[first:]
    last = chunk.rfind(b"\n")
    return chunk, len(chunk) - last - 1


def _spawn(grep, name, stdin):
    env = dict(os.environ, LC_ALL="C")  # byte-wise matching: fastest, and never fails on invalid UTF-8
    try:
        return subprocess.Popen(memory_capped(grep_argv(grep, "-")), stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env)
    except OSError as exc:
        raise LogSourceError("%s: cannot run grep: %s" % (name, exc.strerror or exc))


def _wait_grep(proc):
    """(kind of failure or None, grep's last error line)."""
    try:
        err = proc.stderr.read(4096)
        rc = proc.wait(timeout=GREP_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    lines = err.decode("utf-8", "replace").strip().splitlines()
    return grep_failure(rc, "\n".join(lines)), (lines[-1] if lines else "grep failed with exit code %d" % rc)


def _scan_regular_grep(fd, start, name, grep, max_findings, arch):
    """The fast path: grep reads the file itself, from the descriptor we opened."""
    scanner = new_scanner(max_findings, arch)
    proc = _spawn(grep, name, fd)
    try:
        feed_grep_output(scanner, bounded_lines(proc.stdout))
    finally:
        failure, message = _wait_grep(proc)
    if failure == "memory":
        scanner = new_scanner(max_findings, arch)
        os.lseek(fd, start, os.SEEK_SET)
        damage = feed_checked(scanner, _FdReader(fd), "plain")
        return _finish(scanner, "python", "plain", damage, note="grep hit its memory cap on an enormous line")
    if failure == "io":
        offset = first_read_error(fd)
        where = "at byte %d" % offset if offset is not None else "(offset unknown: it read whole afterwards)"
        damage = {"reason": "read error (Input/output error) %s; the rest was not read" % where, "offset": offset}
        return _finish(scanner, "grep", "plain", damage)
    if failure is not None:
        raise LogSourceError("%s: %s" % (name, message))
    return _finish(scanner, "grep", "plain", None)


def _pipe_through_grep(scanner, grep, data, name, fmt):
    """Data only Python can read: a thread pumps it into grep while we read grep's output. (damage, bytes read)."""
    proc = _spawn(grep, name, subprocess.PIPE)
    failure = []
    counter = CountingReader(data)
    writer = threading.Thread(target=_copy_to, args=(counter, proc.stdin, failure, PUMP_LINE_LIMIT), daemon=True)
    writer.start()
    try:
        feed_grep_output(scanner, bounded_lines(proc.stdout))
    finally:
        kind, message = _wait_grep(proc)
        writer.join(timeout=GREP_TIMEOUT_SECONDS)
    if kind == "memory":
        raise LogSourceError("%s: a line is too long for grep's memory cap; use --engine python" % name)
    if kind is not None:
        raise LogSourceError("%s: %s" % (name, message))
    if failure:
        return {"reason": damage_reason(failure[0], fmt, counter.offset), "offset": counter.offset}, counter.offset
    return None, counter.offset
