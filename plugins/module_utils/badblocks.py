# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse a read-only ``badblocks -sv`` run (e2fsprogs): bad block numbers on stdout, the summary on stderr."""

from __future__ import annotations

import re

_SUMMARY = re.compile(r"Pass completed, (\d+) bad blocks found\. \((\d+)/(\d+)/(\d+) errors\)")


def parse_badblocks(out, err):
    """(bad block numbers, summary dict or None when the pass did not complete)."""
    bad = []
    for line in (out or "").splitlines():
        line = line.strip()
        if re.match(r"^\d+$", line):
            bad.append(int(line))
    m = _SUMMARY.search(err or "")
    summary = None
    if m:
        summary = {"bad_blocks": int(m.group(1)), "read_errors": int(m.group(2)),
                   "write_errors": int(m.group(3)), "corruption_errors": int(m.group(4))}
    return bad, summary
