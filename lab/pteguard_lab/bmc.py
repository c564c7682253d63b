"""A management controller for a lab guest, built from real parts on 127.0.0.1.

- ConsoleServer: an OpenSSH sshd whose only login runs a forced command, `socat STDIO UNIX-CONNECT:<serial socket>`,
  so an SSH client reads and types on the guest's serial console - the way OpenBMC serves the host console over SSH.
  Key authentication (the private key has a passphrase, the secret the role keeps in a vault); its own host key,
  written to a known_hosts file for the client to check.
- IpmiSim: OpenIPMI's `ipmi_sim` as the BMC, reached by `ipmitool -I lanplus -C 3` on a loopback UDP port, and by
  QEMU through `-device ipmi-bmc-extern` on its VM serial codec, so `chassis power reset` really resets the guest.
  (ipmitool's default cipher-suite discovery gets no answer from ipmi_sim 1.0.13: -C 3 is required.)

Usage (with pteguard_lab.grub_image.GrubVM):

    sim = IpmiSim.start(workdir)                     # before QEMU: the guest connects to it
    vm = GrubVM.create_grub(image, "g1", workdir, extra_args=sim.qemu_args())
    vm.start(); vm.wait_ssh()
    console = ConsoleServer.start(workdir, vm.serial_socket)
    ... console.port, console.client_key, console.passphrase, console.known_hosts; sim.port, sim.user, sim.password
    console.stop(); vm.stop(); sim.stop()
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .util import LabError, free_port, require_tools, run, tail_file

SSHD = "/usr/sbin/sshd"
START_TIMEOUT = 20.0


def _stop(proc: subprocess.Popen | None, timeout: float = 10.0) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _launch(argv: list[str], log: Path, port: int, what: str, cwd: Path | None = None) -> subprocess.Popen:
    """Start a lab daemon with its output in log; return once it listens on 127.0.0.1:port (else stop it)."""
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=str(cwd) if cwd else None)
    try:
        _wait_tcp("127.0.0.1", port, proc, log, what)
    except LabError:
        _stop(proc)
        raise
    return proc


def _listening(port: int) -> bool:
    """Whether a TCP socket listens on 127.0.0.1:port (read from /proc/net/tcp, without connecting to it)."""
    want = ":%04X" % port
    try:
        with open("/proc/net/tcp", encoding="ascii") as fh:
            next(fh)
            return any(f[1].endswith(want) and f[3] == "0A" for f in (line.split() for line in fh))
    except (OSError, StopIteration):
        return False


def _wait_tcp(host: str, port: int, proc: subprocess.Popen, log: Path, what: str) -> None:
    # No test connection: ipmi_sim takes any connection on its VM port for the guest, and after it closes the
    # simulator stops answering RMCP+ (seen with OpenIPMI 1.0.13 / 2.0.33).
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError("%s exited at once (rc=%s):\n%s" % (what, proc.returncode, tail_file(log)))
        if _listening(port):
            return
        time.sleep(0.2)
    raise LabError("%s did not listen on %s:%d within %.0fs" % (what, host, port, START_TIMEOUT))


@dataclass
class ConsoleServer:
    """sshd on 127.0.0.1:port serving one serial console socket."""

    workdir: Path
    port: int
    user: str
    client_key: Path
    passphrase: str
    known_hosts: Path
    host_key_alias: str = "pteguard-lab-bmc"
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @classmethod
    def start(cls, workdir: Path | str, serial_socket: Path | str) -> "ConsoleServer":
        require_tools(SSHD, "socat", "ssh-keygen")
        wd = Path(workdir) / "bmc-console"
        shutil.rmtree(wd, ignore_errors=True)
        wd.mkdir(parents=True)
        port = free_port()
        passphrase = secrets.token_urlsafe(12)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pteguard-lab-bmc", "-f", str(wd / "host_key")],
            timeout=30)
        run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "pteguard-lab-bmc-operator",
             "-f", str(wd / "operator_key")], timeout=30)
        forced = "socat STDIO UNIX-CONNECT:%s" % Path(serial_socket).resolve()
        pub = (wd / "operator_key.pub").read_text().strip()
        (wd / "authorized_keys").write_text('restrict,command="%s" %s\n' % (forced, pub))
        host_pub = " ".join((wd / "host_key.pub").read_text().split()[:2])
        (wd / "known_hosts").write_text("%s %s\n" % (cls.host_key_alias, host_pub))
        config = wd / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress 127.0.0.1:%d" % port,
            "HostKey %s" % (wd / "host_key"),
            "PidFile %s" % (wd / "sshd.pid"),
            "AuthorizedKeysFile %s" % (wd / "authorized_keys"),
            "AuthenticationMethods publickey",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin forced-commands-only",
            "AllowUsers root",
            "ForceCommand %s" % forced,
            "UsePAM no",
            "StrictModes no",
            "PermitTTY no",
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "AllowAgentForwarding no",
            "PermitTunnel no",
            "MaxSessions 2",
            "LogLevel VERBOSE",
            "",
        ]))
        for key in ("host_key", "operator_key"):
            os.chmod(wd / key, 0o600)
        proc = _launch([SSHD, "-D", "-e", "-f", str(config)], wd / "sshd.log", port, "console sshd")
        return cls(workdir=wd, port=port, user="root", client_key=wd / "operator_key", passphrase=passphrase,
                   known_hosts=wd / "known_hosts", _proc=proc)

    def stop(self) -> None:
        _stop(self._proc)


@dataclass
class IpmiSim:
    """OpenIPMI ipmi_sim: RMCP+ on 127.0.0.1:port (UDP), QEMU's BMC link on 127.0.0.1:vm_port (TCP)."""

    workdir: Path
    port: int
    vm_port: int
    user: str
    password: str
    _proc: subprocess.Popen | None = field(default=None, repr=False)

    @classmethod
    def start(cls, workdir: Path | str) -> "IpmiSim":
        require_tools("ipmi_sim", "ipmitool")
        wd = Path(workdir) / "bmc-ipmi"
        shutil.rmtree(wd, ignore_errors=True)
        (wd / "state").mkdir(parents=True)
        port, vm_port = free_port(), free_port()
        password = secrets.token_urlsafe(12)
        (wd / "lan.conf").write_text("\n".join([
            'name "pteguard-lab-bmc"',
            "set_working_mc 0x20",
            "  startlan 1",
            "    addr 127.0.0.1 %d" % port,
            "    priv_limit admin",
            "    allowed_auths_callback md5",
            "    allowed_auths_user md5",
            "    allowed_auths_operator md5",
            "    allowed_auths_admin md5",
            "    guid a123456789abcdefa123456789abcdef",
            "  endlan",
            "  serial 15 127.0.0.1 %d codec VM" % vm_port,
            '  user 2 true "admin" "%s" admin 10 md5' % password,
            "",
        ]))
        (wd / "bmc.emu").write_text("mc_setbmc 0x20\n"
                                    "mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr\n"
                                    "sel_enable 0x20 1000 0x0a\nmc_enable 0x20\n")
        proc = _launch(["ipmi_sim", "-c", str(wd / "lan.conf"), "-f", str(wd / "bmc.emu"), "-s", str(wd / "state"),
                        "-n"], wd / "ipmi_sim.log", vm_port, "ipmi_sim", cwd=wd)
        return cls(workdir=wd, port=port, vm_port=vm_port, user="admin", password=password, _proc=proc)

    def qemu_args(self) -> tuple[str, ...]:
        """QEMU arguments that connect the guest's BMC (an ISA KCS interface) to this simulator."""
        return ("-chardev", "socket,id=ipmi0,host=127.0.0.1,port=%d,reconnect=2" % self.vm_port,
                "-device", "ipmi-bmc-extern,id=bmc0,chardev=ipmi0",
                "-device", "isa-ipmi-kcs,bmc=bmc0")

    def ipmitool(self, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """Run ipmitool against the simulator (password through the environment, as the role does)."""
        env = dict(os.environ, IPMI_PASSWORD=self.password)
        return run(["ipmitool", "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", str(self.port),
                    "-U", self.user, "-E", "-N", "2", "-R", "3"] + list(args), timeout=timeout, check=False, env=env)

    def stop(self) -> None:
        _stop(self._proc)
