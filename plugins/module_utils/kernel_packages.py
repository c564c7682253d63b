# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running, installed and available kernels from the package manager's own output (pure, no Ansible import).

Debian family: `dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Abbrev}\\n' 'linux-image-*'` lists the
kernel packages; an ABI package is `linux-image-<release>` (Ubuntu also `linux-image-unsigned-<release>`, Debian
`linux-image-<release>-unsigned`), whose release starts with a digit; the metapackage (`linux-image-amd64`,
`linux-image-generic`) depends on the current ABI package, which `apt-cache show <meta>=<version>` names.
RedHat family: `rpm -q --qf ...` on `kernel-core` and `kernel` (EL8+: kernel-core holds vmlinuz, kernel is the
metapackage; both are install-only, so several versions coexist), and `dnf -q -C list --available kernel`.

probe_host() runs the read-only commands through a runner (the module passes run_command) and returns one dict.
Package lookups use local caches only (no `apt-get update`, `dnf -C`): no network.
"""

from __future__ import annotations

import re

from .package_versions import VersionError, compare, sort_key

DPKG_QUERY_FORMAT = "${Package}\\t${Version}\\t${db:Status-Abbrev}\\n"
RPM_QUERY_FORMAT = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{VERSION}-%{RELEASE}.%{ARCH}\\n"
DEFAULT_METAPACKAGE = {"debian": "linux-image-amd64", "redhat": "kernel"}
RPM_KERNEL_PACKAGES = ("kernel-core", "kernel")

_ABI_NAME = re.compile(r"^linux-image-(?:unsigned-)?(?P<release>[0-9][A-Za-z0-9.+_-]*?)(?P<unsigned>-unsigned)?$")
_DEPENDS_ABI = re.compile(r"\b(linux-image-(?:unsigned-)?[0-9][A-Za-z0-9.+_-]*)\s*(?:\(\s*=\s*([^)\s]+)\s*\))?")


class KernelPackageError(ValueError):
    """Input the probe cannot use (the message says which and why, in one line)."""


def abi_release(package):
    """The kernel release an ABI package installs ('linux-image-6.1.0-50-amd64' -> '6.1.0-50-amd64'), else None.

    Debug-symbol packages (-dbg, -dbgsym) install no kernel and give None.
    """
    m = _ABI_NAME.match(package or "")
    if not m or re.search(r"-dbg(sym)?$", m.group("release")):
        return None
    return m.group("release")


def parse_dpkg_kernels(text):
    """Kernel ABI packages from dpkg-query DPKG_QUERY_FORMAT output: [{package, version, release, status, installed}].

    `installed` is true when dpkg's status is installed (second letter i); half-installed or half-configured
    packages (an interrupted upgrade) are listed with installed false and their status.
    """
    found = []
    for line in (text or "").splitlines():
        fields = line.split("\t")
        if len(fields) < 3:
            continue
        package, version, status = fields[0].strip(), fields[1].strip(), fields[2].strip()
        release = abi_release(package)
        if release is None or not version or len(status) < 2 or status[1] == "n":
            continue
        found.append({"package": package, "version": version, "release": release, "status": status,
                      "installed": status[1] == "i" and len(status) == 2})
    return found


def parse_metapackage_depends(text):
    """The ABI package and its pinned version from `apt-cache show <meta>=<version>`: (package, version) or (None, None)."""
    for line in (text or "").splitlines():
        if line.startswith(("Depends:", "Pre-Depends:")):
            m = _DEPENDS_ABI.search(line.split(":", 1)[1])
            if m:
                return m.group(1), m.group(2)
    return None, None


def parse_rpm_kernels(text):
    """Installed kernels from `rpm -q --qf RPM_QUERY_FORMAT kernel-core kernel`: [{package, version, release, ...}].

    Lines of packages that are not installed ("package kernel-core is not installed") are skipped.
    A (none) epoch is printed as 0 by %{EPOCHNUM}.
    """
    found = []
    for line in (text or "").splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or not fields[1].strip():
            continue
        name, evr, release = (f.strip() for f in fields)
        version = evr[2:] if evr.startswith("0:") else evr
        found.append({"package": name, "version": version, "release": release, "status": "installed",
                      "installed": True})
    return found


def parse_dnf_available(text, name):
    """Newest version of `name` in `dnf list [--available] [--showduplicates] NAME` output, or None."""
    best = None
    for version in parse_dnf_versions(text, name):
        try:
            if best is None or compare("redhat", version, best) > 0:
                best = version
        except VersionError:
            continue
    return best


def rpm_release(version, arch):
    """uname -r of an RPM kernel: VERSION-RELEASE.ARCH ('5.14.0-427.13.1.el9_4', 'x86_64')."""
    evr = version.split(":", 1)[1] if ":" in version else version
    return "%s.%s" % (evr, arch)


def newest(pkg_family, kernels):
    """The installed kernel with the highest package version (what GRUB boots by default), or None."""
    ready = [k for k in kernels if k["installed"]]
    if not ready:
        return None
    key = sort_key(pkg_family)
    return max(ready, key=lambda k: key(k["version"]))


def reboot_decision(running, expected, installed_releases):
    """Whether booting the expected kernel needs a reboot, and why, in one sentence: (bool, str)."""
    if expected is None:
        return False, "no installed kernel package found"
    if expected == running:
        return False, "the newest installed kernel %s is running" % expected
    if running not in installed_releases:
        return True, ("the running kernel %s is not an installed package (container or custom kernel); the newest "
                      "installed kernel is %s" % (running, expected))
    return True, "the running kernel is %s, the newest installed kernel is %s" % (running, expected)


_POLICY_VERSION = re.compile(r"^\s*(?:\*\*\*)?\s+(?P<version>[^\s*]+)\s+-?\d+\s*$")


def parse_apt_policy_versions(text, package):
    """Versions in the version table of `package`'s stanza of `apt-cache policy` (newest first, as apt prints)."""
    versions, inside, table = [], False, False
    for line in (text or "").splitlines():
        if line and not line[0].isspace():
            inside = line.rstrip().rstrip(":").split(":")[0] == package
            table = False
            continue
        if not inside:
            continue
        if line.strip() == "Version table:":
            table = True
            continue
        m = _POLICY_VERSION.match(line) if table else None
        if m and m.group("version") not in versions:
            versions.append(m.group("version"))
    return versions


def parse_dnf_versions(text, name):
    """Every version of `name` in `dnf list --showduplicates NAME` output (any section)."""
    versions = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 3 and "." in fields[0] and fields[0].rsplit(".", 1)[0] == name:
            if fields[1] not in versions:
                versions.append(fields[1])
    return versions
