"""Exit codes of every pteguard command, in one place (documented in the README).

A pipeline gates on them, so when several apply the most serious one wins: a host that could not be reached or a
path that could not be read outranks a timeout, which outranks evidence read only in part, which outranks findings.
"""

from __future__ import annotations

CLEAN = 0        # every host and path read, no finding at or above --fail-on
FINDINGS = 1     # findings at or above --fail-on, and everything was read
ERROR = 2        # bad arguments, an unreadable path, an inventory that does not parse, a host unreachable or failed
INTERNAL = 3     # a bug in pteguard: one line on stderr, the traceback with PTEGUARD_DEBUG=1
INCOMPLETE = 4   # evidence only partly read (a source unreadable, cut short by a read error), nothing worse
TIMEOUT = 5      # a host or the run hit its time limit; the finished hosts are still reported

# Most serious first; INTERNAL never competes (the command stops at the bug).
_PRECEDENCE = (ERROR, TIMEOUT, INCOMPLETE, FINDINGS, CLEAN)


def worst(codes):
    """The exit code that wins among several outcomes (CLEAN for none)."""
    present = set(codes)
    for code in _PRECEDENCE:
        if code in present:
            return code
    return CLEAN
