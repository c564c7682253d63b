"""dpkg and rpm version ordering: rpm's own test cases, and dpkg itself as the oracle where it is installed."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.package_versions import (
    VersionError, compare, debian_compare, rpm_compare, rpmvercmp, sort_key,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "kernel_update")


def rpm_cases():
    with open(os.path.join(FIXTURES, "rpmvercmp.at.txt"), encoding="utf-8") as fh:
        return [m.groups() for m in re.finditer(r"RPMVERCMP\(([^,]*), ([^,]*), (-?\d)\)", fh.read())]


@pytest.mark.parametrize("a,b,expected", rpm_cases())
def test_rpmvercmp_matches_rpm_test_suite(a, b, expected):
    assert rpmvercmp(a, b) == int(expected)


def test_rpm_test_suite_was_read():
    assert len(rpm_cases()) == 69


# Pairs from Debian kernel packaging and dpkg's documented rules; expected sign in the third column.
DEBIAN_PAIRS = [
    ("6.1.176-1", "6.1.176-1", 0),
    ("6.1.176-1", "6.1.192-3", -1),
    ("6.1.176+1", "6.1.176-1", 1),   # the signed wrapper's version sorts after the version it signs
    ("6.1.99-1", "6.1.176-1", -1),    # numerically, not as text
    ("6.1.176-1~bpo11+1", "6.1.176-1", -1),  # ~ sorts before the end
    ("1:0.1-1", "9.9-9", 1),          # the epoch wins
    ("6.1.0-50", "6.1.0-9", 1),
    ("5.10.0-rc1-1", "5.10.0-1", 1),  # upstream 5.10.0-rc1 vs 5.10.0: '-' sorts after the end (only '~' before)
    ("1.0a-1", "1.0-1", 1),
    ("1.0~rc1-1", "1.0-1", -1),
    ("2.30-1", "2.3-1", 1),
    ("0.6.8-1.1", "0.6.8-1", 1),
]


@pytest.mark.parametrize("a,b,expected", DEBIAN_PAIRS)
def test_debian_compare(a, b, expected):
    result = debian_compare(a, b)
    assert (result > 0) - (result < 0) == expected
    first, second = b, a
    back = debian_compare(first, second)
    assert (back > 0) - (back < 0) == -expected


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="dpkg is not installed on this machine")
@pytest.mark.parametrize("a,b,expected", DEBIAN_PAIRS)
def test_debian_compare_agrees_with_dpkg(a, b, expected):
    for op, want in (("lt", expected < 0), ("eq", expected == 0), ("gt", expected > 0)):
        proc = subprocess.run(["dpkg", "--compare-versions", a, op, b], capture_output=True, timeout=10, check=False)
        assert (proc.returncode == 0) == want, (a, op, b)


def test_rpm_compare_epoch_version_release():
    assert rpm_compare("5.14.0-427.16.1.el9_4", "5.14.0-427.13.1.el9_4") > 0
    assert rpm_compare("1:4.18.0-1.el8", "5.14.0-1.el9") > 0
    assert rpm_compare("0:5.14.0-70.22.1.el9_0", "5.14.0-70.22.1.el9_0") == 0
    assert rpm_compare("5.19.12-0.rc4", "5.19.12-0.rc10") < 0  # 'rc' equal, then 4 < 10 as numbers
    assert rpm_compare("5.19.12", "5.19.12-1") == 0  # a missing release compares equal, as rpm does


def test_sort_key_orders_kernel_versions():
    versions = ["6.1.176-1", "6.1.99-1", "6.1.192-3", "6.1.176+1"]
    assert sorted(versions, key=sort_key("debian")) == ["6.1.99-1", "6.1.176-1", "6.1.176+1", "6.1.192-3"]


@pytest.mark.parametrize("family,version", [("debian", ""), ("debian", "abc"), ("debian", "x:1.0"),
                                            ("redhat", ""), ("redhat", "1 2"), ("redhat", "a:1.0")])
def test_bad_versions_raise(family, version):
    with pytest.raises(VersionError):
        compare(family, version, "1.0")


def test_unknown_family_raises():
    with pytest.raises(VersionError, match="pkg_family"):
        compare("suse", "1", "2")
