"""Fixtures for the kernel_update role tests: real ansible-playbook runs against the lab's Debian 12 nspawn containers.

The container plumbing is every role test's own (tests/roles/conftest.py, role_play.py). Each
container gets a local flat apt repository (`file:`, its only apt source: nothing leaves loopback) holding:

- SYNTHETIC kernel packages built here with dpkg-deb: `linux-image-6.1.0-90-amd64` 6.1.300-1 (a placeholder vmlinuz,
  a SYNTHETIC changelog from tests/fixtures/kernel_update, and /lib/modules/<release>/build pointing at the image's
  real 6.1.0-50 headers so DKMS really compiles against it) and the metapackage `linux-image-amd64` 6.1.300-1 that
  depends on it. They have no maintainer scripts: installing them changes no boot loader (a container has none);
- the real Debian 12 dkms package and what it needs beyond the image, downloaded once with the host's apt into
  $PTEGUARD_LAB_CACHE/kernel_update-debs/.

The container runs the host's kernel, so the role always sees "running kernel is not an installed package": a reboot
is needed, and the tests never allow one (the VM tier reboots: tests/lab/test_kernel_update_vm.py).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from kernel_update_support import NEW_RELEASE, NEW_VERSION, OLD_RELEASE
from role_play import PLAYBOOK_TIMEOUT, REPO, VENV_BIN, Host, PlayResult, record

PLAYBOOK = REPO / "playbooks" / "kernel_update.yml"
FIXTURES = REPO / "tests" / "fixtures" / "kernel_update"

DKMS_DEBS = ["dkms", "dpkg-dev", "libdpkg-perl", "patch", "lsb-release", "bzip2", "xz-utils"]
HELLO_C = """#include <linux/module.h>
static int __init h(void) { return 0; }
static void __exit g(void) { }
module_init(h);
module_exit(g);
MODULE_LICENSE("GPL");
"""


def _deb(out: Path, name: str, version: str, files: dict[str, bytes | str], depends: str = "",
         symlinks: dict[str, str] | None = None) -> None:
    root = out / ("%s_%s" % (name, version))
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    for rel, target in (symlinks or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).symlink_to(target)
    (root / "DEBIAN").mkdir(parents=True, exist_ok=True)
    control = ("Package: %s\nVersion: %s\nArchitecture: amd64\nMaintainer: pteguard tests <synthetic@example.invalid>\n"
               "Section: kernel\nPriority: optional\n%sDescription: SYNTHETIC kernel package for pteguard's "
               "kernel_update container tests\n" % (name, version, ("Depends: %s\n" % depends) if depends else ""))
    (root / "DEBIAN" / "control").write_text(control)
    subprocess.run(["dpkg-deb", "--root-owner-group", "-Zxz", "--build", str(root), str(out)], check=True,
                   capture_output=True, timeout=120)
    shutil.rmtree(root)


@pytest.fixture(scope="session")
def apt_repo(role_tmp) -> Path:
    """The flat repository directory: synthetic kernel packages plus the cached real dkms debs, indexed."""
    from pteguard_lab.image import cache_dir
    from pteguard_lab.kernel_repo import download, scan_packages

    cached = cache_dir() / "kernel_update-debs"
    if not all(list(cached.glob("%s_*.deb" % name)) for name in DKMS_DEBS):
        download(cached, DKMS_DEBS)
    repo = role_tmp / "kernel-repo"
    repo.mkdir()
    for name in DKMS_DEBS:
        shutil.copy2(sorted(cached.glob("%s_*.deb" % name))[-1], repo)
    changelog = (FIXTURES / "synthetic-linux-image-6.1.0-90-amd64-changelog.Debian.txt").read_bytes()
    abi = "linux-image-%s" % NEW_RELEASE
    _deb(repo, abi, NEW_VERSION, {
        "boot/vmlinuz-%s" % NEW_RELEASE: "SYNTHETIC kernel image placeholder\n",
        "lib/modules/%s/modules.order" % NEW_RELEASE: "",
        "usr/share/doc/%s/changelog.Debian.gz" % abi: gzip.compress(changelog, mtime=0),
    }, symlinks={"lib/modules/%s/build" % NEW_RELEASE: "/usr/src/linux-headers-%s" % OLD_RELEASE})
    _deb(repo, "linux-image-amd64", NEW_VERSION, {}, depends="%s (= %s)" % (abi, NEW_VERSION))
    scan_packages(repo)
    return repo


class KernelHost:
    """A lab container with the local repository as its only apt source and dkms installed."""

    def __init__(self, host):
        self.host = host
        self.ct = host.ct

    def sh(self, command: str, check: bool = True) -> str:
        return self.ct.ssh(command, timeout=300, check=check).stdout

    def packages(self) -> dict:
        out = self.sh("dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' 'linux-image-*'")
        return {f[0]: (f[1], f[2]) for f in (line.split() for line in out.splitlines()) if len(f) == 3}

    def state(self) -> str:
        """Everything the role could change: installed packages, DKMS trees and their modules, boot files."""
        return self.sh("dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' | sha256sum; "
                       "dkms status 2>&1; find /var/lib/dkms /lib/modules /boot -newer /etc/hostname 2>/dev/null "
                       "| sort | sha256sum; cat /boot/grub/grubenv 2>/dev/null | sha256sum")

    def add_dkms_module(self, name: str, broken: bool = False) -> None:
        """A DKMS module source tree, added (dkms add): a real tiny module, or one whose build fails (SYNTHETIC)."""
        make = "all:\n\tfalse\nclean:\n\ttrue\n" if broken else (
            "obj-m := %s.o\nall:\n\t$(MAKE) -C /lib/modules/$(KVER)/build M=$(CURDIR) modules\n"
            "clean:\n\ttrue\n" % name)
        conf = ('PACKAGE_NAME="%s"\nPACKAGE_VERSION="1.0"\nBUILT_MODULE_NAME[0]="%s"\n'
                'DEST_MODULE_LOCATION[0]="/updates/dkms"\nMAKE[0]="make KVER=${kernelver}"\nAUTOINSTALL="yes"\n'
                % (name, name))
        src = "/usr/src/%s-1.0" % name
        for fname, text in (("dkms.conf", conf), ("Makefile", make), ("%s.c" % name, HELLO_C)):
            proc = subprocess.run(self.ct.ssh_argv("mkdir -p %s && cat > %s/%s" % (src, src, fname)), input=text,
                                  text=True, capture_output=True, timeout=60, check=False)
            assert proc.returncode == 0, proc.stderr
        self.sh("dkms add %s/1.0" % name)


def _prepare(host, apt_repo: Path) -> KernelHost:
    from pteguard_lab.kernel_repo import push_apt_repo

    push_apt_repo(host.ct, sorted(apt_repo.iterdir()))
    kh = KernelHost(host)
    kh.sh("apt-get -q update && DEBIAN_FRONTEND=noninteractive apt-get -q -y --no-install-recommends install dkms")
    return kh


@pytest.fixture
def kernel_host(lab_host, apt_repo):
    return _prepare(lab_host, apt_repo)


class KernelPlay(PlayResult):
    def task(self, name: str) -> dict:
        """The result of the role's task with this name (task names carry the role's prefix)."""
        found = [res for full, res in self.task_results().items() if full.endswith(" : " + name)]
        assert len(found) == 1, "no task %r in %s" % (name, list(self.task_results()))
        return found[0]


@pytest.fixture
def role_playbook():
    return PLAYBOOK


@pytest.fixture
def play_class():
    return KernelPlay


@pytest.fixture
def run_play(run_play):
    """The role tests' runner, also given a KernelHost."""
    def _run(host, check: bool = False, extra_vars: dict | None = None) -> KernelPlay:
        return run_play(host.host if isinstance(host, KernelHost) else host, check=check, extra_vars=extra_vars)

    return _run


@pytest.fixture
def fleet(lab_image, role_tmp, apt_repo, request):
    """Three prepared containers in one inventory (hosts ku1, ku2, ku3), stopped at teardown."""
    from pteguard_lab.container import Container

    hosts, cts = [], []
    try:
        for i in (1, 2, 3):
            name = "ku%d-%d" % (i, os.getpid() % 10000)
            workdir = role_tmp / name
            workdir.mkdir(parents=True, exist_ok=True)
            ct = Container.create(lab_image, name, workdir)
            cts.append(ct)
            ct.start()
            ct.wait_ssh(60)
            hosts.append(_prepare(Host(ct, lab_image, workdir), apt_repo))
        inventory = role_tmp / ("fleet-%s.json" % request.node.name[:30])
        base = json.loads(hosts[0].host.inventory.read_text())["all"]["hosts"]["labct"]
        inventory.write_text(json.dumps({"all": {"hosts": {
            "ku%d" % (i + 1): dict(base, ansible_host=h.ct.address, ansible_port=h.ct.port)
            for i, h in enumerate(hosts)}}}))
        yield hosts, inventory
    finally:
        for ct in cts:
            ct.stop()


@pytest.fixture
def run_fleet(ansible_env):
    return lambda inventory, extra_vars: _run_fleet(ansible_env, inventory, extra_vars)


def _run_fleet(ansible_env, inventory: Path, extra_vars: dict) -> tuple[subprocess.CompletedProcess, dict]:
    argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), str(PLAYBOOK),
            "--extra-vars", json.dumps(extra_vars)]
    started = time.monotonic()
    proc = subprocess.run(argv, env=ansible_env, cwd=str(REPO), capture_output=True, text=True,
                          timeout=PLAYBOOK_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
    record("fleet playbook run", time.monotonic() - started)
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        data = {}
    return proc, data
