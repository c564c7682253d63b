"""What the terminal gets: the output options every run command shares (--json, --quiet), colour, and tables.

Colour and live progress go only to a terminal (never into a pipe, a file or a CI log), and colour never when
NO_COLOR is set to anything (https://no-color.org) or TERM is dumb. --json puts the one document on stdout and
nothing else; --quiet prints nothing on stdout, leaving the errors on stderr and the exit code.
"""

from __future__ import annotations

import os
import sys

from pteguard import output
from pteguard.output import printable

# set once per command by the CLI entry (cli.main) from the parsed options
_mode = {"quiet": False, "json": False}

_SGR = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "magenta": "35", "cyan": "36", "bold": "1",
        "dim": "2"}
# the colour of a word wherever a status, state, verdict or severity is shown
_WORD_COLOURS = {
    "ok": "green", "pass": "green", "clean": "green", "done": "green", "finished": "green", "run": "green",
    "none": "green",
    "findings": "yellow", "incomplete": "yellow", "unknown": "yellow", "skipped": "yellow", "warning": "yellow",
    "planned": "cyan", "waiting_for_window": "yellow", "not_evaluated": "yellow", "stopped": "yellow",
    "fail": "red", "failed": "red", "unreachable": "red", "timeout": "red", "interrupted": "red", "error": "red",
    "critical": "red", "replace_dimm": "red", "replace_disk": "red",
}


def add_options(parser, json_dest="format"):
    """--json and --quiet (they exclude each other). --json sets `json_dest` to 'json' (diagnose's --format)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--json", dest=json_dest, action="store_const", const="json",
                       help="print one JSON document on stdout and nothing else (progress, if any, on stderr)")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="print nothing on stdout: only errors on stderr and the exit code")


def configure(args):
    """Remember the output choice of this command (called by the CLI entry once the options are parsed)."""
    _mode["quiet"] = bool(getattr(args, "quiet", False))
    _mode["json"] = getattr(args, "format", None) == "json"


def quiet():
    return _mode["quiet"]


def json_output():
    return _mode["json"]


def is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):
        return False


def _dumb():
    return os.environ.get("TERM", "") == "dumb"


def progress_wanted(stream=None):
    """Live progress: on a terminal (stderr by default) unless --quiet or TERM=dumb."""
    return not _mode["quiet"] and not _dumb() and is_terminal(stream or sys.stderr)


def colour_wanted(stream=None):
    """Colour: on a terminal (stdout by default), never with NO_COLOR set (any value but empty) or TERM=dumb."""
    return not os.environ.get("NO_COLOR") and not _dumb() and is_terminal(stream or sys.stdout)


def paint(text, colour, enabled):
    if not enabled or colour not in _SGR:
        return text
    return "\x1b[%sm%s\x1b[0m" % (_SGR[colour], text)


def word_colour(word):
    return _WORD_COLOURS.get(str(word).split(" ", maxsplit=1)[0].strip(","), None)


def table(header, rows, coloured=(), colour=None):
    """Aligned columns (text escaped); the cells of the columns in `coloured` painted after their word.

    The last column is never padded, so a long message does not push trailing blanks.
    """
    colour = colour_wanted() if colour is None else colour
    cells = [tuple(printable(c if c not in (None, "") else "-") for c in row) for row in rows]
    head = tuple(printable(h) for h in header)
    widths = [max(len(r[i]) for r in [head] + cells) for i in range(len(head))]
    lines = []
    for number, row in enumerate([head] + cells):
        out = []
        for i, cell in enumerate(row):
            padded = cell if i == len(row) - 1 else cell.ljust(widths[i])
            if number == 0:
                padded = paint(padded, "bold", colour)
            elif i in coloured:
                padded = padded.replace(cell, paint(cell, word_colour(cell), colour), 1)
            out.append(padded)
        lines.append("  ".join(out).rstrip())
    return "\n".join(lines)


def emit(text):
    """Print a command's text result unless --quiet; a reader that went away is not an error here."""
    if _mode["quiet"]:
        return
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        output.silence_stdout()


_CODE_NAMES = {0: "clean", 1: "findings", 2: "error", 3: "internal", 4: "incomplete", 5: "timeout", 141: "broken pipe"}


def code_name(code):
    """The README's name of an exit code (exit_codes.py)."""
    if code in _CODE_NAMES:
        return _CODE_NAMES[code]
    return "signal %d" % (code - 128) if code > 128 else "code %d" % code


def duration(seconds):
    seconds = int(seconds)
    if seconds < 3600:
        return "%d:%02d" % (seconds // 60, seconds % 60)
    return "%d:%02d:%02d" % (seconds // 3600, seconds // 60 % 60, seconds % 60)
