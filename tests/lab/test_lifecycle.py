"""Lab plumbing: cache keys, mirror discovery, clean teardown, containers, the CLI."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from pteguard_lab import cli, image as lab_image_mod, injectors
from pteguard_lab.container import Container
from pteguard_lab.util import LabError, pid_alive
from pteguard_lab.vm import VM

pytestmark = pytest.mark.lab


# --- pure helpers (no guests) ------------------------------------------------------------

def test_inputs_key_is_stable_and_tracks_the_module_source(tmp_path):
    assets = tmp_path / "lab"
    (assets / "kmod").mkdir(parents=True)
    (assets / "build-image.sh").write_text("echo build\n")
    (assets / "kmod" / "m.c").write_text("int x;\n")
    key = lab_image_mod.inputs_key(assets)
    assert key == lab_image_mod.inputs_key(assets)
    (assets / "kmod" / "m.c").write_text("int y;\n")
    assert lab_image_mod.inputs_key(assets) != key


def test_find_mirror_prefers_env(monkeypatch):
    monkeypatch.setenv("PTEGUARD_LAB_MIRROR", "http://127.0.0.1:3142/debian")
    assert lab_image_mod.find_mirror() == "http://127.0.0.1:3142/debian"


def test_log_since_cuts_at_the_marker():
    text = "[1.0] before\n[2.0] pteguard-lab: inject x ab12\n[3.0] after\n"
    assert injectors.log_since(text, "pteguard-lab: inject x ab12") == "[2.0] pteguard-lab: inject x ab12\n[3.0] after\n"
    assert injectors.log_since(text, "absent") == ""


def test_injectors_refuse_containers(tmp_path):
    ct = Container(name="c", image_root=str(tmp_path), workdir=str(tmp_path), address="127.0.0.9", port=1)
    with pytest.raises(LabError, match="containers share the host's kernel"):
        injectors.mce_corrected_from_monitor(ct)


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys):
    assert cli.main(["--state", str(tmp_path), "inject", "no-such-kind"]) == 2
    assert "unknown fault kind" in capsys.readouterr().err
    assert cli.main(["--state", str(tmp_path), "inject", "mce-corrected"]) == 2
    assert "no lab VM is up" in capsys.readouterr().err
    (tmp_path / "state.json").write_text("{not json")
    assert cli.main(["--state", str(tmp_path), "status"]) == 2
    assert "unreadable lab state" in capsys.readouterr().err


def test_cli_kinds_lists_every_injector(capsys):
    assert cli.main(["kinds"]) == 0
    out = capsys.readouterr().out
    for kind in injectors.INJECTORS:
        assert kind in out


# --- guests ---------------------------------------------------------------------------------

def _qemu_pids_for(workdir: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", "qemu-system-x86_64 -name pteguard-lab-"], capture_output=True,
                         text=True, timeout=10, check=False).stdout.split()
    pids = []
    for pid in out:
        try:
            cmd = Path("/proc/%s/cmdline" % pid).read_bytes()
        except OSError:
            continue
        if str(workdir).encode() in cmd:
            pids.append(int(pid))
    return pids


def test_vm_stop_leaves_no_qemu_process(lab_image, lab_accel, lab_workdir):
    vm = VM.create(lab_image, "teardown", lab_workdir, accel=lab_accel)
    vm.start()
    pid = vm.pid
    assert pid_alive(pid)
    assert vm.qmp("query-status")["status"] in ("running", "prelaunch")
    assert "pteguard-lab-teardown" in vm.hmp_socket_command("info name")
    vm.stop()
    assert not pid_alive(pid)
    assert _qemu_pids_for(lab_workdir / "teardown") == []


def test_qemu_command_line_is_restricted(lab_image, lab_workdir):
    vm = VM.create(lab_image, "argv", lab_workdir, accel="tcg")
    argv = " ".join(vm.qemu_argv())
    assert "restrict=on" in argv
    assert re.search(r"hostfwd=tcp:127\.0\.0\.1:\d+-:22", argv)
    assert "tb-size=256" in argv and "-no-reboot" in argv and "panic=1" in argv
    assert "vendor=GenuineIntel,family=6,model=85,stepping=4" in argv


def test_container_boots_with_sshd_on_its_own_loopback_address(lab_image, lab_workdir):
    ct = Container.create(lab_image, "ct-test", lab_workdir)
    ct.start()
    try:
        ct.wait_ssh()
        assert ct.ssh("hostname").stdout.strip() == "ct-test"
        assert ct.ssh("systemd-detect-virt", check=False).stdout.strip() == "systemd-nspawn"
        # Same kernel as the host: a container is for role logic, never for faults.
        assert ct.ssh("uname -r").stdout.strip() == os.uname().release
        assert "%s:%d" % (ct.address, ct.port) in ct.ssh("ss -Htln").stdout
        state = ct.ssh("systemctl is-system-running --wait", check=False, timeout=90).stdout.strip()
        assert state in ("running", "degraded")
        # --volatile=overlay: writes vanish, the cached rootfs stays untouched.
        ct.ssh("touch /etc/pteguard-lab-written")
        assert not (lab_image.rootfs / "etc/pteguard-lab-written").exists()
    finally:
        ct.stop()
    assert not ct.running()


def test_cli_up_status_down_with_a_container(lab_image, tmp_path, capsys):
    state = str(tmp_path / "state")
    assert cli.main(["--state", state, "up", "--vms", "0", "--containers", "1"]) == 0
    try:
        assert cli.main(["--state", state, "status"]) == 0
        out = capsys.readouterr().out
        assert re.search(r"container ct1\s+running", out)
        assert cli.main(["--state", state, "inject", "mce-corrected", "--vm", "ct1"]) == 2
        assert "no lab VM is up" in capsys.readouterr().err
    finally:
        assert cli.main(["--state", state, "down"]) == 0
    assert cli.main(["--state", state, "status"]) == 0
    assert "no lab is up" in capsys.readouterr().out


def test_cli_up_inject_down_with_a_vm(lab_image, tmp_path, capsys):
    """What a user runs: a VM up, a fault injected and shown, the lab down, nothing left."""
    state = str(tmp_path / "s")
    assert cli.main(["--state", state, "up", "--vms", "1"]) == 0
    try:
        capsys.readouterr()
        assert cli.main(["--state", state, "inject", "hwpoison-madvise"]) == 0
        out = capsys.readouterr().out
        assert "injected hwpoison-madvise into vm1" in out
        assert re.search(r"Memory failure: 0x[0-9a-f]+: recovery action for dirty LRU page: Recovered", out)
        assert cli.main(["--state", state, "inject", "kdump-sysrq"]) == 2
        assert "no crash kernel memory reserved" in capsys.readouterr().err
        assert cli.main(["--state", state, "inventory"]) == 0
        assert '"ansible_port"' in capsys.readouterr().out
    finally:
        assert cli.main(["--state", state, "down"]) == 0
    assert _qemu_pids_for(tmp_path / "s") == []
