"""Fixtures for every role test: real ansible-playbook runs against real Debian 12 systemd hosts.

The hosts are the lab's systemd-nspawn containers (pteguard_lab.container) booted from the cached lab image's
rootfs with a throw-away overlay: Debian 12 with systemd and sshd on its own 127.0.0.N address. They share the
host's network and kernel, so nothing here may reach beyond loopback (a role installs nothing the image lacks unless
its test serves a local repository: apt is never asked to download).

Each role's folder says which playbook `run_play` runs (fixture `role_playbook`) and may read its runs through a
subclass of role_play.PlayResult (fixture `play_class`).

Without root, systemd-nspawn or a cached image the tests skip with the reason; PTEGUARD_LAB_REQUIRED=1 turns
the skip into a failure (CI). Every subprocess has a timeout; containers are stopped even when tests fail.
"""

from __future__ import annotations

import os
import shutil
import time

import pytest
from role_play import CALLBACKS, REPO, TIMINGS, VENV_BIN, Host, PlayResult, record, run_playbook


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "lab: real-kernel lab tests (QEMU guests, nspawn containers; root)")


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if TIMINGS:
        terminalreporter.write_sep("-", "role test timings (seconds)")
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
def role_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("roles")


@pytest.fixture(scope="session")
def ansible_env(role_tmp):
    """Throwaway ANSIBLE_HOME; the collection is the working tree (symlink farm), not an installed copy."""
    farm = role_tmp / "collections"
    (farm / "ansible_collections" / "pteguard").mkdir(parents=True)
    (farm / "ansible_collections" / "pteguard" / "remediation").symlink_to(REPO)
    home = role_tmp / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
    env.update({
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": str(farm),
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_STDOUT_CALLBACK": "hwm_json",
        "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": str(VENV_BIN) + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


@pytest.fixture
def play_class():
    """The class each run_play result is read through (a role's folder may override it)."""
    return PlayResult


@pytest.fixture
def run_play(ansible_env, role_playbook, play_class):
    """Runs the role's playbook (`role_playbook`, from the role's folder) on one container."""
    def _run(host: Host, check: bool = False, extra_vars: dict | None = None, label: str = "playbook run"):
        proc, seconds = run_playbook(ansible_env, host.inventory, role_playbook, check=check, extra_vars=extra_vars,
                                     label=label)
        return play_class(proc, seconds)

    return _run


# A host whose PID 1 is not systemd (a minimal container, a chroot-style image): sshd itself runs as PID 1.
SSHD_AS_INIT = ["/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e"]


def booted_host(lab_image, role_tmp, request, init=None):
    """A fresh Debian 12 container (its own overlay), stopped at teardown."""
    from pteguard_lab.container import Container

    name = "role-%s-%d" % (request.node.name[:24].replace("[", "-").replace("]", "").replace("_", "-"),
                           os.getpid() % 10000)
    workdir = role_tmp / name
    workdir.mkdir(parents=True, exist_ok=True)
    ct = Container.create(lab_image, name, workdir, init=init)
    started = time.monotonic()
    ct.start()
    try:
        ct.wait_ssh(60)
        record("container boot to SSH", time.monotonic() - started)
        yield Host(ct, lab_image, workdir)
    finally:
        ct.stop()


@pytest.fixture
def lab_host(lab_image, role_tmp, request):
    """A freshly booted Debian 12 container with systemd as PID 1."""
    yield from booted_host(lab_image, role_tmp, request)


@pytest.fixture
def lab_host_without_systemd(lab_image, role_tmp, request):
    """The same image with sshd as PID 1: no service manager at all."""
    yield from booted_host(lab_image, role_tmp, request, init=SSHD_AS_INIT)
