"""Writing to the terminal safely: text from hosts and logs escaped, and a reader that went away handled."""

from __future__ import annotations

import os
import sys


def printable(text):
    """Text safe for a terminal: control and format characters (escape sequences) shown escaped."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ("\\x%02x" % ord(c) if ord(c) < 256 else "\\u%04x" % ord(c))
                   for c in text)


def silence_stdout():
    """Point stdout at /dev/null after a broken pipe, so Python's flush at exit does not fail on it again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
