"""QEMU guests for the lab: overlay per VM, direct kernel boot, SSH on 127.0.0.1.

Every guest gets its own qcow2 overlay on the cached image, user-mode networking
with restrict=on (the guest reaches nothing; only the host's forwarded loopback port
reaches it), a serial console in a file, and QMP plus HMP monitors on unix sockets.
"""

from __future__ import annotations

import ctypes
import json
import os
import hashlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .image import Image, cache_dir
from .util import LabError, LiveGuests, free_port, pid_alive, require_tools, run, tail_file

QEMU = "qemu-system-x86_64"
CPU = "max,vendor=GenuineIntel,family=6,model=85,stepping=4"
BOOT_TIMEOUT = 240.0
KVM_PROBE_TIMEOUT = 25.0
_PR_SET_PDEATHSIG = 1

_live = LiveGuests()


def _die_with_parent() -> None:
    """preexec: the guest dies with the process that started it (in-process VMs only)."""
    os.setsid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


def kernel_cmdline(extra: str = "") -> str:
    """The guest kernel command line (panic=1 + -no-reboot: a panicking guest exits)."""
    base = "root=/dev/vda rw console=ttyS0,115200 panic=1 net.ifnames=0 mitigations=off"
    return (base + " " + extra).strip()


def probe_accel(image: Image) -> str:
    """'kvm' when KVM really boots this kernel, else 'tcg'. Cached per host boot.

    /dev/kvm may exist and still hang a guest, so the probe boots the lab kernel
    without a root disk: a working accelerator reaches "VFS: Unable to mount root
    fs", panics, and QEMU exits (panic=1, -no-reboot) well inside the deadline.
    Override with PTEGUARD_LAB_ACCEL=tcg|kvm.
    """
    forced = os.environ.get("PTEGUARD_LAB_ACCEL", "auto")
    if forced in ("tcg", "kvm"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    try:
        boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        boot_id = "unknown"
    cache_file = cache_dir() / ("accel-%s-%s" % (boot_id, image.root.name))
    try:
        cached = cache_file.read_text().strip()
        if cached in ("kvm", "tcg"):
            return cached
    except OSError:
        pass
    serial = image.root / ("kvm-probe-%d.log" % os.getpid())
    argv = [
        QEMU, "-accel", "kvm", "-cpu", CPU, "-m", "256", "-nodefaults", "-no-user-config",
        "-display", "none", "-no-reboot", "-kernel", str(image.kernel),
        "-append", "console=ttyS0 panic=1 root=/dev/nonexistent", "-serial", "file:%s" % serial,
    ]
    result = "tcg"
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    try:
        proc.wait(timeout=KVM_PROBE_TIMEOUT)
        if "Kernel panic" in tail_file(serial, 200):
            result = "kvm"
    except subprocess.TimeoutExpired:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        serial.unlink(missing_ok=True)
    try:
        cache_file.write_text(result + "\n")
    except OSError:
        pass
    return result


@dataclass
class VM:
    """One lab guest. Create with VM.create(), then start() and wait_ssh()."""

    name: str
    image_root: str
    workdir: str
    port: int
    accel: str = "tcg"
    memory_mb: int = 512
    extra_cmdline: str = ""
    pid: int | None = None
    started_at: float | None = None
    incoming: str | None = None
    _proc: subprocess.Popen | None = field(default=None, repr=False, compare=False)
    _master: subprocess.Popen | None = field(default=None, repr=False, compare=False)

    # --- construction and persistence ------------------------------------
    @classmethod
    def create(cls, image: Image, name: str, workdir: Path | str, accel: str | None = None,
               memory_mb: int = 512, extra_cmdline: str = "", template: "Template | None" = None) -> "VM":
        """A new VM with its own overlay in workdir/name (not started).

        With a template the overlay sits on the template's disk and start() restores
        the template's saved, already booted guest instead of booting.
        """
        require_tools(QEMU, "qemu-img", "ssh")
        wd = Path(workdir) / name
        wd.mkdir(parents=True, exist_ok=True)
        if len(str(wd / "qmp.sock")) > 100:
            raise LabError("lab work directory path too long for unix sockets: %s" % wd)
        overlay = wd / "overlay.qcow2"
        overlay.unlink(missing_ok=True)
        backing = template.disk if template else image.disk
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(backing), str(overlay)],
            timeout=60)
        if template:
            accel, memory_mb, extra_cmdline = template.accel, template.memory_mb, template.extra_cmdline
        return cls(name=name, image_root=str(image.root), workdir=str(wd), port=free_port(),
                   accel=accel or probe_accel(image), memory_mb=memory_mb, extra_cmdline=extra_cmdline,
                   incoming=str(template.state) if template else None)

    @property
    def image(self) -> Image:
        return Image(Path(self.image_root))

    @property
    def wd(self) -> Path:
        return Path(self.workdir)

    @property
    def serial_log(self) -> Path:
        return self.wd / "serial.log"

    @property
    def qmp_socket(self) -> Path:
        return self.wd / "qmp.sock"

    @property
    def hmp_socket(self) -> Path:
        return self.wd / "hmp.sock"

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in
                ("name", "image_root", "workdir", "port", "accel", "memory_mb", "extra_cmdline", "pid", "started_at",
                 "incoming")}

    @classmethod
    def from_dict(cls, data: dict) -> "VM":
        return cls(**data)

    # --- lifecycle ----------------------------------------------------------
    def qemu_argv(self) -> list[str]:
        accel = "kvm" if self.accel == "kvm" else "tcg,tb-size=256"
        img = self.image
        return [
            QEMU, "-name", "pteguard-lab-%s" % self.name,
            "-accel", accel, "-cpu", CPU, "-m", str(self.memory_mb), "-smp", "1",
            "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none",
            "-kernel", str(img.kernel), "-initrd", str(img.initrd),
            "-append", kernel_cmdline(self.extra_cmdline),
            "-drive", "file=%s,if=virtio,format=qcow2,cache=unsafe,discard=unmap" % (self.wd / "overlay.qcow2"),
            "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % self.port,
            "-device", "virtio-net-pci,netdev=net0",
            "-serial", "file:%s" % self.serial_log,
            "-qmp", "unix:%s,server=on,wait=off" % self.qmp_socket,
            "-monitor", "unix:%s,server=on,wait=off" % self.hmp_socket,
            "-no-reboot",
        ] + (["-incoming", "exec:cat %s" % shlex.quote(self.incoming)] if self.incoming else [])

    def start(self, detach: bool = False) -> None:
        """Start QEMU. detach=True lets the guest outlive this process (lab up)."""
        if self.running():
            return
        for sock in (self.qmp_socket, self.hmp_socket):
            sock.unlink(missing_ok=True)
        self.serial_log.unlink(missing_ok=True)
        qemu_log = open(self.wd / "qemu.log", "w")
        try:
            self._proc = subprocess.Popen(
                self.qemu_argv(), stdin=subprocess.DEVNULL, stdout=qemu_log, stderr=subprocess.STDOUT,
                preexec_fn=None if detach else _die_with_parent, start_new_session=detach,
            )
        except OSError as exc:
            raise LabError("cannot start %s: %s" % (QEMU, exc)) from exc
        finally:
            qemu_log.close()
        self.pid = self._proc.pid
        self.started_at = time.time()
        if not detach:
            _live.add(self)
        time.sleep(0.3)
        if not self.running():
            raise LabError("QEMU for %s exited at once:\n%s" % (self.name, tail_file(self.wd / "qemu.log")))
        if self.incoming:
            self._resume_restored()

    def _resume_restored(self, timeout: float = 60.0) -> None:
        """Wait for the saved state to load, then let the (saved while stopped) guest run."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                raise LabError("QEMU for %s exited while restoring its template:\n%s"
                               % (self.name, tail_file(self.wd / "qemu.log")))
            try:
                status = self.qmp("query-status")["status"]
                if status == "running":
                    return
                if status in ("paused", "postmigrate") and self.qmp("query-migrate").get("status") == "completed":
                    self.qmp("cont")
                    continue
            except LabError:
                pass
            time.sleep(0.2)
        raise LabError("VM %s: restoring its template did not finish in %.0fs" % (self.name, timeout))

    def running(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid is not None and pid_alive(self.pid) and self._is_our_qemu()

    def _is_our_qemu(self) -> bool:
        try:
            cmd = Path("/proc/%d/cmdline" % self.pid).read_bytes().split(b"\0")
        except OSError:
            return False
        return ("pteguard-lab-%s" % self.name).encode() in cmd and str(self.wd).encode() in b" ".join(cmd)

    def wait_exit(self, timeout: float) -> bool:
        """Wait (bounded) for QEMU to exit on its own; True if it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                return True
            time.sleep(0.5)
        return False

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the guest and its SSH master; no QEMU process is left behind."""
        self.close_master()
        if self.running():
            try:
                self.qmp("quit", timeout=3)
            except LabError:
                pass
            if not self.wait_exit(min(timeout, 5.0)) and self.pid:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.kill(self.pid, sig)
                    except ProcessLookupError:
                        break
                    if self.wait_exit(timeout / 2):
                        break
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        _live.discard(self)
        if self.running():
            raise LabError("QEMU pid %s for %s did not stop" % (self.pid, self.name))

    # --- SSH ------------------------------------------------------------------
    def _ssh_base(self, control: str | None = None) -> list[str]:
        """ssh argv up to the destination; control is 'none', 'client' (use the master) or 'master'."""
        img = self.image
        if control is None:
            control = "client" if self._master is not None and self._master.poll() is None else "none"
        argv = [
            "ssh", "-F", "/dev/null", "-i", str(img.ssh_key), "-p", str(self.port),
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
            "-o", "UserKnownHostsFile=%s" % img.known_hosts, "-o", "HostKeyAlias=pteguard-lab",
            "-o", "StrictHostKeyChecking=yes", "-o", "ConnectTimeout=10",
            "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=6", "-o", "LogLevel=ERROR",
        ]
        ctl = str(self.wd / "ssh.ctl")
        if control == "client":
            argv += ["-o", "ControlPath=%s" % ctl, "-o", "ControlMaster=no"]
        elif control == "master":
            argv += ["-o", "ControlPath=%s" % ctl, "-o", "ControlMaster=yes", "-o", "ControlPersist=no", "-N"]
        else:
            argv += ["-o", "ControlPath=none"]
        return argv

    def ssh_argv(self, command: str) -> list[str]:
        return self._ssh_base() + ["root@127.0.0.1", command]

    def ssh(self, command: str, timeout: float = 60.0, check: bool = True,
            input_text: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a shell command in the guest as root (bounded)."""
        try:
            return run(self.ssh_argv(command), timeout=timeout, check=check, input_text=input_text)
        except LabError as exc:
            raise LabError("[%s] %s" % (self.name, exc)) from None

    def wait_ssh(self, timeout: float = BOOT_TIMEOUT, master: bool = True) -> float:
        """Wait (wall-clock deadline) until SSH answers; returns seconds since start()."""
        deadline = time.monotonic() + timeout
        while True:
            if not self.running():
                raise LabError("VM %s died while booting; serial tail:\n%s" % (self.name, tail_file(self.serial_log)))
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError("VM %s: no SSH on 127.0.0.1:%d after %.0fs; serial tail:\n%s"
                               % (self.name, self.port, timeout, tail_file(self.serial_log)))
            argv = self._ssh_base("none") + ["-o", "ConnectTimeout=5", "root@127.0.0.1", "true"]
            try:
                proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=min(20, left + 1),
                                      check=False)
                if proc.returncode == 0:
                    break
            except subprocess.TimeoutExpired:
                pass
            time.sleep(1)
        if master:
            self.open_master()
        if self.incoming:
            # A restored guest's clock stands where the template was saved.
            self.ssh("date -s @%d > /dev/null" % int(time.time()), check=False, timeout=30)
        return time.time() - (self.started_at or time.time())

    def close_master(self) -> None:
        """Drop the multiplexed SSH connection (e.g. before the guest reboots into another kernel)."""
        if self._master is not None and self._master.poll() is None:
            self._master.kill()
            self._master.wait(timeout=5)
        self._master = None
        (self.wd / "ssh.ctl").unlink(missing_ok=True)

    def open_master(self) -> None:
        """Keep one SSH connection open and multiplex later commands over it (faster under TCG)."""
        if self._master is not None and self._master.poll() is None:
            return
        ctl = self.wd / "ssh.ctl"
        ctl.unlink(missing_ok=True)
        argv = self._ssh_base("master") + ["root@127.0.0.1"]
        self._master = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self._master.poll() is None:
            if ctl.exists():
                return
            time.sleep(0.1)
        if self._master.poll() is None:
            self._master.kill()
            self._master.wait(timeout=5)
        self._master = None  # fall back to one connection per command

    # --- monitors --------------------------------------------------------------
    def qmp(self, execute: str, arguments: dict | None = None, timeout: float = 10.0) -> object:
        """Run one QMP command; returns its 'return' value."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.qmp_socket))
                fh = sock.makefile("rwb")
                json.loads(fh.readline())  # greeting
                for cmd in ({"execute": "qmp_capabilities"},
                            {"execute": execute, **({"arguments": arguments} if arguments else {})}):
                    fh.write(json.dumps(cmd).encode() + b"\n")
                    fh.flush()
                    for _line in range(1000):
                        line = fh.readline()
                        if not line:
                            if execute == "quit" and cmd["execute"] == "quit":
                                return None
                            raise LabError("QMP connection closed")
                        reply = json.loads(line)
                        if "return" in reply:
                            result = reply["return"]
                            break
                        if "error" in reply:
                            raise LabError("QMP %s failed: %s" % (cmd["execute"], reply["error"].get("desc")))
                    else:
                        raise LabError("QMP %s: no reply" % cmd["execute"])
                return result
        except (OSError, ValueError) as exc:
            raise LabError("[%s] QMP %s: %s" % (self.name, execute, exc)) from None

    def hmp(self, command: str, timeout: float = 10.0) -> str:
        """Run an HMP (human monitor) command through QMP; returns its output text."""
        out = self.qmp("human-monitor-command", {"command-line": command}, timeout=timeout)
        return str(out or "")

    def hmp_socket_command(self, command: str, timeout: float = 10.0) -> str:
        """Run an HMP command on the plain monitor socket (what a person would type)."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout)
                sock.connect(str(self.hmp_socket))
                buf = b""
                deadline = time.monotonic() + timeout
                while b"(qemu) " not in buf and time.monotonic() < deadline:
                    buf += sock.recv(4096)
                sock.sendall(command.encode() + b"\n")
                buf = b""
                while buf.count(b"(qemu) ") < 1 and time.monotonic() < deadline:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                return buf.decode(errors="replace")
        except OSError as exc:
            raise LabError("[%s] HMP %s: %s" % (self.name, command, exc)) from None

    # --- guest log ----------------------------------------------------------------
    def serial_text(self) -> str:
        try:
            return self.serial_log.read_text(errors="replace")
        except OSError:
            return ""

    def dmesg(self, timeout: float = 30.0) -> str:
        return self.ssh("dmesg", timeout=timeout).stdout

    def journal_kernel(self, timeout: float = 60.0) -> str:
        return self.ssh("journalctl -k -b --no-pager -o short-precise", timeout=timeout).stdout


@dataclass(frozen=True)
class Template:
    """A booted guest saved right after SSH answered: disk overlay plus migration state.

    Restoring it takes seconds instead of a boot. Cached next to the image, keyed by
    the QEMU version and everything that must match between save and restore.
    """

    root: Path
    accel: str
    memory_mb: int
    extra_cmdline: str

    @property
    def disk(self) -> Path:
        return self.root / "disk.qcow2"

    @property
    def state(self) -> Path:
        return self.root / "state.bin"

    def complete(self) -> bool:
        return (self.root / "ok").is_file() and self.disk.is_file() and self.state.is_file()


def snapshots_enabled() -> bool:
    return os.environ.get("PTEGUARD_LAB_SNAPSHOT", "1") != "0"


def _template_key(accel: str, memory_mb: int, extra_cmdline: str) -> str:
    version = run([QEMU, "--version"], timeout=30).stdout.splitlines()[0]
    text = "\0".join([version, accel, str(memory_mb), kernel_cmdline(extra_cmdline), CPU, "template-1"])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def get_template(image: Image, accel: str, memory_mb: int = 512, extra_cmdline: str = "",
                 workdir: Path | str | None = None, timeout: float = BOOT_TIMEOUT) -> Template:
    """The cached template for these settings, made (one boot) when missing."""
    import fcntl
    import tempfile

    key = _template_key(accel, memory_mb, extra_cmdline)
    tpl = Template(image.root / "templates" / key, accel, memory_mb, extra_cmdline)
    if tpl.complete():
        return tpl
    tpl.root.parent.mkdir(parents=True, exist_ok=True)
    with open(tpl.root.parent / (".lock-" + key), "a+") as lock:
        deadline = time.monotonic() + timeout + 120
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError("another process holds the lab template lock %s too long" % key) from None
                time.sleep(1)
        if tpl.complete():
            return tpl
        if workdir:
            Path(workdir).mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="tpl-", dir=workdir or None))
        vm = VM.create(image, "template", work, accel=accel, memory_mb=memory_mb, extra_cmdline=extra_cmdline)
        try:
            vm.start()
            vm.wait_ssh(timeout, master=False)
            vm.ssh("sync", timeout=60)
            tmp = tpl.root.with_name(key + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            vm.qmp("stop")
            vm.qmp("migrate", {"uri": "exec:cat > %s" % shlex.quote(str(tmp / "state.bin"))})
            end = time.monotonic() + 120
            status = ""
            while time.monotonic() < end:
                status = str((vm.qmp("query-migrate") or {}).get("status", ""))
                if status in ("completed", "failed", "cancelled"):
                    break
                time.sleep(0.2)
            if status != "completed":
                raise LabError("saving the lab template failed (migration %s)" % (status or "timed out"))
            vm.stop()
            shutil.move(str(vm.wd / "overlay.qcow2"), str(tmp / "disk.qcow2"))
            (tmp / "ok").write_text("%s\n" % time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
            shutil.rmtree(tpl.root, ignore_errors=True)
            tmp.rename(tpl.root)
        finally:
            vm.stop()
            shutil.rmtree(work, ignore_errors=True)
    return tpl


def boot_vms(image: Image, names: Sequence[str], workdir: Path | str, accel: str | None = None,
             timeout: float = BOOT_TIMEOUT, detach: bool = False, extra_cmdline: str = "",
             overrides: dict[str, dict] | None = None, snapshot: bool | None = None) -> list[VM]:
    """Create and boot several VMs in parallel; all answer SSH or all are stopped.

    overrides maps a VM name to VM.create keyword arguments (memory_mb, extra_cmdline).
    With snapshot (default: on unless PTEGUARD_LAB_SNAPSHOT=0) each distinct setting
    boots once into a cached template and every VM restores it (seconds, not a boot);
    a template that fails to restore is dropped and the VMs boot normally.
    """
    accel = accel or probe_accel(image)
    overrides = overrides or {}
    settings = {n: {"memory_mb": 512, "extra_cmdline": extra_cmdline, **overrides.get(n, {})} for n in names}
    templates: dict[str, Template] = {}
    if snapshot if snapshot is not None else snapshots_enabled():
        distinct = {(s["memory_mb"], s["extra_cmdline"]) for s in settings.values()}
        with ThreadPoolExecutor(max_workers=max(1, len(distinct))) as pool:
            made = dict(zip(distinct, pool.map(
                lambda ms: get_template(image, accel, ms[0], ms[1], workdir, timeout), distinct)))
        templates = {n: made[(s["memory_mb"], s["extra_cmdline"])] for n, s in settings.items()}
    try:
        return _boot(image, names, workdir, accel, timeout, detach, settings, templates)
    except LabError as exc:
        if not templates:
            raise
        print("pteguard-lab: restoring from templates failed (%s); booting normally" % str(exc).splitlines()[0],
              file=sys.stderr)
        for tpl in set(templates.values()):
            shutil.rmtree(tpl.root, ignore_errors=True)
        return _boot(image, names, workdir, accel, timeout, detach, settings, {})


def _boot(image: Image, names: Sequence[str], workdir: Path | str, accel: str, timeout: float, detach: bool,
          settings: dict[str, dict], templates: dict[str, Template]) -> list[VM]:
    vms = [VM.create(image, n, workdir, accel=accel, template=templates.get(n), **settings[n]) for n in names]
    try:
        for vm in vms:  # started from this thread: the parent-death signal follows it
            vm.start(detach=detach)
        with ThreadPoolExecutor(max_workers=max(1, len(vms))) as pool:
            list(pool.map(lambda v: v.wait_ssh(timeout if not v.incoming else 60, master=not detach), vms))
    except BaseException:
        stop_all(vms)
        raise
    return vms


def stop_all(vms: Iterable[VM]) -> list[str]:
    """Stop every VM; returns error messages instead of raising on the first."""
    errors = []
    for vm in vms:
        try:
            vm.stop()
        except LabError as exc:
            errors.append(str(exc))
    return errors
