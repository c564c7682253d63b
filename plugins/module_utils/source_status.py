# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What became of each evidence source: one vocabulary for modules, the CLI and reports.

Every source a collector considers gets an entry {"name", "status", "reason"?, ...}. A host (or a saved file) is
shown clean only when the evidence that would show a problem was really read.
"""

from __future__ import annotations

READ = "read"              # read whole
PARTIAL = "partial"        # read up to a point (a read error, a truncated archive): findings up to there count
EMPTY = "empty"            # present but held nothing (a journal without kernel messages for the boot)
MISSING = "missing"        # not on this host (no tool, no file): normal for optional sources
UNREADABLE = "unreadable"  # present but could not be read (permission, format, a tool that failed)

STATUSES = (READ, PARTIAL, EMPTY, MISSING, UNREADABLE)
_READ_SOME = (READ, PARTIAL)


def any_read(sources):
    """True when at least one source gave evidence (whole or in part)."""
    return any(source.get("status") in _READ_SOME for source in sources)


def gaps(sources):
    """'name: reason' for every source read only in part or not at all (missing optional sources excepted)."""
    out = []
    for source in sources:
        status = source.get("status")
        if status in (PARTIAL, UNREADABLE):
            label = source.get("path") or source.get("name") or "?"
            out.append("%s %s: %s" % (label, status, source.get("reason") or "no reason given"))
    return out
