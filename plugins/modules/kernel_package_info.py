#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: kernel_package_info
short_description: Running, installed and available kernels, changelog findings and DKMS state for a target kernel
version_added: "0.1.0"
description:
  - Reads, without changing anything, the running kernel, the installed kernel packages and what the package
    manager's local cache offers for the kernel metapackage (Debian C(linux-image-amd64), RHEL C(kernel)), for the
    apt (Debian, Ubuntu) and dnf (RHEL, Fedora) families.
  - Scans the target kernel package's changelog, between the running kernel's package version and the target's, for
    changes that touch memory management, page tables, DMA/IOMMU, or the kernel module the diagnosis blamed.
  - Reports the DKMS modules and whether each is built and installed for the target kernel (C(dkms status)).
  - Package lookups use local caches only (C(apt-cache), C(dpkg-query), C(rpm), C(dnf -C)); nothing touches the
    network. Used by the P(pteguard.remediation.kernel_update#role) role.
author:
  - pteguard maintainers (@pteguard)
attributes:
  check_mode:
    description: Read-only; it runs the same in check mode and never changes the host.
    support: full
  diff_mode:
    description: Nothing changes, so there is no diff.
    support: none
options:
  pkg_family:
    description: Package family of the host.
    type: str
    required: true
    choices: [debian, redhat]
  metapackage:
    description: The kernel metapackage; default C(linux-image-amd64) (debian) or C(kernel) (redhat).
    type: str
  version:
    description:
      - A metapackage version to plan for instead of the candidate. A version the package manager does not know
        fails with a one-line message naming the versions it knows.
    type: str
  target_release:
    description:
      - The installed kernel release (C(uname -r) form) whose changelog and DKMS state to read; default the newest
        installed kernel. A release that is not installed fails with a one-line message.
    type: str
  blamed_module:
    description: A kernel module the diagnosis blamed; changelog items naming it are reported (C(-) and C(_) match).
    type: str
  arch:
    description:
      - Debian architecture (for example C(amd64)); changelog items tagged for other architectures only are left out.
        Default the host's (C(dpkg --print-architecture)) on Debian, none on RedHat.
    type: str
"""

EXAMPLES = r"""
- name: Which kernels are running, installed and available?
  pteguard.remediation.kernel_package_info:
    pkg_family: debian
    blamed_module: nvme
  register: pteguard_kernels

- name: After installing, check the new kernel's DKMS modules and changelog
  pteguard.remediation.kernel_package_info:
    pkg_family: redhat
    target_release: 5.14.0-427.16.1.el9_4.x86_64
"""

RETURN = r"""
running:
  description: The running kernel's release and, when it came from an installed package, that package and version.
  returned: always
  type: dict
  sample: {"release": "6.1.0-50-amd64", "package": "linux-image-6.1.0-50-amd64", "version": "6.1.176-1"}
installed:
  description: Kernel packages on the host (C(installed) false for half-installed or half-configured ones).
  returned: always
  type: list
  elements: dict
  sample: [{"package": "linux-image-6.1.0-50-amd64", "version": "6.1.176-1", "release": "6.1.0-50-amd64",
            "status": "ii", "installed": true}]
newest_installed:
  description: The installed kernel with the highest package version (what the boot loader boots by default).
  returned: always
  type: dict
metapackage:
  description:
    - The metapackage's installed and candidate versions, the version planned for (C(wanted)), every version the
      package cache knows, the ABI package and kernel release the wanted version brings, and C(upgradable).
  returned: always
  type: dict
  sample: {"name": "linux-image-amd64", "installed": "6.1.176-1", "candidate": "6.1.192-3", "wanted": "6.1.192-3",
           "wanted_package": "linux-image-6.1.0-52-amd64", "wanted_release": "6.1.0-52-amd64", "upgradable": true}
target:
  description: The installed kernel whose changelog and DKMS state were read, or null when none is installed.
  returned: always
  type: dict
reboot_required:
  description: Whether the running kernel differs from the newest installed one.
  returned: always
  type: bool
reboot_reason:
  description: Why, in one sentence.
  returned: always
  type: str
changelog:
  description:
    - C(status) read, missing or unreadable; the entries between C(after) (exclusive) and C(upto) (inclusive), and
      the C(findings) ({version, areas, change}) touching page_tables, memory_management, dma or module:NAME, with
      counts C(by_area).
  returned: always
  type: dict
dkms:
  description:
    - C(available) (dkms installed), the C(kernel) checked, each module's state there and C(not_ready), the modules
      not installed for that kernel.
  returned: always
  type: dict
  sample: {"available": true, "kernel": "6.1.0-52-amd64", "not_ready": ["broken-mod/1.0 (not built)"]}
arch:
  description: The architecture used to leave out other architectures' changelog items, or null.
  returned: always
  type: str
  sample: amd64
broken:
  description: Kernel packages dpkg lists as half-installed or half-configured (an interrupted upgrade).
  returned: always
  type: list
  elements: dict
"""

import gzip
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_packages import KernelPackageError
from ansible_collections.pteguard.remediation.plugins.module_utils.kernel_probe import probe

MAX_CHANGELOG_BYTES = 64 * 1024 * 1024


def read_text(path):
    """A changelog's text (gzip decompressed), bounded, or None when absent or unreadable."""
    try:
        with open(path, "rb") as fh:
            magic = fh.read(2)
        opener = gzip.open if magic == b"\x1f\x8b" else open
        with opener(path, "rb") as fh:
            return fh.read(MAX_CHANGELOG_BYTES).decode("utf-8", "replace")
    except (OSError, EOFError):
        return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            pkg_family=dict(type="str", required=True, choices=["debian", "redhat"]),
            metapackage=dict(type="str"),
            version=dict(type="str"),
            target_release=dict(type="str"),
            blamed_module=dict(type="str"),
            arch=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    params = module.params

    def run(argv):
        binary = module.get_bin_path(argv[0])
        if binary is None:
            return None, "", "%s: not found" % argv[0]
        return module.run_command([binary] + argv[1:], environ_update={"LC_ALL": "C"})

    arch = params["arch"]
    if arch is None and params["pkg_family"] == "debian":
        rc, out, _err = run(["dpkg", "--print-architecture"])
        arch = out.strip() if rc == 0 and out.strip() else None
    uname = os.uname()
    try:
        result = probe(params["pkg_family"], run, read_text, uname[2], uname[4],
                       metapackage=params["metapackage"], version=params["version"],
                       target_release=params["target_release"], blamed_module=params["blamed_module"], arch=arch)
    except KernelPackageError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, arch=arch, **result)


if __name__ == "__main__":
    main()
