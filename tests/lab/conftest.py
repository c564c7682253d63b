"""Fixtures for the real-kernel lab tests (marker `lab`).

The image is built once (cached in $PTEGUARD_LAB_CACHE, default
/var/cache/pteguard-lab); the fault VMs boot once per session, in parallel, and are
stopped at the end even when tests fail. Without root or the host tools the tests
skip with the reason; PTEGUARD_LAB_REQUIRED=1 turns that skip into a failure (CI).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from pteguard_lab import injectors
from pteguard_lab.image import get_image
from pteguard_lab.vm import boot_vms, probe_accel, stop_all

HOST_TOOLS = ("qemu-system-x86_64", "qemu-img", "debootstrap", "systemd-nspawn", "mke2fs", "ssh", "ssh-keygen")

# One VM per family of faults, plus one that a fatal machine check will kill.
FAULT_VMS = ("fault-mce", "fault-disk", "fault-pt", "fault-fatal")

# fault-mce also ends the session with a kdump crash: it boots with crashkernel=.
VM_OVERRIDES = {"fault-mce": {"memory_mb": injectors.KDUMP_MEMORY_MB, "extra_cmdline": injectors.KDUMP_CMDLINE}}

TIMINGS: dict[str, float] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lab: real-kernel lab tests (QEMU guests, nspawn containers; root)")
    config.addinivalue_line("markers", "lab_last: leaves a shared guest unusable for others (kdump): runs last")


def pytest_collection_modifyitems(session, config, items):  # noqa: ARG001
    """The kdump tests leave fault-mce in its crash kernel; every other file that injects into it runs first,
    whatever the file names sort to. Stable: the order within each group is kept."""
    last = [item for item in items if item.get_closest_marker("lab_last")]
    if last:
        items[:] = [item for item in items if not item.get_closest_marker("lab_last")] + last


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if TIMINGS:
        terminalreporter.write_sep("-", "pteguard lab timings (seconds)")
        for key, value in TIMINGS.items():
            terminalreporter.write_line("%-32s %7.1f" % (key, value))


def _unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (debootstrap, QEMU, systemd-nspawn)"
    missing = [t for t in HOST_TOOLS if shutil.which(t) is None]
    if missing:
        return "missing host tools: %s (apt: qemu-system-x86 qemu-utils debootstrap systemd-container " \
               "e2fsprogs openssh-client)" % ", ".join(missing)
    return None


@pytest.fixture(scope="session")
def lab_image():
    reason = _unavailable()
    if reason:
        if os.environ.get("PTEGUARD_LAB_REQUIRED") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    started = time.monotonic()
    image = get_image(log=print)
    TIMINGS["image (get or build)"] = time.monotonic() - started
    return image


@pytest.fixture(scope="session")
def lab_accel(lab_image):
    started = time.monotonic()
    accel = probe_accel(lab_image)
    TIMINGS["accelerator probe (%s)" % accel] = time.monotonic() - started
    return accel


@pytest.fixture(scope="session")
def lab_workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("lab")


@pytest.fixture(scope="session")
def fault_vms(lab_image, lab_accel, lab_workdir):
    """The fault VMs, booted in parallel; each one's kernel log right after boot is kept."""
    started = time.monotonic()
    vms = boot_vms(lab_image, FAULT_VMS, lab_workdir, accel=lab_accel, overrides=VM_OVERRIDES)
    TIMINGS["boot %d VMs to SSH (parallel)" % len(vms)] = time.monotonic() - started
    try:
        baseline = {vm.name: vm.dmesg() for vm in vms}
        yield {"vms": {vm.name: vm for vm in vms}, "baseline": baseline}
    finally:
        errors = stop_all(vms)
        assert not errors, errors


@pytest.fixture
def record_time():
    def _record(name: str, seconds: float) -> None:
        TIMINGS["inject " + name] = seconds
    return _record
