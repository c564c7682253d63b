"""Fixtures for the hw_monitor role tests: real ansible-playbook runs against real Debian 12 systemd hosts.

The hosts are the lab's systemd-nspawn containers (pteguard_lab.container) booted from the cached lab image's
rootfs with a throw-away overlay: Debian 12 with systemd and sshd on its own 127.0.0.N address. They share the
host's network and kernel, so nothing here may reach beyond loopback (the role installs nothing the image
lacks: apt is never asked to download) and rasdaemon cannot trace inside them (the role must say so).

Without root, systemd-nspawn or a cached image the tests skip with the reason; PTEGUARD_LAB_REQUIRED=1 turns
the skip into a failure (CI). Every subprocess has a timeout; containers are stopped even when tests fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin"
PLAYBOOK = REPO / "playbooks" / "hw_monitor.yml"
PLAYBOOK_TIMEOUT = 300.0
TIMINGS: dict[str, list[float]] = {}


def _record(key: str, seconds: float) -> None:
    TIMINGS.setdefault(key, []).append(seconds)


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "lab: real-kernel lab tests (QEMU guests, nspawn containers; root)")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if TIMINGS:
        terminalreporter.write_sep("-", "hw_monitor role timings (seconds)")
        for key, values in TIMINGS.items():
            terminalreporter.write_line("%-28s n=%-3d min %6.1f  max %6.1f" % (key, len(values), min(values),
                                                                               max(values)))


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "systemd-nspawn containers need root"
    missing = [t for t in ("systemd-nspawn", "ssh") if shutil.which(t) is None]
    if missing:
        return "missing host tools: %s (apt: systemd-container openssh-client)" % ", ".join(missing)
    return None


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("PTEGUARD_LAB_REQUIRED") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def lab_image():
    """The lab image for the current inputs, else the newest complete cached one (its rootfs is all we need)."""
    reason = _unavailable()
    if reason:
        _skip_or_fail(reason)
    try:
        from pteguard_lab.image import Image, cache_dir, get_image
        from pteguard_lab.util import LabError
    except ImportError as exc:  # pragma: no cover - the lab package is part of this repository
        _skip_or_fail("pteguard_lab is not importable (scripts/setup --test installs it): %s" % exc)
    try:
        return get_image(build=False)
    except LabError:
        pass
    images = cache_dir() / "images"
    candidates = []
    if images.is_dir():
        for root in images.iterdir():
            image = Image(root)
            if image.complete() and image.rootfs.is_dir() and image.ssh_key.is_file():
                candidates.append((root.stat().st_mtime, image))
    if not candidates:
        _skip_or_fail("no lab image in %s: run `pteguard-lab build` first" % images)
    return max(candidates, key=lambda c: c[0])[1]


@pytest.fixture(scope="session")
def hwm_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("hw_monitor")


@pytest.fixture(scope="session")
def ansible_env(hwm_tmp):
    """Throwaway ANSIBLE_HOME; the collection is the working tree (symlink farm), not an installed copy."""
    farm = hwm_tmp / "collections"
    (farm / "ansible_collections" / "pteguard").mkdir(parents=True)
    (farm / "ansible_collections" / "pteguard" / "remediation").symlink_to(REPO)
    home = hwm_tmp / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
    env.update({
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(farm),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "hwm_json",
        "ANSIBLE_CALLBACK_PLUGINS": str(Path(__file__).resolve().parent / "callback_plugins"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": str(VENV_BIN) + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


class Host:
    """A booted container plus what ansible-playbook and testinfra need to reach it."""

    def __init__(self, ct, image, workdir: Path):
        self.ct = ct
        self.image = image
        self.workdir = workdir
        self.inventory = workdir / "inventory.yml"
        self.ssh_config = workdir / "ssh_config"
        ssh_opts = [
            "-F", "/dev/null", "-o", "IdentitiesOnly=yes", "-o", "UserKnownHostsFile=%s" % image.known_hosts,
            "-o", "HostKeyAlias=pteguard-lab", "-o", "StrictHostKeyChecking=yes",
            "-o", "ConnectTimeout=10",
        ]
        self.inventory.write_text(json.dumps({"all": {"hosts": {"labct": {
            "ansible_host": ct.address,
            "ansible_port": ct.port,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(image.ssh_key),
            "ansible_ssh_common_args": " ".join(ssh_opts),
            "ansible_python_interpreter": "/usr/bin/python3",
        }}}}, indent=1))
        self.ssh_config.write_text(
            "Host labct\n  HostName %s\n  Port %d\n  User root\n  IdentityFile %s\n  IdentitiesOnly yes\n"
            "  UserKnownHostsFile %s\n  HostKeyAlias pteguard-lab\n  StrictHostKeyChecking yes\n"
            "  ConnectTimeout 10\n" % (ct.address, ct.port, image.ssh_key, image.known_hosts))
        self._testinfra = None

    def sh(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.ct.ssh(command, timeout=60, check=check)

    @property
    def testinfra(self):
        if self._testinfra is None:
            import testinfra

            self._testinfra = testinfra.get_host("ssh://labct", ssh_config=str(self.ssh_config))
        return self._testinfra


class PlayResult:
    def __init__(self, proc: subprocess.CompletedProcess, seconds: float):
        self.proc = proc
        self.seconds = seconds
        try:
            self.data = json.loads(proc.stdout)
        except ValueError:
            self.data = None

    def explain(self) -> str:
        return "rc=%s\nstdout (tail):\n%s\nstderr (tail):\n%s" % (
            self.proc.returncode, self.proc.stdout[-6000:], self.proc.stderr[-3000:])

    @property
    def stats(self) -> dict:
        return (self.data or {}).get("stats", {}).get("labct", {})

    def task_results(self) -> dict:
        """Task name -> the host's result (last one when a name repeats)."""
        out = {}
        for play in (self.data or {}).get("plays", []):
            for task in play.get("tasks", []):
                res = task.get("hosts", {}).get("labct")
                if res is not None:
                    out[task["task"]["name"]] = res
        return out

    def changed_tasks(self) -> list[str]:
        return [name for name, res in self.task_results().items() if res.get("changed")]

    def facts(self) -> dict:
        """The hw_monitor_* facts the role set (from its set_fact results)."""
        facts: dict = {}
        for res in self.task_results().values():
            for key, value in (res.get("ansible_facts") or {}).items():
                if key.startswith("hw_monitor_"):
                    facts[key] = value
        return facts

    def messages(self) -> list[str]:
        return [res["msg"] for res in self.task_results().values() if isinstance(res.get("msg"), str)]


@pytest.fixture
def run_play(ansible_env):
    def _run(host: Host, check: bool = False, extra_vars: dict | None = None, label: str = "playbook run"):
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(host.inventory), str(PLAYBOOK)]
        if check:
            argv.append("--check")
        if extra_vars:
            argv += ["--extra-vars", json.dumps(extra_vars)]
        started = time.monotonic()
        try:
            proc = subprocess.run(argv, env=ansible_env, cwd=str(REPO), capture_output=True, text=True,
                                  timeout=PLAYBOOK_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired as exc:
            pytest.fail("ansible-playbook timed out after %ss: %s" % (PLAYBOOK_TIMEOUT, exc))
        seconds = time.monotonic() - started
        _record(label, seconds)
        return PlayResult(proc, seconds)

    return _run


# A host whose PID 1 is not systemd (a minimal container, a chroot-style image): sshd itself runs as PID 1.
SSHD_AS_INIT = ["/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"]


def _booted_host(lab_image, hwm_tmp, request, init=None):
    """A fresh Debian 12 container (its own overlay), stopped at teardown."""
    from pteguard_lab.container import Container

    name = "hwm-%s-%d" % (request.node.name[:24].replace("[", "-").replace("]", "").replace("_", "-"),
                          os.getpid() % 10000)
    workdir = hwm_tmp / name
    workdir.mkdir(parents=True, exist_ok=True)
    ct = Container.create(lab_image, name, workdir, init=init)
    started = time.monotonic()
    ct.start()
    try:
        ct.wait_ssh(60)
        _record("container boot to SSH", time.monotonic() - started)
        yield Host(ct, lab_image, workdir)
    finally:
        ct.stop()


@pytest.fixture
def lab_host(lab_image, hwm_tmp, request):
    """A freshly booted Debian 12 container with systemd as PID 1."""
    yield from _booted_host(lab_image, hwm_tmp, request)


@pytest.fixture
def lab_host_without_systemd(lab_image, hwm_tmp, request):
    """The same image with sshd as PID 1: no service manager at all."""
    yield from _booted_host(lab_image, hwm_tmp, request, init=SSHD_AS_INIT)
