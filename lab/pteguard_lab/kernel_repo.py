"""A newer Debian kernel for the GRUB guest, served as a local flat apt repository (for the kernel_update tests).

The lab images carry the kernel of bookworm/main (linux-image-amd64 6.1.176-1 -> 6.1.0-50-amd64 when this was
written); the host's apt also knows the newer one from bookworm-security. The metapackage at the host's candidate
version and the ABI package it depends on are downloaded once with `apt-get download` (the host's own apt sources,
no host name here) into $PTEGUARD_LAB_CACHE/kernel_update-repo/<metapackage version>/, indexed with
dpkg-scanpackages, and copied into the guest as a `file:` repository: the guest has no route out (restrict=on).

    repo = newer_kernel_repo(image_kernel="6.1.0-50-amd64")   # KernelRepo(dir, meta_version, abi_package, release)
    push_repo(vm, repo)                                         # /srv/pteguard-kernel-repo + sources.list in the guest
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .image import _CacheLock, cache_dir
from .util import LabError, run

METAPACKAGE = "linux-image-amd64"
GUEST_REPO = "/srv/pteguard-kernel-repo"
# apt reads this list only: the guest's usual mirror entry is moved away, since the guest cannot reach it
GUEST_SOURCES = "deb [trusted=yes] file:%s ./\n" % GUEST_REPO
DOWNLOAD_TIMEOUT = 900.0


@dataclass(frozen=True)
class KernelRepo:
    path: Path
    meta_version: str
    abi_package: str

    @property
    def release(self) -> str:
        return self.abi_package[len("linux-image-"):]

    def debs(self) -> list[Path]:
        return sorted(self.path.glob("*.deb"))


def _candidate() -> tuple[str, str]:
    """The host's candidate linux-image-amd64 version and the ABI package it depends on."""
    policy = run(["apt-cache", "policy", METAPACKAGE], timeout=60, env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"})
    m = re.search(r"^\s*Candidate:\s*(\S+)", policy.stdout, re.M)
    if not m or m.group(1) == "(none)":
        raise LabError("the host's apt knows no %s candidate (run apt-get update on the host)" % METAPACKAGE)
    version = m.group(1)
    show = run(["apt-cache", "show", "%s=%s" % (METAPACKAGE, version)], timeout=60)
    dep = re.search(r"^Depends:.*?\b(linux-image-[0-9][^\s,(]*)", show.stdout, re.M)
    if not dep:
        raise LabError("%s=%s names no ABI package in its Depends" % (METAPACKAGE, version))
    return version, dep.group(1)


def newer_kernel_repo(image_kernel: str) -> KernelRepo:
    """The cached repository of the host's candidate kernel; refused when it is the image's own kernel."""
    version, abi = _candidate()
    repo = KernelRepo(cache_dir() / "kernel_update-repo" / version, version, abi)
    if repo.release == image_kernel:
        raise LabError("the host's candidate kernel %s is the image's own kernel: nothing newer to install" % abi)
    repo.path.parent.mkdir(parents=True, exist_ok=True)
    with _CacheLock(repo.path.parent / ".lock", DOWNLOAD_TIMEOUT + 60):
        if not (repo.path / "Packages").is_file():
            tmp = repo.path.with_name(repo.path.name + ".tmp")
            tmp.mkdir(parents=True, exist_ok=True)
            download(tmp, ["%s=%s" % (METAPACKAGE, version), "%s=%s" % (abi, version)])
            scan_packages(tmp)
            tmp.rename(repo.path)
    if len(repo.debs()) != 2:
        raise LabError("%s should hold the metapackage and %s, found %s" % (repo.path, abi, repo.debs()))
    return repo


def _run_in(cwd: Path, argv: list[str], timeout: float) -> str:
    """Run argv in cwd (apt-get download and dpkg-scanpackages work in the current directory); its stdout."""
    try:
        proc = subprocess.run(argv, cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, env={"LC_ALL": "C", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError("%s: %s" % (argv[0], exc)) from None
    if proc.returncode != 0:
        raise LabError("%s failed (rc=%d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()[-800:]))
    return proc.stdout


def push_repo(vm, repo: KernelRepo, timeout: float = 600.0) -> None:
    """Copy the repository into the guest and make it the guest's only apt source."""
    push_apt_repo(vm, repo.debs() + [repo.path / "Packages"], timeout)


def push_apt_repo(guest, files: list[Path], timeout: float = 600.0) -> None:
    """Copy a flat repository's files (debs and their Packages index) into a VM or container (anything with
    ssh/ssh_argv) and make it that guest's only apt source: the usual mirror entry is moved aside, since a lab
    guest must not reach beyond loopback."""
    guest.ssh("rm -rf %s && mkdir -p %s" % (GUEST_REPO, GUEST_REPO), timeout=60)
    for path in files:
        with open(path, "rb") as fh:
            proc = subprocess.run(guest.ssh_argv("cat > %s/%s" % (GUEST_REPO, path.name)), stdin=fh,
                                  capture_output=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise LabError("copying %s into %s failed: %s" % (path.name, guest.name, proc.stderr[-500:]))
    guest.ssh("mkdir -p /etc/apt/pteguard-saved && (mv /etc/apt/sources.list /etc/apt/pteguard-saved/ 2>/dev/null; "
              "true) && printf '%s' > /etc/apt/sources.list.d/pteguard-kernel.list" % GUEST_SOURCES, timeout=60)


def scan_packages(directory: Path) -> None:
    """Write directory/Packages for the debs in it (dpkg-scanpackages, every version kept)."""
    (directory / "Packages").write_text(_run_in(directory, ["dpkg-scanpackages", "--multiversion", "."], 300))


def download(directory: Path, specs: list[str]) -> None:
    """apt-get download the packages (NAME or NAME=VERSION) into directory, with the host's own apt sources."""
    directory.mkdir(parents=True, exist_ok=True)
    _run_in(directory, ["apt-get", "download"] + specs, DOWNLOAD_TIMEOUT)
