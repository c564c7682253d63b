"""Small bounded helpers for the lab: subprocesses with timeouts, free ports, deadlines."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


class LabError(Exception):
    """A lab step failed; the message says what and how to fix it (no traceback needed)."""


def require_tools(*tools: str) -> None:
    """Raise LabError naming every host tool missing from PATH."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise LabError(
            "missing host tools: %s (Debian packages: qemu-system-x86 qemu-utils debootstrap "
            "systemd-container e2fsprogs openssh-client)" % ", ".join(missing)
        )


def run(
    argv: Sequence[str],
    timeout: float,
    check: bool = True,
    input_text: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run argv with a hard timeout; return the completed process (text output).

    Raises LabError (not a traceback) when the command is missing, times out or,
    with check=True, exits non-zero.
    """
    try:
        proc = subprocess.run(
            list(argv),
            input=input_text,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            stdin=None if input_text is not None else subprocess.DEVNULL,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LabError("command not found: %s" % argv[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError("timed out after %ss: %s" % (timeout, " ".join(argv)[:300])) from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip()[-1500:]
        raise LabError("command failed (rc=%d): %s\n%s" % (proc.returncode, " ".join(argv)[:300], tail))
    return proc


_port_lock = threading.Lock()
_ports_given: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on host right now, never the same one twice in this process."""
    for _attempt in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        with _port_lock:
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise LabError("could not find a free TCP port on %s" % host)


def wait_until(pred: Callable[[], T], timeout: float, interval: float = 0.5, what: str = "condition") -> T:
    """Poll pred() until it returns a truthy value or the wall-clock deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise LabError("timed out after %.0fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def pid_alive(pid: int) -> bool:
    """True if a process with this pid exists (and is not a zombie)."""
    try:
        with open("/proc/%d/stat" % pid, encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def tail_file(path: os.PathLike[str] | str, lines: int = 30) -> str:
    """Last lines of a text file, or '' when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return "".join(fh.readlines()[-lines:])
    except OSError:
        return ""


class LiveGuests:
    """Guests (VMs, containers) started by this process, stopped at interpreter exit if still running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._guests: dict[int, object] = {}
        atexit.register(self.stop_all)

    def add(self, guest: object) -> None:
        with self._lock:
            self._guests[id(guest)] = guest

    def discard(self, guest: object) -> None:
        with self._lock:
            self._guests.pop(id(guest), None)

    def stop_all(self) -> None:
        with self._lock:
            guests = list(self._guests.values())
        for guest in guests:
            try:
                guest.stop(timeout=5)
            except Exception:  # noqa: BLE001 - best effort at interpreter exit
                pass
