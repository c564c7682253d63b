# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Did the previous boot end cleanly? A pure function on its journal text (and the pstore file names).

A clean shutdown leaves systemd's and the kernel's shutdown lines at the end of a boot's journal ("Journal
stopped", "Reached target System Reboot", "systemd-shutdown[1]: ...", "reboot: Restarting system"). A boot that
ends in a freeze, a panic without kdump, a watchdog or power reset simply stops: its last lines are ordinary ones.
Persistent journald keeps the previous boot (`journalctl -b -1`); volatile storage keeps none, which is
"unknown", never "clean". pstore records (/sys/fs/pstore, or /var/lib/systemd/pstore once systemd-pstore has
archived them) are what the dying kernel wrote: a dmesg record there means the previous boot oopsed or panicked.

Collectors call ``previous_boot_end(text, pstore_names)`` with the output of
``journalctl -b -1 -n 300 --no-pager -o short-iso`` (stdout and stderr together: journalctl prints "no such boot"
on stderr) and a listing of the pstore directories; ``findings`` in the result are ready for a report.

Pure Python, no Ansible import; 3.6-compatible syntax.
"""

from __future__ import annotations

import re

from .log_lines import split_line

# How far from the end a shutdown line may sit: units and journald still log a few lines after it.
TAIL_LINES = 300

# (kind, literal) in order of strength: "final" lines are printed only once the shutdown is under way.
SHUTDOWN_MARKERS = (
    ("final", "Journal stopped"),
    ("final", "systemd-shutdown["),
    ("final", "systemd-shutdown:"),
    ("final", "reboot: Restarting system"),
    ("final", "reboot: Power down"),
    ("final", "reboot: System halted"),
    ("final", "kexec_core: Starting new kernel"),
    ("final", "Received SIGTERM from PID 1 (systemd-shutdow"),
    ("final", "systemd[1]: Shutting down."),
    # systemd >= 250 names the unit first: "Reached target reboot.target - System Reboot."
    ("started", "Reached target reboot.target"),
    ("started", "Reached target poweroff.target"),
    ("started", "Reached target halt.target"),
    ("started", "Reached target kexec.target"),
    ("started", "Reached target shutdown.target"),
    ("started", "Reached target final.target"),
    ("started", "Reached target umount.target"),
    ("started", "Reached target System Reboot"),
    ("started", "Reached target System Power Off"),
    ("started", "Reached target Power-Off"),
    ("started", "Reached target System Halt"),
    ("started", "Reached target Reboot"),
    ("started", "Reached target Shutdown"),
    ("started", "Reached target System Shutdown"),
    ("started", "Reached target Final Step"),
    ("started", "Reached target Unmount All Filesystems"),
    ("started", "Stopped target Local File Systems"),
    ("started", "Stopped target System Initialization"),
    ("started", "Stopped target Basic System"),
    ("started", "System is rebooting"),
    ("started", "System is powering down"),
    ("started", "The system will reboot now"),
    ("started", "The system will power off now"),
)

# journalctl's own words when it has no previous boot to show (persistent storage off, rotated, corrupt index).
NO_PREVIOUS_BOOT = (
    "No such boot ID in journal",
    "No journal boot entry found",
    "is not available",
    "-- No entries --",
    "Failed to determine boots",
    "No journal files were found",
)

# Lines the kernel prints while dying: when the journal still caught one, it names the way the boot ended.
DYING_LINES = (
    ("panic", "Kernel panic - not syncing"),
    ("hard_lockup", "hard LOCKUP"),
    ("soft_lockup", "soft lockup - CPU#"),
    ("hung_task", "blocked for more than"),
    ("rcu_stall", "stall on CPU"),
    ("oops", "Oops: "),
    ("oom", "Out of memory: Killed process"),
)

_PSTORE_NAME = re.compile(r"^(?P<kind>dmesg|console|pmsg|ftrace|mce|rtas|powerpc-\w+)-(?P<backend>[a-z]+)-(?P<id>\S+)$")


def pstore_records(names):
    """Parse pstore file names ("dmesg-ramoops-0", "dmesg-efi-165..." , "console-ramoops-0") into records."""
    records = []
    for name in names or ():
        base = str(name).rstrip("/").rsplit("/", 1)[-1]
        match = _PSTORE_NAME.match(base)
        if match is None:
            continue
        records.append({"name": base, "kind": match.group("kind"), "backend": match.group("backend")})
    return records


def _lines(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return [line for line in (text or "").splitlines() if line.strip()]


def _message(line):
    return split_line(line)[1]


def previous_boot_end(journal_text, pstore_names=(), arch=None):
    """Classify the end of the previous boot: ``{"state": clean|unclean|unknown, "reason", ...,"findings"}``."""
    lines = _lines(journal_text)
    pstore = pstore_records(pstore_names)
    dumps = [r for r in pstore if r["kind"] == "dmesg"]
    result = {"state": "unknown", "reason": "", "marker": None, "last_line": None, "dying": [], "pstore": pstore,
              "findings": []}
    entries = [(n, line) for n, line in enumerate(lines, 1) if not line.startswith("-- ")]
    if not entries or any(text in line for text in NO_PREVIOUS_BOOT for line in lines[:3]):
        result["reason"] = ("the journal holds no previous boot (volatile storage, rotated away or unreadable): "
                            "whether it ended cleanly is unknown")
        if dumps:
            result["state"] = "unclean"
            result["reason"] = "pstore holds %d kernel dump record(s) from a previous boot" % len(dumps)
            result["findings"].append(_finding(None, None, result, arch))
        return result
    tail = entries[-TAIL_LINES:]
    last_no, last_line = entries[-1]
    result["last_line"] = {"line": last_no, "message": _message(last_line)}
    best = None
    for lineno, line in tail:
        for kind, literal in SHUTDOWN_MARKERS:
            if literal in line and (best is None or kind == "final" or best[0] != "final"):
                best = (kind, lineno, line)
                break
    for lineno, line in tail:
        for kind, literal in DYING_LINES:
            if literal in line:
                result["dying"].append({"kind": kind, "line": lineno, "message": _message(line)[:512]})
                break
    if best is not None:
        kind, lineno, line = best
        result["marker"] = {"kind": kind, "line": lineno, "message": _message(line)}
    if best is not None and not dumps:
        result["state"] = "clean"
        result["reason"] = ("the previous boot shut down: %s" % result["marker"]["message"] if kind == "final" else
                            "the previous boot began an orderly shutdown: %s" % result["marker"]["message"])
        return result
    result["state"] = "unclean"
    if best is None:
        result["reason"] = "the previous boot's journal ends without a shutdown (last line %d: %s)" % (
            last_no, result["last_line"]["message"][:200])
    else:
        result["reason"] = "the previous boot began a shutdown but pstore holds %d kernel dump record(s)" % len(dumps)
    result["findings"].append(_finding(last_no, last_line, result, arch))
    return result


def _finding(lineno, line, result, arch):
    """The report's finding for an unclean end (category unexpected_reboot)."""
    finding = {"category": "unexpected_reboot", "severity": "error", "line": lineno or 0,
               "message": result["reason"][:512], "signature": "unclean_previous_boot",
               "source": "journal_previous_boot", "arch": arch or "unknown"}
    if line is not None:
        when, message = split_line(line)
        if when:
            finding["time"] = when
        finding["last_message"] = message[:512]
    if result["dying"]:
        finding["dying"] = [entry["kind"] for entry in result["dying"]]
        finding["severity"] = "critical"
    if result["pstore"]:
        finding["pstore"] = [record["name"] for record in result["pstore"]]
    return finding
