"""Change-management inputs of `pteguard apply`: the change ID, the maintenance window and the waves.

Each parser raises ValueError with a one-line message the CLI prints as it is.
"""

from __future__ import annotations

import datetime
import math
import re

# Letters, digits and . _ : + - only: the change ID goes into the audit log, the run database and reproduce
# scripts, so nothing a shell or a log parser would read as syntax.
_CHANGE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,79}$")
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^(?:(?P<days>[A-Za-z]{3}(?:[,-][A-Za-z]{3})*) +)?"
                     r"(?P<h1>\d\d):(?P<m1>\d\d)-(?P<h2>\d\d):(?P<m2>\d\d)(?: +(?P<tz>[A-Za-z][A-Za-z0-9_+/-]*))?$")
WINDOW_FORMAT = ("[DAYS ]HH:MM-HH:MM[ TIME-ZONE], UTC unless an IANA zone follows, e.g. '22:00-04:00' or "
                 "'Sat,Sun 01:00-05:00 Europe/Berlin' or 'Mon-Fri 20:00-23:00 America/New_York'")


def change_id(text):
    text = str(text)
    if not _CHANGE_ID.match(text):
        raise ValueError("change ID %r refused: use 1-80 letters, digits and . _ : + - (no spaces or shell "
                         "metacharacters), starting with a letter or digit" % text)
    return text


def _days(text):
    if not text:
        return list(range(7))
    out = []
    for part in text.lower().split(","):
        first, _dash, last = part.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            raise ValueError("maintenance window day %r is not one of %s" % (part, ", ".join(_DAYS)))
        start, end = _DAYS.index(first), _DAYS.index(last or first)
        out.extend(range(start, end + 1) if end >= start else list(range(start, 7)) + list(range(0, end + 1)))
    return sorted(set(out))


def _zone(name):
    """The IANA zone `name` (the system's tz database, else the tzdata package), or ValueError."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError("maintenance window time zone %r is not known (an IANA name such as Europe/Berlin or UTC, "
                         "from the tz database: apt install tzdata)" % name) from None


def window(text):
    """{'text', 'days', 'start', 'end', 'tz'} (minutes after midnight in zone tz, default UTC) from WINDOW_FORMAT."""
    match = _WINDOW.match(str(text).strip())
    if not match:
        raise ValueError("maintenance window %r is not in the format %s" % (text, WINDOW_FORMAT))
    tz = match["tz"] or "UTC"
    _zone(tz)
    start = int(match["h1"]) * 60 + int(match["m1"])
    end = int(match["h2"]) * 60 + int(match["m2"])
    if int(match["h1"]) > 23 or int(match["h2"]) > 24 or int(match["m1"]) > 59 or int(match["m2"]) > 59 \
            or end > 24 * 60 or start == end:
        raise ValueError("maintenance window %r is not a time span (HH 00-23, MM 00-59, start != end)" % text)
    return {"text": str(text).strip(), "days": _days(match["days"]), "start": start, "end": end, "tz": tz}


def window_open(spec, now=None):
    """True when `now` falls in the window, read on the window's own clock (its zone, daylight saving included);
    a window crossing midnight belongs to the day it starts."""
    if spec is None:
        return True
    now = (now or datetime.datetime.now(datetime.timezone.utc)).astimezone(_zone(spec.get("tz") or "UTC"))
    minute = now.hour * 60 + now.minute
    day = now.weekday()
    if spec["start"] < spec["end"]:
        return day in spec["days"] and spec["start"] <= minute < spec["end"]
    return (day in spec["days"] and minute >= spec["start"]) or \
        ((day - 1) % 7 in spec["days"] and minute < spec["end"])


def serial(text):
    """[1, '25%', ...] from '1,25%,100%' (ansible's serial: the last size repeats)."""
    sizes = []
    for part in str(text).split(","):
        part = part.strip()
        if re.match(r"^[1-9]\d*$", part):
            sizes.append(int(part))
        elif re.match(r"^(100|[1-9]\d?)%$", part):
            sizes.append(part)
        else:
            raise ValueError("--serial %r: each wave is a count (1, 5) or a percentage (1%%-100%%), separated by "
                             "commas" % text)
    return sizes


def waves(hosts, sizes):
    """The hosts cut into waves of `sizes` (percentages of all hosts, rounded up; the last size repeats)."""
    out, rest, index = [], list(hosts), 0
    while rest:
        size = sizes[min(index, len(sizes) - 1)]
        count = size if isinstance(size, int) else max(1, math.ceil(len(hosts) * int(size[:-1]) / 100))
        out.append(rest[:count])
        rest = rest[count:]
        index += 1
    return out


def percentage(text):
    value = int(text) if re.match(r"^\d{1,3}$", str(text)) else -1
    if not 0 <= value <= 100:
        raise ValueError("--max-fail-percentage %r: a whole number from 0 to 100" % text)
    return value
