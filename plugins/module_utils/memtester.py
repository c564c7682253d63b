# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse memtester's output and size a memtester run from /proc/meminfo.

memtester (Charles Cazabon, https://pyropus.ca/software/memtester/, Debian 12 package ``memtester``
4.6.0) prints a header ("want 64MB (67108864 bytes)", "got  64MB (...), trying mlock ...locked." or, without
the right to lock, "...insufficient permission." then "Trying again, unlocked:"),
then per loop ``Loop N/M:`` and one line per test (``  Stuck Address       : ok``), drawing a
progress spinner with backspaces in between. A mismatch prints
``FAILURE: 0x... != 0x... at offset 0x....`` (``at physical address`` with ``-p``), a bad address
line ``FAILURE: possible bad address line at offset 0x...``, and the test ends with
``Skipping to next test...``. Its exit status is a bit mask: 0x01 could not start (allocation or
lock), 0x02 the address-line test failed, 0x04 another test failed.

Pure Python, no Ansible import; 3.6-compatible syntax (it runs on targets).
"""

from __future__ import annotations

import re

from .kernel_log_collect import collect_kernel_log

EXIT_NONSTARTER = 0x01
EXIT_ADDRESS_LINES = 0x02
EXIT_OTHER_TEST = 0x04

_WANT_RE = re.compile(r"^want\s+(\d+)MB\s+\((\d+)\s+bytes\)")
_GOT_RE = re.compile(r"^got\s+(\d+)MB\s+\((\d+)\s+bytes\)(.*)$")
_LOOP_RE = re.compile(r"^Loop\s+(\d+)(?:/(\d+))?:")
_TEST_RE = re.compile(r"^\s+([A-Za-z][A-Za-z0-9 /&-]*?)\s*:\s*(ok|Skipping to next test\.\.\.)?\s*$")
_MISMATCH_RE = re.compile(
    r"FAILURE:\s+(0x[0-9a-fA-F]+)\s+!=\s+(0x[0-9a-fA-F]+)\s+at\s+(offset|physical address)\s+(0x[0-9a-fA-F]+)")
_ADDRESS_LINE_RE = re.compile(r"FAILURE:\s+possible bad address line at\s+(offset|physical address)\s+(0x[0-9a-fA-F]+)")
_TEST_HEAD_RE = re.compile(r"^\s+([A-Za-z][A-Za-z0-9 /&-]*?)\s*:")
_VERSION_RE = re.compile(r"^memtester version (\S+)")


class MemtesterParseError(ValueError):
    """The text is not memtester output."""


def apply_backspaces(text):
    """The text a terminal would show: each backspace erases the character before it on its line."""
    out = []
    for ch in text:
        if ch == "\b":
            if out and out[-1] != "\n":
                out.pop()
        else:
            out.append(ch)
    return "".join(out)


def decode_exit(rc):
    """memtester's exit status as a list of reasons (empty for 0)."""
    if rc is None or rc < 0:
        return []
    reasons = []
    if rc & EXIT_NONSTARTER:
        reasons.append("could not allocate or lock the memory to test")
    if rc & EXIT_ADDRESS_LINES:
        reasons.append("the stuck-address test failed (possible bad address line)")
    if rc & EXIT_OTHER_TEST:
        reasons.append("a data-pattern test failed")
    if rc & ~0x07:
        reasons.append("unexpected exit status %d" % rc)
    return reasons


def parse_memtester(text):
    """Parse memtester's combined stdout/stderr into a plain dict.

    Keys: version, wanted_bytes, got_bytes, locked (True/False/None), loops_started,
    loops_planned (None for "run forever"), tests (list of {loop, name, status}), failures
    (list of {test, loop, kind, expected, actual, where, address}), done (the closing "Done.").
    """
    if not isinstance(text, str):
        raise MemtesterParseError("memtester output must be text")
    clean = apply_backspaces(text.replace("\r", ""))
    result = {
        "version": None, "wanted_bytes": None, "got_bytes": None, "locked": None,
        "loops_started": 0, "loops_planned": None, "tests": [], "failures": [], "done": False,
    }
    loop = 0
    current = None
    seen_any = False
    for raw in clean.split("\n"):
        line = raw.rstrip()
        m = _VERSION_RE.match(line)
        if m:
            result["version"], seen_any = m.group(1), True
            continue
        m = _WANT_RE.match(line)
        if m:
            result["wanted_bytes"], seen_any = int(m.group(2)), True
            continue
        m = _GOT_RE.match(line)
        if m:
            # memtester shrinks the buffer and prints "got" again when mlock is refused: the last one counts
            result["got_bytes"], seen_any = int(m.group(2)), True
            tail = m.group(3)
            if "unlocked" in tail:
                result["locked"] = False
            elif "locked." in tail:
                result["locked"] = True
            elif "mlock" in tail:
                result["locked"] = False
            continue
        m = _LOOP_RE.match(line)
        if m:
            loop, seen_any = int(m.group(1)), True
            result["loops_started"] = loop
            result["loops_planned"] = int(m.group(2)) if m.group(2) else None
            continue
        for regex, kind in ((_MISMATCH_RE, "mismatch"), (_ADDRESS_LINE_RE, "address_line")):
            m = regex.search(line)
            if m:
                # the first FAILURE follows the test's own "  Name : testing 23" on the same line
                head = _TEST_HEAD_RE.match(line[:m.start()])
                if head and loop:
                    current = head.group(1).strip()
                    result["tests"].append({"loop": loop, "name": current, "status": "failed"})
                failure = {"test": current, "loop": loop, "kind": kind, "expected": None, "actual": None}
                if kind == "mismatch":
                    failure.update(expected=m.group(1), actual=m.group(2), where=m.group(3), address=m.group(4))
                else:
                    failure.update(where=m.group(1), address=m.group(2))
                result["failures"].append(failure)
                if current is not None and result["tests"] and result["tests"][-1]["name"] == current:
                    result["tests"][-1]["status"] = "failed"
                break
        else:
            m = _TEST_RE.match(line)
            if m and loop:
                name = m.group(1).strip()
                status = m.group(2)
                current = name
                result["tests"].append({
                    "loop": loop, "name": name,
                    "status": "ok" if status == "ok" else ("failed" if status else "running"),
                })
            elif line.strip() == "Skipping to next test...":
                if result["tests"]:
                    result["tests"][-1]["status"] = "failed"
            elif line.strip() == "Done.":
                result["done"] = True
    if not seen_any:
        raise MemtesterParseError("no memtester output found (no version, size or loop line)")
    return result


def loops_completed(parsed):
    """Loops whose every test ran to a result (the last loop counts only when memtester said Done.)."""
    if parsed["done"]:
        return parsed["loops_started"]
    return max(0, parsed["loops_started"] - 1)


def verdict(parsed, rc, timed_out=False, kernel_errors=None):
    """The run's verdict: {result: passed|failed|incomplete, reasons: [...], addresses: [...]}.

    A run passes only when memtester exited 0, said Done. and the kernel logged no new memory error;
    it fails on any FAILURE line, a failing exit bit or a new kernel memory error; anything else is
    incomplete with the reason (timed out, could not lock, output cut).
    """
    reasons = []
    addresses = [f["address"] for f in parsed["failures"]] if parsed else []
    kernel_errors = list(kernel_errors or [])
    failing_bits = (rc or 0) & (EXIT_ADDRESS_LINES | EXIT_OTHER_TEST) if rc is not None and rc > 0 else 0
    if parsed and parsed["failures"] or failing_bits:
        reasons.extend(decode_exit(rc) if failing_bits else [])
        if parsed and parsed["failures"]:
            reasons.insert(0, "%d memtester failure line(s)" % len(parsed["failures"]))
        result = "failed"
    elif kernel_errors:
        result = "failed"
    elif timed_out:
        result = "incomplete"
        reasons.append("stopped at the time limit after %d complete loop(s)" % (loops_completed(parsed) if parsed else 0))
    elif rc is not None and rc & EXIT_NONSTARTER:
        result = "incomplete"
        reasons.extend(decode_exit(rc))
    elif parsed is None or not parsed["done"] or rc != 0:
        result = "incomplete"
        reasons.append("memtester did not finish (exit status %s, no closing 'Done.')" % rc)
    else:
        result = "passed"
    if kernel_errors:
        reasons.append("%d new kernel memory error line(s) during the test" % len(kernel_errors))
    if parsed and parsed["locked"] is False and result == "passed":
        reasons.append("memory was not locked (mlock refused): pages may have been swapped during the test")
    return {"result": result, "reasons": reasons, "addresses": addresses}


_MEMINFO_RE = re.compile(r"^(\w+):\s+(\d+)\s*kB", re.M)


def meminfo_kb(text):
    """/proc/meminfo as {field: kB}."""
    return dict((m.group(1), int(m.group(2))) for m in _MEMINFO_RE.finditer(text or ""))


def plan_size_mb(meminfo_text, size_mb=None, percent=50, margin_mb=256, min_mb=4):
    """How many MiB memtester may lock: {size_mb, available_mb, limit_mb, why}.

    The limit is ``percent`` of MemAvailable minus a fixed margin, so the test never pushes the
    host into the OOM killer; a requested size above it is cut to it (and why says so). size_mb
    is 0 (with why) when not even ``min_mb`` fits.
    """
    fields = meminfo_kb(meminfo_text)
    if "MemAvailable" not in fields:
        return {"size_mb": 0, "available_mb": None, "limit_mb": 0,
                "why": "MemAvailable missing from /proc/meminfo: cannot size the test safely"}
    available = fields["MemAvailable"] // 1024
    limit = max(0, available * int(percent) // 100 - int(margin_mb))
    want = limit if size_mb is None else int(size_mb)
    why = None
    if want > limit:
        why = ("requested %d MiB cut to %d MiB (%d%% of MemAvailable %d MiB minus a %d MiB margin)"
               % (want, limit, percent, available, margin_mb))
        want = limit
    if want < min_mb:
        return {"size_mb": 0, "available_mb": available, "limit_mb": limit,
                "why": "only %d MiB may be tested (MemAvailable %d MiB): below the %d MiB minimum"
                       % (want, available, min_mb)}
    return {"size_mb": want, "available_mb": available, "limit_mb": limit, "why": why}


# Kernel-log categories (signatures.py) that mean the memory itself reported an error.
MEMORY_CATEGORIES = ("memory_error_corrected", "memory_error_uncorrected", "memory_page_offlined", "bad_page_state",
                     "machine_check_other")
_EVIDENCE_KEYS = ("category", "severity", "message", "signature", "source", "mce_status", "address", "bank", "cpu",
                  "dimm", "pfn")


class KernelMemoryWatch(object):
    """New memory errors the kernel reports after start(), read with kernel_log_collect (the one kernel-log parser).

    Where the journal holds kernel messages, a cursor taken at start() bounds every later read; elsewhere dmesg is
    read again and the memory findings beyond the count seen at start() are the new ones (an approximation the
    result names: ``window``). A host where neither can be read is watched by nobody, and ``window`` says so.
    """

    def __init__(self, host, categories=MEMORY_CATEGORIES, max_findings=1000):
        self.host = host
        self.categories = frozenset(categories)
        self.max_findings = max_findings
        self.window = None
        self.cursor = None
        self.baseline = 0
        self.polls = 0
        self.reason = None

    def _collect(self, **params):
        params.setdefault("max_findings", self.max_findings)
        return collect_kernel_log(self.host, **params)

    def _memory(self, result):
        found = [f for f in result["findings"] if f.get("category") in self.categories]
        return sorted(found, key=lambda f: f.get("line") or 0)

    def start(self):
        """Take the cursor (or the dmesg count) before the test; returns the window name."""
        journal = self._collect(sources=["journal"], max_findings=0)
        if journal.get("cursor"):
            self.window, self.cursor = "journal cursor", journal["cursor"]
            return self.window
        dmesg = self._collect(sources=["dmesg"])
        status = dmesg["sources"][0] if dmesg["sources"] else {}
        if status.get("status") in ("read", "partial", "empty"):
            self.window, self.baseline = "dmesg count", len(self._memory(dmesg))
            return self.window
        self.window = "none"
        self.reason = "the kernel log could not be read (journal: %s; dmesg: %s): memory errors the kernel reports " \
                      "were not watched" % (_why(journal), status.get("reason", status.get("status", "not read")))
        return self.window

    def poll(self):
        """The memory findings logged since start(), trimmed to what evidence needs."""
        if self.window == "journal cursor":
            found = self._memory(self._collect(sources=["journal"], since=self.cursor))
        elif self.window == "dmesg count":
            found = self._memory(self._collect(sources=["dmesg"]))[self.baseline:]
        else:
            return []
        self.polls += 1
        trimmed = [dict((k, f[k]) for k in _EVIDENCE_KEYS if f.get(k) is not None) for f in found]
        for finding in trimmed:
            finding["evidence"] = evidence_line(finding)
        return trimmed


def _why(result):
    for source in result.get("sources", []):
        if source.get("reason"):
            return source["reason"]
    return "no cursor"


_DETAIL_KEYS = (("mce_status", "status"), ("address", "address"), ("bank", "bank"), ("cpu", "cpu"), ("dimm", "dimm"),
                ("pfn", "pfn"))


def evidence_line(finding):
    """One finding as a line of evidence: category, the kernel's own words and the machine-check details."""
    details = ["%s %s" % (label, finding[key]) for key, label in _DETAIL_KEYS if finding.get(key) is not None]
    return "%s: %s%s" % (finding.get("category"), finding.get("message", "").strip(),
                         " (%s)" % ", ".join(details) if details else "")
