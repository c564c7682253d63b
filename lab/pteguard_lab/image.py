"""Build (once) and cache the lab's Debian 12 image.

The cache lives in $PTEGUARD_LAB_CACHE (default /var/cache/pteguard-lab). Each image
sits in images/<key>/ where key is a hash of the build inputs (the build script and
the test-only kernel module's source), so a changed input builds a new image and an
unchanged one is reused at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .util import LabError, require_tools, tail_file

IMAGE_FORMAT = "1"
DEFAULT_CACHE = "/var/cache/pteguard-lab"
BUILD_TIMEOUT = 1800.0
LOCK_TIMEOUT = 2400.0


def lab_assets() -> Path:
    """The lab/ assets directory (build script, kernel module, guest helpers)."""
    env = os.environ.get("PTEGUARD_LAB_ASSETS")
    if env:
        return Path(env)
    # the lab is installed editable from the checkout (scripts/setup --test): its distribution folder, lab/,
    # holds the package and the assets side by side
    here = Path(__file__).resolve().parent.parent
    if not (here / "build-image.sh").is_file():
        raise LabError("lab assets not found at %s (install the lab with `pip install -e lab/` from a checkout, or "
                       "set PTEGUARD_LAB_ASSETS to the checkout's lab/ folder)" % here)
    return here


def cache_dir() -> Path:
    """The image cache directory: $PTEGUARD_LAB_CACHE or /var/cache/pteguard-lab."""
    return Path(os.environ.get("PTEGUARD_LAB_CACHE") or DEFAULT_CACHE)


def build_inputs(assets: Path) -> list[Path]:
    """Files whose content defines the image (guest helpers are pushed at run time instead)."""
    files = [assets / "build-image.sh"]
    files += sorted(p for p in (assets / "kmod").iterdir() if p.is_file() and p.suffix in (".c", ".h", ""))
    return files


def inputs_key(assets: Path) -> str:
    """Hash of the build inputs: the cache key."""
    digest = hashlib.sha256(IMAGE_FORMAT.encode())
    for path in build_inputs(assets):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Image:
    """A built lab image in the cache."""

    root: Path

    @property
    def disk(self) -> Path:
        return self.root / "disk.qcow2"

    @property
    def kernel(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.root / "initrd.img"

    @property
    def rootfs(self) -> Path:
        return self.root / "rootfs"

    @property
    def ssh_key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def module_ko(self) -> Path:
        return self.root / "pteguard_testmod.ko"

    @property
    def kernel_version(self) -> str:
        return (self.root / "kernel-version").read_text().strip()

    def complete(self) -> bool:
        return (self.root / "manifest.json").is_file() and self.disk.is_file() and self.kernel.is_file()


def find_mirror() -> str:
    """The Debian bookworm mirror the host's apt already uses (or $PTEGUARD_LAB_MIRROR)."""
    env = os.environ.get("PTEGUARD_LAB_MIRROR")
    if env:
        return env
    sources: list[Path] = [Path("/etc/apt/sources.list")]
    ddir = Path("/etc/apt/sources.list.d")
    if ddir.is_dir():
        sources += sorted(ddir.iterdir())
    for path in sources:
        try:
            text = path.read_text(errors="replace")
        except OSError:
            continue
        if path.suffix == ".sources":
            for para in re.split(r"\n\s*\n", text):
                fields = dict(
                    (m.group(1).lower(), m.group(2).split())
                    for m in re.finditer(r"^([A-Za-z-]+):\s*(.*)$", para, re.M)
                )
                if "bookworm" in fields.get("suites", []) and "main" in fields.get("components", []):
                    for uri in fields.get("uris", []):
                        if "security" not in uri:
                            return uri
        else:
            for line in text.splitlines():
                parts = line.split("#", 1)[0].split()
                if len(parts) >= 4 and parts[0] == "deb" and "bookworm" in parts[2:3]:
                    uri = next((p for p in parts[1:] if "://" in p), "")
                    if uri and "security" not in uri:
                        return uri
    raise LabError("no Debian bookworm mirror found in the host's apt sources; set PTEGUARD_LAB_MIRROR")


class _CacheLock:
    """An exclusive flock on the cache, waited for with a deadline."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.fh = None

    def __enter__(self) -> "_CacheLock":
        self.fh = open(self.path, "a+")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if time.monotonic() > deadline:
                    self.fh.close()
                    raise LabError("another lab image build holds %s for too long" % self.path)
                time.sleep(1)

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def get_image(
    build: bool = True,
    force: bool = False,
    log: Callable[[str], None] = print,
    timeout: float = BUILD_TIMEOUT,
) -> Image:
    """Return the cached image for the current inputs, building it first if needed.

    With build=False a missing image is an error instead of a build.
    """
    assets = lab_assets()
    key = inputs_key(assets)
    cache = cache_dir()
    image = Image(cache / "images" / key)
    if image.complete() and not force:
        return image
    if not build:
        raise LabError("no lab image for inputs %s in %s: run `pteguard-lab build`" % (key, cache))
    if os.geteuid() != 0:
        raise LabError("building the lab image needs root (debootstrap, chroot)")
    require_tools("debootstrap", "mke2fs", "qemu-img", "ssh-keygen", "unshare", "chroot")
    (cache / "images").mkdir(parents=True, exist_ok=True)
    with _CacheLock(cache / ".lock", LOCK_TIMEOUT):
        if image.complete() and not force:
            return image
        return _build(assets, image, timeout, log)


def _build(assets: Path, image: Image, timeout: float, log: Callable[[str], None]) -> Image:
    mirror = find_mirror()
    tmp = image.root.with_name(image.root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # Build from a copy of the inputs: what was hashed is what gets built.
    src = tmp / "src"
    shutil.copytree(assets, src, ignore=shutil.ignore_patterns("*.ko", "*.o", "*.mod*", ".*"))
    started = time.monotonic()
    log("building lab image %s from %s (takes a few minutes, cached afterwards)" % (image.root.name, mirror))
    logfile = tmp / "build.log"
    with open(logfile, "w") as out:
        try:
            proc = subprocess.run(
                ["bash", str(src / "build-image.sh"), str(tmp), mirror],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                start_new_session=True,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise LabError("image build timed out after %.0fs; log: %s" % (timeout, logfile)) from exc
    if proc.returncode != 0:
        raise LabError("image build failed (rc=%d); log: %s\n%s" % (proc.returncode, logfile, tail_file(logfile)))
    seconds = time.monotonic() - started
    manifest = {
        "key": image.root.name,
        "mirror": mirror,
        "kernel": (tmp / "kernel-version").read_text().strip(),
        "build_seconds": round(seconds, 1),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    if image.root.exists():
        shutil.rmtree(image.root)
    tmp.rename(image.root)
    log("lab image built in %.0fs: %s" % (seconds, image.root))
    return image
