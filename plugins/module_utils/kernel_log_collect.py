# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Collector core for the kernel log: the journal, dmesg, kern.log and its rotations, crash dumps and pstore.

Runs through a CollectHost (collect_host.py): kernel_log_info and host_evidence_info pass their ModuleHost, tests a
host that answers with recorded journalctl/dmesg outputs. Parsing is log_scan.py and kernel_log.py; this file decides
what to read, and records for every source whether it was read whole, in part (a read error, a truncated rotation:
``offset`` says where it stopped), or not at all and why (source_status.py). A source that cannot be read never
fails the host; a ``since`` that journalctl rejects does (CollectError): reading another time range instead would
pass it off as the one asked for.

Pure Python, no Ansible import; 3.6-compatible syntax (runs on the target's python3).
"""

from __future__ import annotations

import glob
import json
import os

from .collect_host import CollectError
from .log_scan import (
    GREP_MEMORY_NOTE,
    LogSourceError,
    feed_grep_output,
    first_read_error,
    grep_argv,
    grep_failure,
    log_format,
    memory_capped,
    merge_results,
    new_scanner,
    scan_file,
    scan_lines,
)
from .source_status import EMPTY, MISSING, PARTIAL, READ, UNREADABLE, any_read

SOURCES = ("journal", "dmesg", "kern_log", "crash", "pstore")
# The options of kernel_log_info (and of host_evidence_info's kernel-log part), in AnsibleModule's form.
ARGUMENT_SPEC = {
    "sources": {"type": "list", "elements": "str", "default": ["auto"], "choices": ["auto"] + list(SOURCES)},
    "boots": {"type": "int", "default": 1},
    "since": {"type": "str"},
    "kern_log_paths": {"type": "list", "elements": "path", "default": ["/var/log/kern.log", "/var/log/kern.log.*"]},
    "crash_dir": {"type": "path", "default": "/var/crash"},
    "pstore_dirs": {"type": "list", "elements": "path", "default": ["/sys/fs/pstore", "/var/lib/systemd/pstore"]},
    "max_findings": {"type": "int", "default": 200},
    "max_lines": {"type": "int", "default": 500000},
    "max_matches": {"type": "int", "default": 100000},
    "engine": {"type": "str", "default": "auto", "choices": ["auto", "grep", "python"]},
}
DEFAULTS = dict((name, spec.get("default")) for name, spec in ARGUMENT_SPEC.items())


class _Reader(object):
    """Reads each source through the host (argv lists, LC_ALL=C) and records what it could and could not read."""

    def __init__(self, host, params):
        self.host = host
        self.params = params
        self.results = []
        self.sources = []
        self.cursor = None
        self.grep = None if params["engine"] == "python" else host.which("grep")
        self.zgrep = None if self.grep is None else host.which("zgrep")

    def _record(self, entry, result, damage=None):
        """A source read whole, or up to a read error or damaged data (damage: {"reason", "offset"})."""
        for finding in result["findings"]:
            finding["source"] = entry.get("path") or entry["name"]
            if "boot" in entry:
                finding["boot"] = entry["boot"]
        damage = damage or result.get("damage")
        entry.update(status=READ, findings=result["summary"]["findings"])
        if damage is not None:
            entry.update(status=PARTIAL, reason=damage["reason"], offset=damage["offset"])
        self.results.append(result)
        self.sources.append(entry)

    def _unreadable(self, entry, reason):
        entry.update(status=UNREADABLE, reason=reason)
        self.sources.append(entry)

    def _missing(self, name, reason, **extra):
        entry = {"name": name, "status": MISSING, "reason": reason}
        entry.update(extra)
        self.sources.append(entry)

    def journal(self):
        journalctl = self.host.which("journalctl")
        if journalctl is None:
            self._missing("journal", "journalctl is not installed")
            return False
        self._check_since(journalctl)
        self._journal_cursor(journalctl)
        if self.cursor is None:
            # no journald here (containers), no permission, or a volatile journal already rotated away
            self.sources.append({"name": "journal", "status": EMPTY,
                                 "reason": "the journal holds no kernel messages for the current boot (or they "
                                           "are not readable by this user)"})
            return False
        since = self.params["since"]
        limit = self.params["max_lines"]
        for boot in range(0, -self.params["boots"], -1):
            argv = [journalctl, "-k", "-b", str(boot), "-o", "short-iso-precise", "--no-pager", "-q",
                    "-n", str(limit)]
            if since:
                argv.append(_since_option(since))
            entry = {"name": "journal", "boot": boot}
            rc, out, err = self.host.run(argv, binary=True)
            if rc != 0:
                if boot == 0:
                    self._unreadable(entry, "journalctl exited with %d: %s" % (rc, _last_line(err)))
                    return False
                break  # earlier boots may simply not be kept (volatile journal)
            lines = out.splitlines()
            if len(lines) >= limit:
                entry["truncated"] = "only the last %d lines of this boot were read (max_lines)" % limit
            self._record(entry, scan_lines(lines, **self._limits()))
        return True

    def _check_since(self, journalctl):
        since = self.params["since"]
        if not since:
            return
        rc, _out, err = self.host.run([journalctl, "-k", "-n", "1", "-o", "cat", "--no-pager", "-q",
                                       _since_option(since)], binary=True)
        if rc != 0:
            what = "cursor" if since.startswith("s=") else "time"
            raise CollectError("journalctl rejected since=%s (read as a %s): %s" % (since, what, _last_line(err)),
                               since=since)

    def _journal_cursor(self, journalctl):
        rc, out, _err = self.host.run([journalctl, "-k", "-b", "0", "-n", "1", "-o", "json", "--no-pager", "-q"],
                                      binary=True)
        if rc != 0:
            return
        for line in out.splitlines():
            try:
                entry = json.loads(line.decode("utf-8", "replace"))
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("__CURSOR"):
                self.cursor = entry["__CURSOR"]

    def _limits(self):
        return {"max_findings": self.params["max_findings"]}

    def dmesg(self):
        dmesg = self.host.which("dmesg")
        if dmesg is None:
            self._missing("dmesg", "dmesg is not installed")
            return False
        rc, out, err = self.host.run([dmesg], binary=True)
        if rc != 0:
            self._unreadable({"name": "dmesg"}, "dmesg exited with %d: %s" % (rc, _last_line(err)))
            return False
        self._record({"name": "dmesg"}, scan_lines(out.splitlines(), **self._limits()))
        return True

    def _python(self, entry, path, note=None):
        try:
            result = scan_file(path, **self._limits())
        except LogSourceError as exc:
            self._unreadable(entry, str(exc))
            return False
        if note:
            entry["note"] = note
        self._record(entry, result)
        return True

    def _file(self, name, path):
        entry = {"name": name, "path": path}
        try:
            fmt = log_format(path)
        except LogSourceError as exc:
            self._unreadable(entry, str(exc))
            return False
        grep = {"plain": self.grep, "gzip": self.zgrep}.get(fmt)
        if grep is None:
            # no grep, or a format only Python decodes (xz, bzip2, UTF-16/32; zstd is refused by name)
            return self._python(entry, path)
        rc, out, err = self.host.run(memory_capped(grep_argv(grep, path, max_count=self.params["max_matches"])),
                                     binary=True)
        failure = grep_failure(rc, err)
        if failure == "memory":
            return self._python(entry, path, note=GREP_MEMORY_NOTE)
        if failure is not None and fmt == "gzip":
            # a truncated or damaged rotation: Python's decoder keeps what came before and says where it stopped
            return self._python(entry, path)
        damage = None
        if failure == "io":
            # grep printed what it read before the error: those findings count, the rest of the file is unread
            offset = _first_read_error(path)
            where = "at byte %d" % offset if offset is not None else "(offset unknown)"
            damage = {"reason": "read error (Input/output error) %s; the rest was not read" % where, "offset": offset}
        elif failure is not None:
            self._unreadable(entry, "%s exited with %d: %s" % (os.path.basename(grep), rc, _last_line(err)))
            return False
        scanner = new_scanner(**self._limits())
        feed_grep_output(scanner, out.splitlines())
        self._record(entry, scanner.finish(engine="grep", lines_known=False), damage)
        return True

    def files(self, name, paths):
        read = False
        for path in paths:
            read = self._file(name, path) or read
        return read

    def kern_log(self):
        paths = []
        for pattern in self.params["kern_log_paths"]:
            matched = self.host.glob(pattern)
            if not matched and not glob.has_magic(pattern):
                # a file named outright and absent is a source we could not read: say so
                self._missing("kern_log", "%s does not exist" % pattern, path=pattern)
            paths.extend(matched)
        if not paths:
            if not any(s["name"] == "kern_log" for s in self.sources):
                self._missing("kern_log", "no file matches %s" % ", ".join(self.params["kern_log_paths"]))
            return False
        return self.files("kern_log", paths)

    def crash(self):
        top = self.params["crash_dir"]
        if not self.host.isdir(top):
            self._missing("crash", "%s does not exist" % top)
            return False
        paths = sorted(self.host.glob(os.path.join(top, "*", "dmesg*"))
                       + self.host.glob(os.path.join(top, "*", "vmcore-dmesg.txt")))
        if not paths:
            self._missing("crash", "no crash dmesg under %s" % top)
            return False
        return self.files("crash", paths)

    def pstore(self):
        paths = []
        for top in self.params["pstore_dirs"]:
            paths.extend(self.host.glob(os.path.join(top, "dmesg*")))
            paths.extend(self.host.glob(os.path.join(top, "*", "dmesg*")))
        if not paths:
            self._missing("pstore", "no pstore records")
            return False
        return self.files("pstore", paths)


def _since_option(since):
    return "--after-cursor=" + since if since.startswith("s=") else "--since=" + since


def _first_read_error(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        return first_read_error(fd)
    except OSError:
        return None
    finally:
        os.close(fd)


def _last_line(text):
    lines = [line for line in (text or "").strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no error message"


def check_params(params):
    """The options with defaults filled in; CollectError for values out of range."""
    merged = dict(DEFAULTS)
    merged.update((k, v) for k, v in params.items() if k in DEFAULTS and (v is not None or k == "since"))
    if merged["boots"] < 1:
        raise CollectError("boots must be 1 or more (1 is the current boot)")
    for name in ("max_findings", "max_lines", "max_matches"):
        if merged[name] < (0 if name == "max_findings" else 1):
            raise CollectError("%s is out of range: %s" % (name, merged[name]))
    unknown = [s for s in merged["sources"] if s != "auto" and s not in SOURCES]
    if unknown:
        raise CollectError("unknown kernel-log sources: %s" % ", ".join(unknown))
    return merged


def kernel_identity(host, host_facts):
    """The ``kernel`` key: running kernel from uname, memory size and the host facts read once for the host."""
    uname = host.uname()
    return {"release": uname[2], "version": uname[3], "machine": uname[4],
            "memory_bytes": (host_facts or {}).get("memory_bytes"), "host_facts": host_facts}


def collect_kernel_log(host, host_facts=None, **params):
    """Everything kernel_log_info returns but ``kernel`` (findings, summary, sources, cursor when the journal was
    read). Raises CollectError for bad options and for a ``since`` journalctl rejects."""
    params = check_params(params)
    reader = _Reader(host, params)
    if params["engine"] == "grep" and reader.grep is None:
        raise CollectError("engine=grep was asked for but grep is not installed on the host")
    wanted = params["sources"]
    if "auto" in wanted:
        if not reader.journal():
            reader.dmesg()
            reader.kern_log()
        reader.crash()
        reader.pstore()
    else:
        for name in SOURCES:
            if name in wanted:
                getattr(reader, name)()
    findings, summary = merge_results(reader.results, params["max_findings"])
    summary["sources_read"] = sum(1 for s in reader.sources if s["status"] in (READ, PARTIAL))
    result = {"findings": findings, "summary": summary, "sources": reader.sources}
    if reader.cursor:
        result["cursor"] = reader.cursor
    return result


def unread_warning(sources):
    """The warning for a host none of whose kernel-log sources could be read (None when one was)."""
    if any_read(sources):
        return None
    return "no kernel-log source could be read: %s" % "; ".join(
        "%s: %s" % (s["name"], s.get("reason", s["status"])) for s in sources)
