# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read memtest86+'s screen from a copy of its serial console.

memtest86+ 6.x never prints lines: it draws an 80x25 screen on the serial port with ANSI/VT100
sequences (``ESC[2J`` clear, ``ESC[row;colH`` cursor moves, ``ESC[0m`` attributes) and redraws
only what changed (``ESC[5;35Hing: 4MB - 127MB`` rewrites the tail of "Testing: ..."). A grep over
the raw stream therefore sees fragments and stale values; the screen must be replayed like a
terminal would. ``render_screen`` does that for the subset memtest86+ uses, and ``parse_screen``
reads pass count, error count, current test, progress and status from the result. Its status bar
reads ``| Pass:  0        Errors: 0`` and ``Status: Testing``; errors it found are listed under a
``pCPU  Pass  Test  Failing Address  Expected  Found`` header (memtest86+ app/error.c).

Pure Python, no Ansible import; 3.6-compatible syntax.
"""

from __future__ import annotations

import re

ROWS = 25
COLS = 80

_CSI_RE = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z@])")


class ConsoleParseError(ValueError):
    """The text is no memtest86+ screen."""


def render_screen(stream, rows=ROWS, cols=COLS):
    """Replay a VT100 stream on a rows x cols screen; returns the screen as a list of strings."""
    screen = [[" "] * cols for _row in range(rows)]
    row = col = 0
    i = 0
    n = len(stream)
    while i < n:
        ch = stream[i]
        if ch == "\x1b":
            m = _CSI_RE.match(stream, i)
            if m:
                params, final = m.group(1), m.group(2)
                nums = [int(p) if p.isdigit() else 0 for p in params.lstrip("?").split(";")] if params else []
                if final in "Hf":
                    row = min(rows - 1, max(0, (nums[0] if nums and nums[0] else 1) - 1))
                    col = min(cols - 1, max(0, (nums[1] if len(nums) > 1 and nums[1] else 1) - 1))
                elif final == "J":
                    mode = nums[0] if nums else 0
                    if mode == 2:
                        screen = [[" "] * cols for _row in range(rows)]
                    elif mode == 0:
                        screen[row][col:] = [" "] * (cols - col)
                        for r in range(row + 1, rows):
                            screen[r] = [" "] * cols
                elif final == "K":
                    screen[row][col:] = [" "] * (cols - col)
                elif final == "A":
                    row = max(0, row - (nums[0] if nums and nums[0] else 1))
                elif final == "B":
                    row = min(rows - 1, row + (nums[0] if nums and nums[0] else 1))
                elif final == "C":
                    col = min(cols - 1, col + (nums[0] if nums and nums[0] else 1))
                elif final == "D":
                    col = max(0, col - (nums[0] if nums and nums[0] else 1))
                # m (attributes), h/l (modes such as ?25l: hide cursor) change no character
                i = m.end()
                continue
            i += 1  # a lone or unknown escape: skip the ESC byte
            continue
        if ch == "\r":
            col = 0
        elif ch == "\n":
            row = min(rows - 1, row + 1)
        elif ch == "\b":
            col = max(0, col - 1)
        elif ch >= " " or ch == "\t":
            if col < cols:
                screen[row][col] = " " if ch == "\t" else ch
            col = min(cols, col + 1)
        i += 1
    return ["".join(r).rstrip() for r in screen]


_PASS_RE = re.compile(r"\bPass:\s*(\d+)")
_ERRORS_RE = re.compile(r"\bErrors:\s*(\d+)")
_STATUS_RE = re.compile(r"\bStatus:\s*([A-Za-z]+)")
_VERSION_RE = re.compile(r"[Mm]emtest86\+\s*v?(\d+\.\d+\S*)")
_TEST_RE = re.compile(r"#\s*(\d+)\s+\[([^\]]+)\]")
_TIME_RE = re.compile(r"\bTime:\s*(\d+:\d{2}:\d{2})")
_ERROR_ROW_RE = re.compile(
    r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+(?:0x)?([0-9a-fA-F]{6,16})(?:\s+\(?[^)]*\)?)?\s+(?:0x)?([0-9a-fA-F]{8,16})\s+"
    r"(?:0x)?([0-9a-fA-F]{8,16})")


def parse_screen(lines):
    """What a person reads on memtest86+'s screen: a dict, or ConsoleParseError if it is not there.

    Keys: version, passes (completed passes), errors, status, test ({number, name} or None),
    pass_percent, test_percent, elapsed, error_rows (list of {cpu, pass, test, address, expected, found}).
    """
    text = "\n".join(lines)
    passes = _PASS_RE.search(text)
    errors = _ERRORS_RE.search(text)
    if not passes or not errors:
        raise ConsoleParseError("no memtest86+ status bar (Pass:/Errors:) on the screen")
    version = _VERSION_RE.search(text)
    status = _STATUS_RE.search(text)
    test = _TEST_RE.search(text)
    elapsed = _TIME_RE.search(text)
    percents = []
    for line in lines[:8]:
        m = re.search(r"(\d{1,3})%", line)
        if m:
            percents.append(int(m.group(1)))
    error_rows = []
    for line in lines:
        m = _ERROR_ROW_RE.match(line)
        if m:
            error_rows.append({"cpu": int(m.group(1)), "pass": int(m.group(2)), "test": int(m.group(3)),
                               "address": "0x" + m.group(4).lower(), "expected": "0x" + m.group(5).lower(),
                               "found": "0x" + m.group(6).lower()})
    return {
        "version": version.group(1) if version else None,
        "passes": int(passes.group(1)),
        "errors": int(errors.group(1)),
        "status": status.group(1) if status else None,
        "test": {"number": int(test.group(1)), "name": test.group(2).strip()} if test else None,
        "pass_percent": percents[0] if percents else None,
        "test_percent": percents[1] if len(percents) > 1 else None,
        "elapsed": elapsed.group(1) if elapsed else None,
        "error_rows": error_rows,
    }


def read_console(stream, rows=ROWS, cols=COLS):
    """render_screen + parse_screen for a raw serial capture (the last full screen wins)."""
    if not isinstance(stream, str):
        raise ConsoleParseError("console capture must be text")
    return parse_screen(render_screen(stream, rows, cols))


def should_stop(parsed, passes_wanted):
    """(stop, why): stop after passes_wanted completed passes or at the first error."""
    if parsed["errors"] > 0:
        return True, "memtest86+ reports %d error(s) in pass %d" % (parsed["errors"], parsed["passes"] + 1)
    if parsed["passes"] >= passes_wanted:
        return True, "%d pass(es) completed without errors" % parsed["passes"]
    return False, None
