"""kernel_package_info on the lab image's recorded apt/dpkg outputs (tests/fixtures/kernel_update)."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_packages import (
    abi_release, parse_apt_policy_versions, parse_dnf_available, parse_dpkg_kernels, parse_metapackage_depends,
    parse_rpm_kernels,
)
from ansible_collections.pteguard.remediation.plugins.modules import kernel_package_info

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "kernel_update")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


def test_dpkg_kernels_from_the_lab_image():
    kernels = parse_dpkg_kernels(fixture("dpkg-query-linux-image-labimage.txt"))
    # the metapackage and the never-installed -unsigned/generic names are not kernels
    assert kernels == [{"package": "linux-image-6.1.0-50-amd64", "version": "6.1.176-1", "release": "6.1.0-50-amd64",
                        "status": "ii", "installed": True}]


@pytest.mark.parametrize("package,release", [
    ("linux-image-6.1.0-50-amd64", "6.1.0-50-amd64"), ("linux-image-6.1.0-50-amd64-unsigned", "6.1.0-50-amd64"),
    ("linux-image-unsigned-5.15.0-91-generic", "5.15.0-91-generic"), ("linux-image-amd64", None),
    ("linux-image-6.1.0-50-amd64-dbg", None), ("linux-image-generic", None),
])
def test_abi_release(package, release):
    assert abi_release(package) == release


def test_apt_policy_versions():
    text = fixture("apt-cache-policy-linux-image-amd64-buildhost.txt")
    assert parse_apt_policy_versions(text, "linux-image-amd64") == ["6.1.192-3", "6.1.176-1"]
    lab = fixture("apt-cache-policy-linux-image-amd64-labimage.txt")
    assert parse_apt_policy_versions(lab, "linux-image-amd64") == ["6.1.176-1"]
    assert parse_apt_policy_versions(lab, "other") == []


def test_metapackage_depends():
    assert parse_metapackage_depends(fixture("apt-cache-show-linux-image-amd64-labimage.txt")) == (
        "linux-image-6.1.0-50-amd64", "6.1.176-1")
    assert parse_metapackage_depends("Package: x\nVersion: 1\n") == (None, None)


def test_rpm_and_dnf_lines():
    # rpm prints one line per installed version and a sentence for a name that is not installed
    text = ("package kernel-core is not installed\n"
            "kernel\t0:5.14.0-427.13.1.el9_4\t5.14.0-427.13.1.el9_4.x86_64\n")
    assert parse_rpm_kernels(text) == [{"package": "kernel", "version": "5.14.0-427.13.1.el9_4",
                                        "release": "5.14.0-427.13.1.el9_4.x86_64", "status": "installed",
                                        "installed": True}]
    listing = ("Available Packages\n"
               "kernel.x86_64    5.14.0-427.13.1.el9_4    baseos\n"
               "kernel.x86_64    5.14.0-427.16.1.el9_4    baseos\n"
               "kernel-core.x86_64    5.14.0-503.1.1.el9_5    baseos\n")
    assert parse_dnf_available(listing, "kernel") == "5.14.0-427.16.1.el9_4"


class LabImage:
    """The lab image's Debian 12 as its package tools answered (recorded outputs), plus what a test changes."""

    def __init__(self, dkms=None):
        self.dkms = dkms
        self.calls = []
        self.outputs = {
            "dpkg-query": (0, fixture("dpkg-query-linux-image-labimage.txt"), ""),
            "apt-cache policy": (0, fixture("apt-cache-policy-linux-image-amd64-labimage.txt"), ""),
            "apt-cache show": (0, fixture("apt-cache-show-linux-image-amd64-labimage.txt"), ""),
            "dpkg --print-architecture": (0, "amd64\n", ""),
        }

    def get_bin_path(self, module, name, required=False, opt_dirs=None):
        if name == "dkms" and self.dkms is None:
            return None
        return "/usr/bin/%s" % name

    def run_command(self, module, args, **kwargs):
        assert isinstance(args, list), "argv lists only"
        assert kwargs.get("environ_update") == {"LC_ALL": "C"}
        self.calls.append(args)
        tool = os.path.basename(args[0])
        if tool == "dkms":
            return self.dkms
        for key, value in self.outputs.items():
            words = key.split()
            if tool == words[0] and args[1:len(words)] == words[1:]:
                return value
        raise AssertionError("unexpected command %r" % args)


def run(monkeypatch, capsys, host, args):
    def get_bin_path(module, *args, **kwargs):
        return host.get_bin_path(module, *args, **kwargs)

    def run_command(module, *args, **kwargs):
        return host.run_command(module, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(kernel_package_info, "read_text", lambda path: None)
    monkeypatch.setattr(kernel_package_info.os, "uname",
                        lambda: ("Linux", "labct", "6.1.0-50-amd64", "#1 SMP", "x86_64"))
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            kernel_package_info.main()
    return json.loads(capsys.readouterr().out)


def test_lab_image_is_up_to_date(monkeypatch, capsys):
    host = LabImage()
    out = run(monkeypatch, capsys, host, {"pkg_family": "debian"})
    assert out["changed"] is False
    assert out["running"] == {"release": "6.1.0-50-amd64", "package": "linux-image-6.1.0-50-amd64",
                              "version": "6.1.176-1"}
    assert out["metapackage"]["installed"] == "6.1.176-1"
    assert out["metapackage"]["wanted_release"] == "6.1.0-50-amd64"
    assert out["metapackage"]["upgradable"] is False
    assert out["reboot_required"] is False
    assert out["dkms"]["available"] is False
    assert out["changelog"]["status"] == "missing"
    assert out["arch"] == "amd64"
    assert host.calls, "the module asked the package tools"
    for call in host.calls:  # read-only commands only
        assert not set(call) & {"update", "install", "upgrade", "remove", "autoinstall"}, call


def test_unknown_version_is_one_clear_line(monkeypatch, capsys):
    out = run(monkeypatch, capsys, LabImage(), {"pkg_family": "debian", "version": "6.1.999-9"})
    assert out["failed"] is True
    assert out["msg"] == "unknown kernel version 6.1.999-9: apt knows linux-image-amd64 versions 6.1.176-1"


def test_unknown_target_release(monkeypatch, capsys):
    out = run(monkeypatch, capsys, LabImage(), {"pkg_family": "debian", "target_release": "6.9.0-1-amd64"})
    assert out["failed"] is True
    assert out["msg"] == "unknown kernel version 6.9.0-1-amd64: it is not installed (installed: 6.1.0-50-amd64)"


def test_unknown_metapackage(monkeypatch, capsys):
    host = LabImage()
    host.outputs["apt-cache policy"] = (0, "", "")  # apt prints nothing for a name it does not know
    out = run(monkeypatch, capsys, host, {"pkg_family": "debian", "metapackage": "linux-image-nope"})
    assert out["msg"] == ("the kernel metapackage linux-image-nope is unknown to apt on this host "
                          "(not in its package lists)")


def test_bad_blamed_module(monkeypatch, capsys):
    out = run(monkeypatch, capsys, LabImage(), {"pkg_family": "debian", "blamed_module": "nvme; reboot"})
    assert out["failed"] is True
    assert "not a kernel module name" in out["msg"]
