"""Controller-side scanning of files and streams, with grep as a streaming prefilter.

The parsers live in the collection's module_utils (pteguard.parsers); this
module only owns processes: grep reads the file (or our stdin, or a
decompressed stream we pump into it) and its output is parsed as it comes,
so memory stays bounded whatever the log's size.
"""

from __future__ import annotations

import gzip
import os
import resource
import shutil
import subprocess
import threading

from pteguard.parsers.log_scan import (
    LogSourceError,
    bounded_lines,
    feed_grep_output,
    feed_stream,
    grep_argv,
    new_scanner,
    open_log,
    scan_file,
)

GREP_TIMEOUT_SECONDS = 3600
# GNU grep holds a whole line in memory, doubling its buffer as it grows: a log with a 200 MB "line" (binary junk,
# a dump without newlines) costs it 400 MB. Capped, it fails with "memory exhausted" and Python reads that file.
GREP_MEMORY_LIMIT_BYTES = 128 << 20


class GrepMemoryError(LogSourceError):
    """grep ran out of its memory cap on an enormous line."""


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
    """Scan one log file (plain or gzip). Raises LogSourceError with a one-line reason."""
    with open_log(path) as handle:
        magic = handle.read(2)
    grep = _grep_for(engine, path)
    if grep is None:
        return scan_file(path, max_findings, arch)
    try:
        return _scan_path_grep(path, magic, grep, max_findings, arch)
    except GrepMemoryError:
        result = scan_file(path, max_findings, arch)
        result["summary"]["engine"] = "python (grep hit its memory cap on an enormous line)"
        return result


def _scan_path_grep(path, magic, grep, max_findings, arch):
    scanner = new_scanner(max_findings, arch)
    if magic == b"\x1f\x8b":
        with open_log(path) as handle:
            try:
                with gzip.GzipFile(fileobj=handle) as unzipped:
                    _pipe_through_grep(scanner, grep, unzipped, path)
            except (OSError, EOFError) as exc:
                raise LogSourceError("%s: cannot read: %s" % (path, exc))
    else:
        _run_grep(scanner, grep, path, path)
    return scanner.finish(engine="grep", lines_known=False)


def scan_stream(stream, engine="auto", max_findings=None, arch=None, name="-"):
    """Scan a binary stream with a real file descriptor (stdin, a pipe)."""
    grep = _grep_for(engine, name)
    scanner = new_scanner(max_findings, arch)
    if grep is None:
        try:
            feed_stream(scanner, stream)
        except OSError as exc:
            raise LogSourceError("%s: cannot read: %s" % (name, exc))
        return scanner.finish(engine="python")
    _run_grep(scanner, grep, "-", name, stdin=stream)
    return scanner.finish(engine="grep", lines_known=False)


def _limit_memory():
    resource.setrlimit(resource.RLIMIT_AS, (GREP_MEMORY_LIMIT_BYTES, GREP_MEMORY_LIMIT_BYTES))


def _spawn(grep, path, stdin):
    env = dict(os.environ, LC_ALL="C")  # byte-wise matching: fastest, and never fails on invalid UTF-8
    try:
        return subprocess.Popen(grep_argv(grep, path), stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, preexec_fn=_limit_memory)
    except OSError as exc:
        raise LogSourceError("%s: cannot run grep: %s" % (path, exc.strerror or exc))


def _finish(proc, name):
    try:
        err = proc.stderr.read(4096)
        rc = proc.wait(timeout=GREP_TIMEOUT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if rc not in (0, 1):
        lines = err.decode("utf-8", "replace").strip().splitlines()
        if lines and "memory exhausted" in lines[-1]:
            raise GrepMemoryError("%s: a line is too long for grep's memory cap; use --engine python" % name)
        raise LogSourceError("%s: %s" % (name, lines[-1] if lines else "grep failed with exit code %d" % rc))


def _run_grep(scanner, grep, path, name, stdin=None):
    proc = _spawn(grep, path, stdin if stdin is not None else subprocess.DEVNULL)
    try:
        feed_grep_output(scanner, bounded_lines(proc.stdout))
    finally:
        _finish(proc, name)


def _pipe_through_grep(scanner, grep, handle, name):
    """Data only Python can read (decompressed): a thread pumps it into grep while we read grep's output."""
    proc = _spawn(grep, "-", subprocess.PIPE)
    failure = []

    def pump():
        try:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                proc.stdin.write(chunk)
        except (OSError, EOFError, ValueError) as exc:
            failure.append(exc)
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    writer = threading.Thread(target=pump, daemon=True)
    writer.start()
    try:
        feed_grep_output(scanner, bounded_lines(proc.stdout))
    finally:
        _finish(proc, name)
        writer.join(timeout=10)
    if failure:
        raise LogSourceError("%s: cannot read: %s" % (name, failure[0]))
