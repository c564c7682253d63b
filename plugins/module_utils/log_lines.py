# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn one raw log line, in any of the formats kernels' messages travel in, into (time, message).

Formats: dmesg ("[  12.345678] "), with caller ids ("[    T1] "), `dmesg -T`
("[Mon Oct  3 13:52:42 2022] "), printk levels ("<4>"), syslog/kern.log with
any month spelling ("Mär  3 ...", "févr. 12 ...") and RFC 3339 stamps,
journalctl short/short-precise/short-iso/short-monotonic, `journalctl -o json`,
and console captures that put a date or clock in front of all that.
"""

from __future__ import annotations

import datetime
import json
import re

MAX_LINE_CHARS = 4096

_PREFIXES = re.compile(
    r"""
    (?P<prio><\d{1,3}>)
  | (?P<iso>\d{4}-\d\d-\d\d[T\ ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)\s+
  | (?P<dmesg_t>\[[A-Z][a-z]{2}\ [A-Z][a-z]{2}\ [\ \d]\d\ \d\d:\d\d:\d\d\ \d{4}\])\s?
  | (?P<mono>\[\s*\d+\.\d+\])\s?
  | (?P<cut>\d+\.\d{6}\])\s  # a dmesg stamp whose "[" was cut off by a copy
  | \[\s*[TC]\d+\]\s?
  | (?P<syslog>[^\s\d\[{<][^\s\d]{1,11}\s+\d{1,2}\.?\s+\d\d:\d\d:\d\d(?:\.\d+)?)\s+
  | (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)\s+
  | (?P<facility>(?:kern|user|daemon|syslog|auth|local\d)\.(?:emerg|alert|crit|err|warning|warn|notice|info|debug))\s+
    """,
    re.VERBOSE,
)
# After a syslog/journal date: "host kernel: ", "kernel: ", "host kernel[0]: ".
_TAG = re.compile(r"(?:[\w.-]+\s+)?kernel(?:\[\d+\])?:\s?")
_MAX_PREFIX_ROUNDS = 6


def decode(raw) -> str:
    """bytes -> str, without ever failing on invalid UTF-8; drops line ends, caps length."""
    if isinstance(raw, bytes):
        if b"\0" in raw:
            raw = raw.replace(b"\0", b"")  # unclean-shutdown padding glued to the line: it would fill the cap below
        raw = raw.decode("utf-8", "replace")
    elif "\0" in raw:
        raw = raw.replace("\0", "")
    raw = raw.rstrip("\r\n")
    if len(raw) > MAX_LINE_CHARS:
        raw = raw[:MAX_LINE_CHARS]
    return raw


def _journal_json(text: str):
    """(time, message) of a `journalctl -o json` line, or None when it is not one."""
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    if not isinstance(entry, dict) or "MESSAGE" not in entry:
        return None
    message = entry["MESSAGE"]
    if isinstance(message, list):
        # journald stores messages that are not valid UTF-8 as byte arrays
        try:
            message = bytes(b & 0xFF for b in message if isinstance(b, int)).decode("utf-8", "replace")
        except (TypeError, ValueError):
            message = ""
    elif not isinstance(message, str):
        message = str(message)
    stamp = entry.get("__REALTIME_TIMESTAMP")
    when = None
    if stamp is not None:
        try:
            when = datetime.datetime.fromtimestamp(int(stamp) / 1e6, datetime.timezone.utc).isoformat()
        except (TypeError, ValueError, OverflowError, OSError):
            when = None
    if when is None and entry.get("_SOURCE_MONOTONIC_TIMESTAMP") is not None:
        when = str(entry.get("_SOURCE_MONOTONIC_TIMESTAMP"))
    return when, message.rstrip("\r\n")[:MAX_LINE_CHARS]


def split_line(text: str):
    """(time or None, kernel message) of one decoded line."""
    if text.startswith("{") and '"MESSAGE"' in text:
        parsed = _journal_json(text)
        if parsed is not None:
            return parsed
    when = None
    pos = 0
    dated = False
    for _round in range(_MAX_PREFIX_ROUNDS):
        match = _PREFIXES.match(text, pos)
        if match is None:
            if dated:
                tag = _TAG.match(text, pos)
                if tag is not None:
                    pos = tag.end()
                    dated = False
                    continue
            break
        if match.end() == pos:
            break
        stamp = match.group("iso") or match.group("dmesg_t") or match.group("mono") or match.group("cut") or match.group("syslog") or match.group("clock")
        if stamp and when is None:
            when = stamp.strip("[] ")
        if match.group("iso") or match.group("syslog") or match.group("clock") or match.group("facility"):
            dated = True
        pos = match.end()
    return when, text[pos:]
