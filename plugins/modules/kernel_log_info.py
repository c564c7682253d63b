#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_log_info
short_description: Find page-table corruption, oopses, machine checks, memory and disk errors in a host's kernel logs
version_added: "0.1.0"
description:
  - Reads the kernel messages of the target host (the systemd journal of the current and, when asked, earlier boots;
    C(dmesg); C(/var/log/kern.log) and its rotations, gzip included; crash-dump dmesg files under C(/var/crash);
    pstore records) and returns triaged findings.
  - Parsing runs on the target, so only findings travel back to the controller. Log files are prefiltered with
    C(grep -F) (C(zgrep) for rotations), which prints only anchor lines and the record lines after them; the journal
    and C(dmesg) are parsed in Python, bounded by O(max_lines).
  - A source that is missing or unreadable (for example C(dmesg) under C(kernel.dmesg_restrict=1) without root) is
    reported in RV(sources) with the reason and never fails the host. A file cut short by a read error (EIO from a
    failing disk) or a truncated rotation is C(partial) - its findings up to that point count, and C(offset) says
    where reading stopped.
  - Files are told apart by their first bytes - plain text, gzip (through C(zgrep)), and xz, bzip2 and UTF-16/32
    (decoded in Python); zstd rotations are reported unreadable.
  - A O(since) that C(journalctl) rejects fails the host with a message naming it.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
    details: Read-only; it runs the same in check mode.
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  sources:
    description:
      - Which kernel-log sources to read.
      - V(auto) reads the journal when journald has kernel messages, otherwise C(dmesg) and the kern.log files;
        crash-dump and pstore records are always read in V(auto).
    type: list
    elements: str
    choices: [auto, journal, dmesg, kern_log, crash, pstore]
    default: [auto]
  boots:
    description:
      - Number of boots to read from the journal, the current one included (V(1) is the current boot only).
    type: int
    default: 1
  since:
    description:
      - Read only journal entries after this point. A journal cursor (as returned in RV(cursor) by an earlier run)
        or any time C(journalctl --since) accepts. Files are read whole.
    type: str
  kern_log_paths:
    description:
      - Glob patterns of syslog files holding kernel messages; C(.gz) rotations are decompressed on the fly.
    type: list
    elements: path
    default: [/var/log/kern.log, /var/log/kern.log.*]
  crash_dir:
    description:
      - Where kdump saves crash dumps; C(dmesg*) and C(vmcore-dmesg.txt) files below it are read.
    type: path
    default: /var/crash
  pstore_dirs:
    description:
      - Directories holding pstore records (the live pstore filesystem and systemd-pstore's archive).
    type: list
    elements: path
    default: [/sys/fs/pstore, /var/lib/systemd/pstore]
  max_findings:
    description:
      - Most findings returned; RV(summary) still counts all of them.
    type: int
    default: 200
  max_lines:
    description:
      - Most journal lines read per boot (the most recent ones); bounds memory on hosts with huge logs.
        A source cut this way says so in RV(sources).
    type: int
    default: 500000
  max_matches:
    description:
      - Most anchor lines C(grep) reports per file; bounds what a log made only of errors costs.
    type: int
    default: 100000
  engine:
    description:
      - Prefilter engine. V(auto) uses C(grep) when installed.
    type: str
    choices: [auto, grep, python]
    default: auto
"""

EXAMPLES = r"""
- name: Triage the current boot's kernel messages
  pteguard.remediation.kernel_log_info:
  register: pteguard_kernel_log

- name: Read three boots, and only what is new since the last run
  pteguard.remediation.kernel_log_info:
    boots: 3
    since: "{{ pteguard_last_cursor | default(omit) }}"
  register: pteguard_kernel_log

- name: Read saved kern.log files only
  pteguard.remediation.kernel_log_info:
    sources: [kern_log]
    kern_log_paths: [/var/log/kern.log*]
"""

RETURN = r"""
findings:
  description: Findings, most severe records first as found; each has category, severity, line, message, signature,
    source and the facts extracted (device, sector, address, pfn, process, pid, module, symbol, tainted, cpu, bank,
    mce_status, dimm, ...).
  returned: always
  type: list
  elements: dict
  sample:
    - category: block_io_error
      severity: error
      line: 812
      message: "critical medium error, dev sda, sector 2048 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 2"
      signature: block_request_error
      source: journal
      device: sda
      sector: 2048
summary:
  description: Counts over all sources (by category, by severity, rate-limited messages), the highest severity,
    and how many findings were cut by O(max_findings).
  returned: always
  type: dict
  sample: {"findings": 1, "findings_returned": 1, "findings_dropped": 0, "by_category": {"block_io_error": 1},
           "by_severity": {"error": 1}, "highest_severity": "error", "suppressed": {}, "suppressed_by_category": {}}
sources:
  description: Every source considered, with C(status) read, partial, empty, missing or unreadable, a C(reason)
    when not read whole, C(offset) (bytes of log text read) when partial, and the number of findings it gave.
  returned: always
  type: list
  elements: dict
  sample:
    - {"name": "journal", "status": "read", "findings": 1, "boot": 0}
    - {"name": "dmesg", "status": "unreadable", "reason": "dmesg: read kernel buffer failed: Operation not permitted"}
    - {"name": "kern_log", "path": "/var/log/kern.log", "status": "partial", "findings": 2, "offset": 1048576,
       "reason": "read error (Input/output error) at byte 1048576; the rest was not read"}
kernel:
  description:
    - The running kernel of the target, its memory size (MemTotal) for page-table checks, and C(host_facts)
      (memory size, physical address bits from /proc/cpuinfo or an assumption said in C(assumptions), CPU).
  returned: always
  type: dict
  sample: {"release": "6.1.0-27-amd64", "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1", "machine": "x86_64",
           "memory_bytes": 8330280960,
           "host_facts": {"arch": "x86_64", "memory_bytes": 8330280960, "max_phys_bits": 39, "virt_bits": 48,
                          "phys_bits_source": "/proc/cpuinfo", "assumptions": [], "cpu_vendor": "GenuineIntel"}}
cursor:
  description: The journal cursor of the last kernel message, to pass as O(since) next time.
  returned: when the journal was read
  type: str
  sample: "s=6f0c...;i=1a2b;b=...;m=...;t=...;x=..."
"""

import glob
import json
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.host_facts import (
    HostFactsError, read_host_facts)
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import (
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
from ansible_collections.pteguard.remediation.plugins.module_utils.source_status import PARTIAL, READ, any_read


class _Reader(object):
    """Reads each source with run_command (argv lists, LC_ALL=C) and records what it could and could not read."""

    def __init__(self, module):
        self.module = module
        self.params = module.params
        self.results = []
        self.sources = []
        self.cursor = None
        self.grep = None if module.params["engine"] == "python" else module.get_bin_path("grep")
        self.zgrep = None if self.grep is None else module.get_bin_path("zgrep")

    def _run(self, argv):
        rc, out, err = self.module.run_command(argv, environ_update={"LC_ALL": "C"}, encoding=None)
        return rc, out, (err or b"").decode("utf-8", "replace")

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
        entry.update(status="unreadable", reason=reason)
        self.sources.append(entry)

    def journal(self):
        journalctl = self.module.get_bin_path("journalctl")
        if journalctl is None:
            self.sources.append({"name": "journal", "status": "missing", "reason": "journalctl is not installed"})
            return False
        self._check_since(journalctl)
        self._journal_cursor(journalctl)
        if self.cursor is None:
            # no journald here (containers), no permission, or a volatile journal already rotated away
            self.sources.append({"name": "journal", "status": "empty",
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
            rc, out, err = self._run(argv)
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
        """A `since` journalctl rejects fails the host: the user asked for something impossible, and reading the
        whole log instead (or dmesg) would pass off another time range as the one asked for."""
        since = self.params["since"]
        if not since:
            return
        rc, _out, err = self._run([journalctl, "-k", "-n", "1", "-o", "cat", "--no-pager", "-q", _since_option(since)])
        if rc != 0:
            what = "cursor" if since.startswith("s=") else "time"
            self.module.fail_json(msg="journalctl rejected since=%s (read as a %s): %s" % (since, what, _last_line(err)),
                                  since=since)

    def _journal_cursor(self, journalctl):
        rc, out, _err = self._run([journalctl, "-k", "-b", "0", "-n", "1", "-o", "json", "--no-pager", "-q"])
        if rc != 0:
            return
        for line in out.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("__CURSOR"):
                self.cursor = entry["__CURSOR"]

    def _limits(self):
        return {"max_findings": self.params["max_findings"]}

    def dmesg(self):
        dmesg = self.module.get_bin_path("dmesg")
        if dmesg is None:
            self.sources.append({"name": "dmesg", "status": "missing", "reason": "dmesg is not installed"})
            return False
        rc, out, err = self._run([dmesg])
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
        rc, out, err = self._run(memory_capped(grep_argv(grep, path, max_count=self.params["max_matches"])))
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
            matched = sorted(glob.glob(pattern))
            if not matched and not glob.has_magic(pattern):
                # a file named outright and absent is a source we could not read: say so
                self.sources.append({"name": "kern_log", "path": pattern, "status": "missing",
                                     "reason": "%s does not exist" % pattern})
            paths.extend(matched)
        if not paths:
            if not any(s["name"] == "kern_log" for s in self.sources):
                self.sources.append({"name": "kern_log", "status": "missing",
                                     "reason": "no file matches %s" % ", ".join(self.params["kern_log_paths"])})
            return False
        return self.files("kern_log", paths)

    def crash(self):
        top = self.params["crash_dir"]
        if not os.path.isdir(top):
            self.sources.append({"name": "crash", "status": "missing", "reason": "%s does not exist" % top})
            return False
        paths = sorted(glob.glob(os.path.join(top, "*", "dmesg*")) + glob.glob(os.path.join(top, "*", "vmcore-dmesg.txt")))
        if not paths:
            self.sources.append({"name": "crash", "status": "missing", "reason": "no crash dmesg under %s" % top})
            return False
        return self.files("crash", paths)

    def pstore(self):
        paths = []
        for top in self.params["pstore_dirs"]:
            paths.extend(sorted(glob.glob(os.path.join(top, "dmesg*"))))
            paths.extend(sorted(glob.glob(os.path.join(top, "*", "dmesg*"))))
        if not paths:
            self.sources.append({"name": "pstore", "status": "missing", "reason": "no pstore records"})
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


def run_module():
    module = AnsibleModule(
        argument_spec=dict(
            sources=dict(type="list", elements="str", default=["auto"],
                         choices=["auto", "journal", "dmesg", "kern_log", "crash", "pstore"]),
            boots=dict(type="int", default=1),
            since=dict(type="str"),
            kern_log_paths=dict(type="list", elements="path", default=["/var/log/kern.log", "/var/log/kern.log.*"]),
            crash_dir=dict(type="path", default="/var/crash"),
            pstore_dirs=dict(type="list", elements="path", default=["/sys/fs/pstore", "/var/lib/systemd/pstore"]),
            max_findings=dict(type="int", default=200),
            max_lines=dict(type="int", default=500000),
            max_matches=dict(type="int", default=100000),
            engine=dict(type="str", default="auto", choices=["auto", "grep", "python"]),
        ),
        supports_check_mode=True,
    )
    if module.params["boots"] < 1:
        module.fail_json(msg="boots must be 1 or more (1 is the current boot)")
    for name in ("max_findings", "max_lines", "max_matches"):
        if module.params[name] < (0 if name == "max_findings" else 1):
            module.fail_json(msg="%s is out of range: %s" % (name, module.params[name]))
    reader = _Reader(module)
    if module.params["engine"] == "grep" and reader.grep is None:
        module.fail_json(msg="engine=grep was asked for but grep is not installed on the host")
    wanted = module.params["sources"]
    if "auto" in wanted:
        if not reader.journal():
            reader.dmesg()
            reader.kern_log()
        reader.crash()
        reader.pstore()
    else:
        for name in ("journal", "dmesg", "kern_log", "crash", "pstore"):
            if name in wanted:
                getattr(reader, name)()
    findings, summary = merge_results(reader.results, module.params["max_findings"])
    summary["sources_read"] = sum(1 for s in reader.sources if s["status"] in (READ, PARTIAL))
    uname = os.uname()
    try:
        host_facts = read_host_facts()
    except HostFactsError as exc:
        host_facts = {"assumptions": ["host facts unreadable: %s" % exc]}
    result = dict(changed=False, findings=findings, summary=summary, sources=reader.sources,
                  kernel=dict(release=uname.release, version=uname.version, machine=uname.machine,
                              memory_bytes=host_facts.get("memory_bytes"), host_facts=host_facts))
    if reader.cursor:
        result["cursor"] = reader.cursor
    if not any_read(reader.sources):
        module.warn("no kernel-log source could be read: %s"
                    % "; ".join("%s: %s" % (s["name"], s.get("reason", s["status"])) for s in reader.sources))
    module.exit_json(**result)


def main():
    run_module()


if __name__ == "__main__":
    main()
