"""The lab's second image kind: a partitioned disk with GRUB installed, and guests that boot through it.

Direct kernel boot (the usual lab VM) ignores the guest's installed kernels and its GRUB menu; a test of
grub-reboot, memtest86+ or a kernel upgrade needs a disk that boots alone. Built without loop devices: the host
writes an MBR with one partition into a raw file (a few bytes of Python, no sfdisk), a direct-kernel guest of the
cached base image gets that file as its second virtio disk and, inside, copies itself onto it and runs
grub-install and update-grub (lab/grub-image-guest.sh); the host converts the file to qcow2.

Cached like the base image: $PTEGUARD_LAB_CACHE/grub-images/<key>/, key = hash of the base image's key, the guest
script and this format. Usage:

    from pteguard_lab.grub_image import get_grub_image, GrubVM
    image = get_grub_image()                       # builds once (~3-5 min under TCG), then reuses
    vm = GrubVM.create(image, "g1", workdir)       # its own overlay; serial on a unix socket + log
    vm.start(); vm.wait_ssh()                      # SeaBIOS -> GRUB -> the guest's own kernel
    vm.serial_socket                               # attach a console (socat) while vm.serial_log keeps everything

`pteguard-lab build --kind grub` builds it from the command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .image import Image, _CacheLock, cache_dir, get_image, lab_assets
from .util import LabError, run, tail_file
from .vm import BOOT_TIMEOUT, CPU, QEMU, VM

GRUB_FORMAT = "1"
DISK_BYTES = 4 * 1024 ** 3
FIRST_SECTOR = 2048
BUILD_TIMEOUT = 1500.0


def write_mbr(path: Path, size_bytes: int) -> None:
    """A sparse raw disk with an MBR holding one bootable Linux partition from sector 2048 to the end."""
    sectors = size_bytes // 512 - FIRST_SECTOR
    # LBA-only entry: CHS fields at their "beyond 8 GB" maximum, as fdisk writes them for large disks
    entry = bytes([0x80, 0xFE, 0xFF, 0xFF, 0x83, 0xFE, 0xFF, 0xFF]) + struct.pack("<II", FIRST_SECTOR, sectors)
    mbr = bytearray(512)
    mbr[440:444] = struct.pack("<I", random.getrandbits(32) or 1)
    mbr[446:462] = entry
    mbr[510:512] = b"\x55\xaa"
    with open(path, "wb") as fh:
        fh.truncate(size_bytes)
        fh.write(mbr)


@dataclass(frozen=True)
class GrubImage(Image):
    """A built GRUB disk: disk.qcow2 boots through its own GRUB; SSH key and host key are the base image's."""

    @property
    def grub_cfg(self) -> Path:
        """The grub.cfg update-grub wrote in the image (a copy, for tests that need a real one)."""
        return self.root / "grub.cfg"

    def complete(self) -> bool:
        return (self.root / "manifest.json").is_file() and self.disk.is_file() and self.grub_cfg.is_file()


def grub_key(base: Image, assets: Path) -> str:
    digest = hashlib.sha256(("grub-" + GRUB_FORMAT + "\0" + base.root.name + "\0").encode())
    digest.update((assets / "grub-image-guest.sh").read_bytes())
    return digest.hexdigest()[:16]


def get_grub_image(build: bool = True, force: bool = False, log: Callable[[str], None] = print,
                   base: Image | None = None, timeout: float = BUILD_TIMEOUT) -> GrubImage:
    """The cached GRUB image for the current base image and guest script, built first when missing."""
    assets = lab_assets()
    base = base or get_image(build=build, log=log)
    key = grub_key(base, assets)
    root = cache_dir() / "grub-images" / key
    image = GrubImage(root)
    if image.complete() and not force:
        return image
    if not build:
        raise LabError("no GRUB lab image %s in %s: run `pteguard-lab build --kind grub`" % (key, root.parent))
    if os.geteuid() != 0:
        raise LabError("building the GRUB lab image needs root")
    root.parent.mkdir(parents=True, exist_ok=True)
    with _CacheLock(root.parent / ".lock", timeout + 300):
        if image.complete() and not force:
            return image
        return _build(base, assets, image, timeout, log)


class _BuilderVM(VM):
    """A direct-kernel guest of the base image with the raw GRUB disk as its second virtio disk."""

    raw_disk: str = ""

    def qemu_argv(self) -> list[str]:
        argv = super().qemu_argv()
        return argv + ["-drive", "file=%s,if=virtio,format=raw,cache=unsafe" % self.raw_disk]


def _build(base: Image, assets: Path, image: GrubImage, timeout: float, log: Callable[[str], None]) -> GrubImage:
    tmp = image.root.with_name(image.root.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    started = time.monotonic()
    log("building GRUB lab image %s on base %s (a few minutes, cached afterwards)" % (image.root.name, base.root.name))
    raw = tmp / "disk.raw"
    write_mbr(raw, DISK_BYTES)
    vm = _BuilderVM.create(base, "grub-builder", tmp, accel="tcg", memory_mb=768)
    vm.raw_disk = str(raw)
    try:
        vm.start()
        vm.wait_ssh(BOOT_TIMEOUT, master=False)
        script = (assets / "grub-image-guest.sh").read_text()
        proc = vm.ssh("sh -s", timeout=timeout, input_text=script, check=False)
        (tmp / "guest-build.log").write_text(proc.stdout + "\n--- stderr ---\n" + proc.stderr)
        if proc.returncode != 0:
            raise LabError("GRUB install in the builder guest failed (rc=%d); log: %s\n%s"
                           % (proc.returncode, tmp / "guest-build.log", proc.stderr[-1500:]))
        out = proc.stdout
        begin, end = out.find("----- grub.cfg -----\n"), out.find("----- end grub.cfg -----")
        if begin < 0 or end < 0:
            raise LabError("the builder guest printed no grub.cfg; log: %s" % (tmp / "guest-build.log"))
        (tmp / "grub.cfg").write_text(out[begin + len("----- grub.cfg -----\n"):end])
        vm.ssh("sync; systemctl poweroff", timeout=30, check=False)
        vm.wait_exit(60)
    finally:
        vm.stop()
    run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(tmp / "disk.qcow2")], timeout=600)
    raw.unlink()
    for name in ("id_ed25519", "id_ed25519.pub", "known_hosts", "kernel-version"):
        shutil.copy2(base.root / name, tmp / name)
    shutil.rmtree(tmp / "grub-builder", ignore_errors=True)
    seconds = time.monotonic() - started
    (tmp / "manifest.json").write_text(json.dumps({
        "key": image.root.name, "kind": "grub", "base": base.root.name, "kernel": base.kernel_version,
        "build_seconds": round(seconds, 1), "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }, indent=2) + "\n")
    shutil.rmtree(image.root, ignore_errors=True)
    tmp.rename(image.root)
    log("GRUB lab image built in %.0fs: %s" % (seconds, image.root))
    return image


class GrubVM(VM):
    """A guest that boots its GRUB disk through SeaBIOS (no -kernel) and may reboot (no -no-reboot).

    The serial port is a unix socket (a console service attaches to it) with a log file that keeps everything;
    the monitors are the usual QMP/HMP sockets. extra_args add QEMU arguments (an IPMI BMC device, for example).
    """

    extra_args: tuple[str, ...] = ()

    @classmethod
    def create_grub(cls, image: GrubImage, name: str, workdir: Path | str, memory_mb: int = 512,
                    extra_args: tuple[str, ...] = ()) -> "GrubVM":
        vm = cls.create(image, name, workdir, accel=os.environ.get("PTEGUARD_LAB_ACCEL") or "tcg",
                        memory_mb=memory_mb)
        vm.extra_args = tuple(extra_args)
        return vm

    @property
    def serial_socket(self) -> Path:
        return self.wd / "serial.sock"

    def qemu_argv(self) -> list[str]:
        accel = "kvm" if self.accel == "kvm" else "tcg,tb-size=256"
        return [
            QEMU, "-name", "pteguard-lab-%s" % self.name,
            "-accel", accel, "-cpu", CPU, "-m", str(self.memory_mb), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
            "-drive", "file=%s,if=virtio,format=qcow2,cache=unsafe" % (self.wd / "overlay.qcow2"),
            "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % self.port,
            "-device", "virtio-net-pci,netdev=net0",
            "-chardev", "socket,id=s0,path=%s,server=on,wait=off,logfile=%s" % (self.serial_socket, self.serial_log),
            "-serial", "chardev:s0",
            "-qmp", "unix:%s,server=on,wait=off" % self.qmp_socket,
            "-monitor", "unix:%s,server=on,wait=off" % self.hmp_socket,
        ] + list(self.extra_args)

    def start(self, detach: bool = False) -> None:
        self.serial_socket.unlink(missing_ok=True)
        super().start(detach)

    def boot_id(self, timeout: float = 30.0) -> str:
        return self.ssh("cat /proc/sys/kernel/random/boot_id", timeout=timeout).stdout.strip()

    def serial_since(self, offset: int) -> str:
        """The serial log from byte offset on (what the console printed since then)."""
        try:
            with open(self.serial_log, "rb") as fh:
                fh.seek(offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def serial_size(self) -> int:
        try:
            return self.serial_log.stat().st_size
        except OSError:
            return 0


def describe(vm: GrubVM) -> str:
    """One line for logs: where its console and monitors are."""
    return "%s: ssh 127.0.0.1:%d, serial %s (log %s), qemu log tail:\n%s" % (
        vm.name, vm.port, vm.serial_socket, vm.serial_log, tail_file(vm.wd / "qemu.log", 5))
