# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only probe of a host's kernels for the kernel_package_info module (no Ansible import).

`run(argv)` runs a read-only command and returns (rc, stdout, stderr) (rc None when the program is absent);
`read_text(path)` returns a file's text (gzip decompressed) or None. The module passes run_command and a file
reader; tests pass recorded outputs. Only local package caches are read: nothing here touches the network.
"""

from __future__ import annotations

from .dkms_status import dkms_readiness, parse_dkms_status
from .hw_backend import parse_apt_policy
from .kernel_changelog import (
    ChangelogError, entries_between, module_pattern, parse_debian_changelog, parse_rpm_changelog, scan_entries)
from .kernel_packages import (
    DEFAULT_METAPACKAGE, DPKG_QUERY_FORMAT, RPM_KERNEL_PACKAGES, RPM_QUERY_FORMAT, KernelPackageError, abi_release,
    newest, parse_apt_policy_versions, parse_dpkg_kernels, parse_dnf_available, parse_dnf_versions,
    parse_metapackage_depends, parse_rpm_kernels, reboot_decision, rpm_release)
from .package_versions import VersionError, compare

DEBIAN_CHANGELOGS = ("/usr/share/doc/%s/changelog.Debian.gz", "/usr/share/doc/%s/changelog.gz")


def _one_line(text, limit=300):
    line = " ".join((text or "").split())
    return line[:limit]


def _check(what, rc, err):
    if rc is None:
        raise KernelPackageError("%s: the program is not installed" % what)
    if rc != 0:
        raise KernelPackageError("%s failed (rc %s): %s" % (what, rc, _one_line(err) or "no message"))


def _debian_packages(run, metapackage, version):
    rc, out, err = run(["dpkg-query", "-W", "-f", DPKG_QUERY_FORMAT, "linux-image-*"])
    if rc not in (0, 1):  # 1: no package matches the pattern
        _check("dpkg-query", rc, err)
    kernels = parse_dpkg_kernels(out)
    rc, out, err = run(["apt-cache", "policy", metapackage])
    _check("apt-cache policy %s" % metapackage, rc, err)
    policy = parse_apt_policy(out).get(metapackage)
    if policy is None:
        raise KernelPackageError("the kernel metapackage %s is unknown to apt on this host (not in its package lists)"
                                 % metapackage)
    versions = parse_apt_policy_versions(out, metapackage)
    wanted = version or policy["candidate"]
    if version and version not in versions:
        raise KernelPackageError("unknown kernel version %s: apt knows %s versions %s" % (
            version, metapackage, ", ".join(versions) or "none"))
    abi_package = abi_version = None
    if wanted:
        rc, out, err = run(["apt-cache", "show", "%s=%s" % (metapackage, wanted)])
        _check("apt-cache show %s=%s" % (metapackage, wanted), rc, err)
        abi_package, abi_version = parse_metapackage_depends(out)
    meta = {"name": metapackage, "installed": policy["installed"], "candidate": policy["candidate"],
            "wanted": wanted, "versions": versions, "wanted_package": abi_package,
            "wanted_package_version": abi_version or wanted,
            "wanted_release": abi_release(abi_package) if abi_package else None}
    return kernels, meta


def _redhat_packages(run, metapackage, version, machine):
    rc, out, err = run(["rpm", "-q", "--qf", RPM_QUERY_FORMAT] + list(RPM_KERNEL_PACKAGES))
    if rc is None:
        _check("rpm", rc, err)
    by_release = {}
    for k in parse_rpm_kernels(out):
        if k["package"] == RPM_KERNEL_PACKAGES[0] or k["release"] not in by_release:
            by_release[k["release"]] = k
    kernels = list(by_release.values())
    installed_meta = [k["version"] for k in parse_rpm_kernels(out) if k["package"] == metapackage]
    rc, out, err = run(["dnf", "-q", "-C", "list", "--showduplicates", metapackage])
    if rc not in (0, 1):
        _check("dnf list %s" % metapackage, rc, err)
    versions = parse_dnf_versions(out, metapackage)
    candidate = parse_dnf_available(out, metapackage)
    installed = None
    for v in installed_meta:
        if installed is None or compare("redhat", v, installed) > 0:
            installed = v
    if installed and candidate and compare("redhat", candidate, installed) < 0:
        candidate = installed
    if version and version not in versions:
        raise KernelPackageError("unknown kernel version %s: dnf knows %s versions %s" % (
            version, metapackage, ", ".join(versions) or "none"))
    wanted = version or candidate
    meta = {"name": metapackage, "installed": installed, "candidate": candidate, "wanted": wanted,
            "versions": versions, "wanted_package": ("%s-core" % metapackage) if wanted else None,
            "wanted_package_version": wanted,
            "wanted_release": rpm_release(wanted, machine) if wanted else None}
    return kernels, meta


def _changelog(pkg_family, run, read_text, target, after, blamed_module, arch):
    out = {"status": "missing", "path": None, "after": after, "upto": target["version"]}
    text = None
    if pkg_family == "debian":
        for pattern in DEBIAN_CHANGELOGS:
            path = pattern % target["package"]
            text = read_text(path)
            if text is not None:
                out["path"] = path
                break
        if text is None:
            out["reason"] = "no changelog under /usr/share/doc/%s" % target["package"]
            return out
    else:
        argv = ["rpm", "-q", "--changelog", "%s-%s" % (target["package"], target["version"].split(":")[-1])]
        rc, text, err = run(argv)
        out["path"] = " ".join(argv)
        if rc != 0:
            out["status"] = "unreadable"
            out["reason"] = _one_line(err) or "rpm --changelog rc %s" % rc
            return out
    try:
        entries = (parse_debian_changelog if pkg_family == "debian" else parse_rpm_changelog)(text)
    except ChangelogError as exc:
        out.update(status="unreadable", reason=str(exc))
        return out
    chosen, unreadable = entries_between(pkg_family, entries, after, target["version"])
    out.update(status="read", entries=len(chosen), entries_unreadable=unreadable,
               versions=[e["signed_version"] or e["version"] for e in chosen])
    out.update(scan_entries(chosen, blamed_module, arch=arch))
    return out


def _dkms(run, kernel):
    rc, out, err = run(["dkms", "status"])
    if rc is None:
        return {"available": False, "kernel": kernel, "modules": [], "not_ready": []}
    if rc != 0:
        return {"available": True, "kernel": kernel, "modules": [], "not_ready": [],
                "error": "dkms status failed (rc %s): %s" % (rc, _one_line(err))}
    result = dkms_readiness(parse_dkms_status(out), kernel)
    result.update(available=True, kernel=kernel, status_lines=out.splitlines()[:200])
    return result


def probe(pkg_family, run, read_text, running_release, machine, metapackage=None, version=None,
          target_release=None, blamed_module=None, arch=None):
    """Running vs installed vs available kernels, the changelog findings and DKMS readiness for the target."""
    if pkg_family not in DEFAULT_METAPACKAGE:
        raise KernelPackageError("pkg_family must be debian or redhat, not %r" % (pkg_family,))
    if blamed_module:
        try:
            module_pattern(blamed_module)
        except ChangelogError as exc:
            raise KernelPackageError(str(exc)) from None
    metapackage = metapackage or DEFAULT_METAPACKAGE[pkg_family]
    try:
        if pkg_family == "debian":
            kernels, meta = _debian_packages(run, metapackage, version)
        else:
            kernels, meta = _redhat_packages(run, metapackage, version, machine)
    except VersionError as exc:
        raise KernelPackageError(str(exc)) from None
    installed = [k for k in kernels if k["installed"]]
    by_release = dict((k["release"], k) for k in installed)
    latest = newest(pkg_family, installed)
    if target_release:
        target = by_release.get(target_release)
        if target is None:
            raise KernelPackageError("unknown kernel version %s: it is not installed (installed: %s)" % (
                target_release, ", ".join(sorted(by_release)) or "none"))
    else:
        target = latest
    running = by_release.get(running_release)
    reboot, why = reboot_decision(running_release, latest["release"] if latest else None, by_release)
    meta["upgradable"] = bool(meta["wanted"]) and meta["wanted"] != meta["installed"] and (
        meta["wanted_release"] not in by_release)
    result = {
        "pkg_family": pkg_family,
        "running": {"release": running_release, "package": running["package"] if running else None,
                    "version": running["version"] if running else None},
        "installed": sorted(kernels, key=lambda k: k["release"]),
        "newest_installed": latest,
        "metapackage": meta,
        "target": target,
        "reboot_required": reboot,
        "reboot_reason": why,
        "broken": [k for k in kernels if not k["installed"]],
    }
    if target is None:
        result["changelog"] = {"status": "missing", "reason": "no installed kernel package"}
        result["dkms"] = _dkms(run, None)
        return result
    if running is not None and running is not target:
        after = running["version"]
    else:
        older = [k for k in installed if k is not target and compare(pkg_family, k["version"], target["version"]) < 0]
        prev = newest(pkg_family, older)
        after = prev["version"] if prev else None
    result["changelog"] = _changelog(pkg_family, run, read_text, target, after, blamed_module, arch)
    result["dkms"] = _dkms(run, target["release"])
    return result
