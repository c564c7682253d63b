"""systemd-nspawn containers from the lab rootfs, for fast role-logic tests.

A container boots the image's systemd with a throw-away overlay
(--volatile=overlay: the cached rootfs is never written), shares the host's
network and kernel, and runs sshd on its own 127.0.0.N address and port.
NEVER inject faults into a container: its kernel is the host's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .image import Image
from .util import LabError, LiveGuests, free_port, pid_alive, require_tools, run, tail_file

BOOT_TIMEOUT = 60.0

_live = LiveGuests()
_addr_lock = threading.Lock()
_next_addr = [10]


def next_loopback_address() -> str:
    """127.0.0.N addresses handed out in turn (N from 10 to 250)."""
    with _addr_lock:
        n = _next_addr[0]
        _next_addr[0] = 10 + (n - 9) % 240
    return "127.0.0.%d" % n


@dataclass
class Container:
    """One nspawn lab container (host kernel!)."""

    name: str
    image_root: str
    workdir: str
    address: str
    port: int
    pid: int | None = None
    started_at: float | None = None
    # None boots systemd (the usual lab host); an argv runs that as PID 1 instead, for hosts without systemd
    init: list[str] | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    @classmethod
    def create(cls, image: Image, name: str, workdir: Path | str, address: str | None = None,
               init: list[str] | None = None) -> "Container":
        require_tools("systemd-nspawn", "ssh")
        if not image.rootfs.is_dir():
            raise LabError("image %s has no rootfs directory for containers" % image.root)
        wd = Path(workdir) / name
        wd.mkdir(parents=True, exist_ok=True)
        address = address or next_loopback_address()
        return cls(name=name, image_root=str(image.root), workdir=str(wd), address=address,
                   port=free_port(address), init=init)

    @property
    def image(self) -> Image:
        return Image(Path(self.image_root))

    @property
    def wd(self) -> Path:
        return Path(self.workdir)

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("name", "image_root", "workdir", "address", "port", "pid", "started_at",
                                              "init")}

    @classmethod
    def from_dict(cls, data: dict) -> "Container":
        return cls(**data)

    def nspawn_argv(self) -> list[str]:
        listen = self.wd / "sshd-listen.conf"
        listen.write_text("ListenAddress %s:%d\n" % (self.address, self.port))
        hostname = self.wd / "hostname"
        hostname.write_text(self.name + "\n")
        argv = [
            "systemd-nspawn", "--quiet", "--volatile=overlay", "--register=no", "--keep-unit",
            "--directory", str(self.image.rootfs), "--machine", "pteguard-lab-%s" % self.name,
            "--hostname", self.name, "--console=passive",
            "--bind-ro=%s:/etc/ssh/sshd_config.d/20-pteguard-lab-listen.conf" % listen,
            "--bind-ro=%s:/etc/hostname" % hostname,
        ]
        return argv + (["--boot"] if self.init is None else ["--"] + list(self.init))

    def start(self, detach: bool = False) -> None:
        if self.running():
            return
        log = open(self.wd / "nspawn.log", "w")
        try:
            self._proc = subprocess.Popen(self.nspawn_argv(), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise LabError("cannot start systemd-nspawn: %s" % exc) from exc
        finally:
            log.close()
        self.pid = self._proc.pid
        self.started_at = time.time()
        if not detach:
            _live.add(self)

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid is not None and pid_alive(self.pid)

    def ssh_argv(self, command: str) -> list[str]:
        img = self.image
        return [
            "ssh", "-F", "/dev/null", "-i", str(img.ssh_key), "-p", str(self.port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=%s" % img.known_hosts,
            "-o", "HostKeyAlias=pteguard-lab", "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=5",
            "-o", "LogLevel=ERROR", "-o", "ControlPath=none", "root@%s" % self.address, command,
        ]

    def ssh(self, command: str, timeout: float = 60.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        try:
            return run(self.ssh_argv(command), timeout=timeout, check=check)
        except LabError as exc:
            raise LabError("[%s] %s" % (self.name, exc)) from None

    def wait_ssh(self, timeout: float = BOOT_TIMEOUT) -> float:
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise LabError("container %s exited:\n%s" % (self.name, tail_file(self.wd / "nspawn.log")))
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError("container %s: no SSH on %s:%d after %.0fs\n%s"
                               % (self.name, self.address, self.port, timeout, tail_file(self.wd / "nspawn.log")))
            try:
                proc = subprocess.run(self.ssh_argv("true"), stdin=subprocess.DEVNULL, capture_output=True,
                                      timeout=min(10, left + 1), check=False)
                if proc.returncode == 0:
                    return time.time() - (self.started_at or time.time())
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)

    def stop(self, timeout: float = 20.0) -> None:
        """Orderly shutdown (SIGTERM makes nspawn halt the container), then SIGKILL."""
        if self.running() and self.pid:
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.pid, sig) if sig == signal.SIGKILL else os.kill(self.pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait
                while time.monotonic() < deadline and self.running():
                    time.sleep(0.2)
                if not self.running():
                    break
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _live.discard(self)
        if self.running():
            raise LabError("container %s (pid %s) did not stop" % (self.name, self.pid))


def run_in_container(ct: Container, command: str, timeout: float = 60.0) -> str:
    """Convenience: stdout of a command run in the container over SSH."""
    return ct.ssh(command, timeout=timeout).stdout
