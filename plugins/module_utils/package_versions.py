# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package version comparison that follows dpkg and rpm exactly (pure functions, no Ansible import).

debian_compare() is dpkg's verrevcmp() (lib/dpkg/version.c) applied to epoch, upstream version and revision:
letters sort before non-letters, '~' before everything (even the end of the string), digit runs compare as
numbers. rpm_compare() is rpm's rpmvercmp() (rpmio/rpmvercmp.c) applied to epoch, version and release:
segments of digits or letters, separators ignored, '~' sorts before the end, '^' after it but before more
segments, a digit segment is newer than a letter segment.
"""

from __future__ import annotations

import functools
import re

_DIGITS = "0123456789"
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class VersionError(ValueError):
    """A version string that no package manager would accept."""


def _dpkg_order(char):
    if char == "":
        return 0
    if char in _DIGITS:
        return 0
    if char in _LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _verrevcmp(a, b):
    i = j = 0
    while i < len(a) or j < len(b):
        first_diff = 0
        while (i < len(a) and a[i] not in _DIGITS) or (j < len(b) and b[j] not in _DIGITS):
            ac = _dpkg_order(a[i] if i < len(a) else "")
            bc = _dpkg_order(b[j] if j < len(b) else "")
            if ac != bc:
                return ac - bc
            i += 1
            j += 1
        while i < len(a) and a[i] == "0":
            i += 1
        while j < len(b) and b[j] == "0":
            j += 1
        while i < len(a) and a[i] in _DIGITS and j < len(b) and b[j] in _DIGITS:
            if not first_diff:
                first_diff = ord(a[i]) - ord(b[j])
            i += 1
            j += 1
        if i < len(a) and a[i] in _DIGITS:
            return 1
        if j < len(b) and b[j] in _DIGITS:
            return -1
        if first_diff:
            return first_diff
    return 0


_DEBIAN_VERSION = re.compile(r"^(?:(\d+):)?([0-9][A-Za-z0-9.+~:-]*?)(?:-([A-Za-z0-9.+~]+))?$")


def parse_debian_version(version):
    """(epoch, upstream, revision) of a Debian version; VersionError when dpkg would refuse it."""
    text = (version or "").strip()
    m = _DEBIAN_VERSION.match(text)
    if not m or (":" in m.group(2) and m.group(1) is None):
        raise VersionError("not a Debian package version: %r" % version)
    return int(m.group(1) or 0), m.group(2), m.group(3) or ""


def debian_compare(a, b):
    """<0, 0 or >0 as Debian version a is older than, equal to or newer than b (dpkg --compare-versions)."""
    ea, ua, ra = parse_debian_version(a)
    eb, ub, rb = parse_debian_version(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return _verrevcmp(ua, ub) or _verrevcmp(ra, rb)


def _alnum(char):
    return char in _DIGITS or char in _LETTERS


def rpmvercmp(a, b):
    """rpm's rpmvercmp() on one version or release string: -1, 0 or 1."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and not _alnum(a[i]) and a[i] not in "~^":
            i += 1
        while j < len(b) and not _alnum(b[j]) and b[j] not in "~^":
            j += 1
        ta = a[i] if i < len(a) else ""
        tb = b[j] if j < len(b) else ""
        if ta == "~" or tb == "~":
            if ta != "~":
                return 1
            if tb != "~":
                return -1
            i += 1
            j += 1
            continue
        if ta == "^" or tb == "^":
            if ta == "":
                return -1
            if tb == "":
                return 1
            if ta != "^":
                return 1
            if tb != "^":
                return -1
            i += 1
            j += 1
            continue
        if ta == "" or tb == "":
            break
        kind = _DIGITS if ta in _DIGITS else _LETTERS
        si, sj = i, j
        while i < len(a) and a[i] in kind:
            i += 1
        while j < len(b) and b[j] in kind:
            j += 1
        seg_a, seg_b = a[si:i], b[sj:j]
        if seg_b == "":
            # one is a digit segment, the other letters: digits are newer
            return 1 if kind == _DIGITS else -1
        if kind == _DIGITS:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
    if i >= len(a) and j >= len(b):
        return 0
    return -1 if i >= len(a) else 1


def parse_rpm_evr(evr):
    """(epoch, version, release) of '[E:]V[-R]'; VersionError when empty or malformed."""
    text = (evr or "").strip()
    if not text or any(c.isspace() for c in text):
        raise VersionError("not an RPM version: %r" % evr)
    epoch = 0
    if ":" in text:
        head, text = text.split(":", 1)
        if not head.isdigit():
            raise VersionError("not an RPM version (epoch %r): %r" % (head, evr))
        epoch = int(head)
    version, _sep, release = text.partition("-")
    if not version or "-" in release:
        raise VersionError("not an RPM version: %r" % evr)
    return epoch, version, release


def rpm_compare(a, b):
    """<0, 0 or >0 as RPM [E:]V-R a is older than, equal to or newer than b (rpmdev-vercmp)."""
    ea, va, ra = parse_rpm_evr(a)
    eb, vb, rb = parse_rpm_evr(b)
    if ea != eb:
        return -1 if ea < eb else 1
    return rpmvercmp(va, vb) or (rpmvercmp(ra, rb) if ra and rb else 0)


COMPARE = {"debian": debian_compare, "redhat": rpm_compare}


def compare(pkg_family, a, b):
    """Compare two versions by the package family's rules."""
    try:
        return COMPARE[pkg_family](a, b)
    except KeyError:
        raise VersionError("pkg_family must be debian or redhat, not %r" % (pkg_family,)) from None


def sort_key(pkg_family):
    """A key function for sorted() by version under the family's rules."""
    return functools.cmp_to_key(lambda a, b: compare(pkg_family, a, b))
