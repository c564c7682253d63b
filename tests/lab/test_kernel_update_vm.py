"""Step 3 on a real guest: a real kernel upgrade through GRUB, the reboot, the new boot's triage, the fall back.

One GRUB guest for the whole module (TCG boots are expensive), the tests run in order and each leaves the guest in
the state the next one starts from:

1. the guest runs the image's kernel (bookworm/main, 6.1.0-50-amd64 when written) and its only apt source is a
   local `file:` repository holding the host's candidate linux-image-amd64 and its ABI package (bookworm-security,
   6.1.0-57-amd64), downloaded once into the lab cache (pteguard_lab.kernel_repo);
2. without kernel_update_reboot_ok the role installs the metapackage, keeps the old kernel, does not reboot, and
   leaves grubenv and /etc/default/grub as they were;
3. with it and kernel_update_fallback, the new kernel boots but its boot logs a real kernel I/O error (scsi_debug
   medium errors, from a unit that runs under the new kernel only, before sshd): the role's triage trips the
   `error` threshold, grub-reboot boots the previous kernel once, and the guest is back on it;
4. the guest is stopped (QMP stop) while it reboots: the role says it did not come back within its timeout, and
   reports nothing as done; the guest, resumed, comes back on the previous kernel (a one-shot entry set by the
   test beforehand) for the next step;
5. with the error unit gone, the reboot into the new kernel is verified (new boot_id, uname -r) and triaged clean;
   the step result is `updated`; a second run changes nothing and says `current`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(os.environ.get("VIRTUAL_ENV") or REPO / ".venv") / "bin"
CALLBACKS = REPO / "tests" / "roles" / "callback_plugins"
PLAY_TIMEOUT = 1500.0
HOST = "grubvm"
# Real kernel errors in the new kernel's boot only (synthetic trigger, real kernel messages): scsi_debug with
# medium errors from sector 2048, read once before sshd starts, so the role's triage sees them at once.
ERROR_UNIT = """[Unit]
Description=pteguard test: real medium errors under the new kernel only
ConditionKernelVersion={release}
DefaultDependencies=no
After=systemd-udevd.service local-fs.target
Before=ssh.service

[Service]
Type=oneshot
ExecStart=/sbin/modprobe scsi_debug dev_size_mb=16 opts=2 medium_error_start=2048 medium_error_count=8
ExecStart=/bin/udevadm settle --timeout=30
ExecStart=-/bin/sh -c 'for d in /sys/block/sd*; do dd if=/dev/$${{d##*/}} of=/dev/null bs=512 skip=2048 count=8 iflag=direct; done'

[Install]
WantedBy=multi-user.target
"""


class KernelGuest:
    def __init__(self, vm, repo, workdir: Path, old_release: str):
        self.vm, self.repo, self.workdir, self.old = vm, repo, workdir, old_release
        self.new = repo.release
        img = vm.image
        self.inventory = workdir / "inventory.json"
        self.inventory.write_text(json.dumps({"all": {"hosts": {HOST: {
            "ansible_host": "127.0.0.1", "ansible_port": vm.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(img.ssh_key), "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=%s "
                                       "-o HostKeyAlias=pteguard-lab -o StrictHostKeyChecking=yes" % img.known_hosts,
        }}}}))
        farm = workdir / "collections" / "ansible_collections" / "pteguard"
        farm.mkdir(parents=True, exist_ok=True)
        if not (farm / "remediation").exists():
            (farm / "remediation").symlink_to(REPO)
        home = workdir / "ansible-home"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
        env.update({"ANSIBLE_HOME": str(home), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "ANSIBLE_COLLECTIONS_PATH": str(workdir / "collections"), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
                    "ANSIBLE_STDOUT_CALLBACK": "hwm_json", "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0", "LC_ALL": "C.UTF-8",
                    "PATH": str(VENV_BIN) + os.pathsep + env.get("PATH", "/usr/bin:/bin")})
        self.env = env

    def argv(self, extra_vars: dict) -> list[str]:
        return [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory),
                str(REPO / "playbooks" / "kernel_update.yml"), "--extra-vars", json.dumps(extra_vars)]

    def play(self, extra_vars: dict) -> "Play":
        started = time.monotonic()
        proc = subprocess.run(self.argv(extra_vars), env=self.env, cwd=str(REPO), capture_output=True, text=True,
                              timeout=PLAY_TIMEOUT, stdin=subprocess.DEVNULL, check=False)
        print("kernel_update play %s: %.0fs rc=%d" % (sorted(extra_vars), time.monotonic() - started,
                                                      proc.returncode))
        return Play(proc.returncode, proc.stdout, proc.stderr)

    def sh(self, command: str, timeout: float = 120.0) -> str:
        return self.vm.ssh(command, timeout=timeout).stdout

    def boot_state(self) -> dict:
        return {"boot_id": self.sh("cat /proc/sys/kernel/random/boot_id").strip(),
                "release": self.sh("uname -r").strip(),
                "grub": self.sh("grub-editenv list; sha256sum /etc/default/grub")}

    def packages(self) -> dict:
        out = self.sh("dpkg-query -W -f '${Package} ${Version} ${db:Status-Abbrev}\\n' 'linux-image-*'")
        return {f[0]: (f[1], f[2]) for f in (line.split() for line in out.splitlines()) if len(f) == 3}

    def grub_entry(self, release: str) -> str:
        """The grub-reboot id (submenu>entry) of a kernel, read from the guest's grub.cfg by the test itself."""
        cfg = self.sh("cat /boot/grub/grub.cfg")
        sub = cfg.split("submenu '", 1)[1].split("$menuentry_id_option '", 1)[1].split("'", 1)[0]
        marker = "$menuentry_id_option 'gnulinux-%s-advanced-" % release
        entry = cfg.split(marker, 1)[1].split("'", 1)[0]
        return "%s>gnulinux-%s-advanced-%s" % (sub, release, entry)


class Play:
    def __init__(self, rc: int, stdout: str, stderr: str):
        self.rc, self.stdout, self.stderr = rc, stdout, stderr
        try:
            self.data = json.loads(stdout)
        except ValueError:
            self.data = {}

    def explain(self) -> str:
        return "rc=%d\n%s\n%s" % (self.rc, self.stdout[-8000:], self.stderr[-2000:])

    def results(self) -> list[tuple[str, dict]]:
        return [(task["task"]["name"], task["hosts"][HOST]) for play in self.data.get("plays", [])
                for task in play.get("tasks", []) if HOST in task.get("hosts", {})]

    def messages(self) -> list[str]:
        return [str(res.get("msg")) for _name, res in self.results() if res.get("msg")]

    def failures(self) -> list[str]:
        return [str(res.get("msg")) for _name, res in self.results() if res.get("failed")]

    def changed(self) -> list[str]:
        return [name for name, res in self.results() if res.get("changed")]

    def fact(self, name: str):
        value = None
        for _task, res in self.results():
            value = (res.get("ansible_facts") or {}).get(name, value)
        return value


@pytest.fixture(scope="module")
def kguest(lab_image, tmp_path_factory):
    from pteguard_lab.grub_image import GrubVM, get_grub_image
    from pteguard_lab.kernel_repo import newer_kernel_repo, push_repo

    image = get_grub_image(base=lab_image, log=print)
    old = image.kernel_version
    repo = newer_kernel_repo(old)
    workdir = tmp_path_factory.mktemp("kernel_update")
    vm = GrubVM.create_grub(image, "kupdate", workdir, memory_mb=512)
    try:
        vm.start()
        vm.wait_ssh(600, master=False)
        push_repo(vm, repo)
        guest = KernelGuest(vm, repo, workdir, old)
        # the fall back is one-shot only with GRUB_DEFAULT=saved (the role refuses otherwise); the test sets it,
        # as the role's README asks an operator to
        guest.sh("sed -i 's/^GRUB_DEFAULT=.*/GRUB_DEFAULT=saved/' /etc/default/grub && update-grub", timeout=300)
        yield guest
    finally:
        vm.stop()


def test_guest_runs_the_old_kernel_and_sees_the_new_one_in_its_local_repository(kguest):
    assert kguest.sh("uname -r").strip() == kguest.old
    assert "BOOT_IMAGE=/boot/vmlinuz-%s" % kguest.old in kguest.sh("cat /proc/cmdline")
    pkgs = kguest.packages()
    assert "linux-image-%s" % kguest.new not in pkgs
    assert pkgs["linux-image-amd64"][1] == "ii" and pkgs["linux-image-amd64"][0] != kguest.repo.meta_version


def test_without_reboot_opt_in_installs_keeps_the_old_kernel_and_does_not_reboot(kguest):
    before = kguest.boot_state()
    play = kguest.play({"kernel_update_blamed_module": "nvme"})
    assert play.rc == 0, play.explain()
    pkgs = kguest.packages()
    # the metapackage moved, the new ABI package came with it, the old one is still installed
    assert pkgs["linux-image-amd64"] == (kguest.repo.meta_version, "ii"), pkgs
    assert pkgs["linux-image-%s" % kguest.new][1] == "ii" and pkgs["linux-image-%s" % kguest.old][1] == "ii", pkgs
    # no reboot, and the role left the boot configuration alone
    assert kguest.boot_state() == before
    said = [m for m in play.messages() if "not rebooting because kernel_update_reboot_ok is false" in m]
    assert said and kguest.new in said[0], play.messages()
    result = play.fact("pteguard_step_result")
    assert result["outcome"] == "updated" and any(e.startswith("reboot pending") for e in result["evidence"])
    changelog = play.fact("kernel_update_changelog")
    # the real changelog between the running package's version and the new one was read
    assert changelog["status"] == "read" and changelog["entries"] >= 1, changelog
    assert changelog["after"] == kguest.packages()["linux-image-%s" % kguest.old][0]
    assert changelog["by_area"].get("memory_management", 0) > 0, changelog["by_area"]


def test_a_new_boot_that_logs_kernel_errors_falls_back_to_the_previous_kernel_once(kguest):
    unit = ERROR_UNIT.format(release=kguest.new)
    proc = subprocess.run(kguest.vm.ssh_argv("cat > /etc/systemd/system/pteguard-test-errors.service && "
                                             "systemctl enable pteguard-test-errors"),
                          input=unit, text=True, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    before = kguest.boot_state()
    play = kguest.play({"kernel_update_reboot_ok": True, "kernel_update_fallback": True,
                        "kernel_update_reboot_timeout": 600})
    assert play.rc != 0, play.explain()
    failure = [m for m in play.failures() if "did not pass" in m]
    assert failure and "fell back to %s" % kguest.old in failure[0], play.failures()
    assert "block_io_error" in failure[0] and "running %s" % kguest.new not in failure[0]
    assert play.fact("kernel_update_booted") == kguest.new
    assert play.fact("kernel_update_fallback_booted") == kguest.old
    assert play.fact("pteguard_step_result") is None  # nothing reported as done
    after = kguest.boot_state()
    assert after["release"] == kguest.old and after["boot_id"] != before["boot_id"]
    # one-shot: the next_entry grub-reboot wrote was spent by that boot; the default is still the newest kernel
    assert "next_entry=%s" % kguest.grub_entry(kguest.old) not in after["grub"], after["grub"]


def test_a_host_that_does_not_come_back_in_time_is_reported_so(kguest):
    kguest.sh("systemctl disable pteguard-test-errors && rm /etc/systemd/system/pteguard-test-errors.service")
    # after the test resumes the guest it must come back on the previous kernel for the last test: one-shot entry
    kguest.sh("grub-reboot '%s'" % kguest.grub_entry(kguest.old))
    offset = kguest.vm.serial_size()
    proc = subprocess.Popen(kguest.argv({"kernel_update_reboot_ok": True, "kernel_update_reboot_timeout": 90}),
                            env=kguest.env, cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    paused = False
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and proc.poll() is None:
            if "reboot: Restarting system" in kguest.vm.serial_since(offset):
                kguest.vm.qmp("stop")  # the guest is frozen mid-reboot: it cannot answer before the timeout
                paused = True
                break
            time.sleep(0.5)
        out, err = proc.communicate(timeout=PLAY_TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
        if paused:
            kguest.vm.qmp("cont")
    assert paused, "the guest never printed its reboot line"
    play = Play(proc.returncode, out, err)
    assert play.rc != 0, play.explain()
    failure = [m for m in play.failures() if "did not come back within 90s" in m]
    assert failure and kguest.new in failure[0] and "state is unknown" in failure[0], play.failures()
    assert play.fact("pteguard_step_result") is None and play.fact("kernel_update_booted") is None
    kguest.vm.wait_ssh(600, master=False)
    assert kguest.sh("uname -r").strip() == kguest.old


def test_reboot_into_the_new_kernel_is_verified_and_a_second_run_changes_nothing(kguest):
    before = kguest.boot_state()
    assert before["release"] == kguest.old
    play = kguest.play({"kernel_update_reboot_ok": True, "kernel_update_fallback": True,
                        "kernel_update_reboot_timeout": 600})
    assert play.rc == 0, play.explain()
    after = kguest.boot_state()
    assert after["release"] == kguest.new and after["boot_id"] != before["boot_id"]
    assert play.fact("kernel_update_booted") == kguest.new and play.fact("kernel_update_problems") == []
    triage = play.fact("kernel_update_triage")
    assert triage["highest_severity"] not in ("error", "critical"), triage
    result = play.fact("pteguard_step_result")
    assert result["outcome"] == "updated", result
    assert "running %s (was %s)" % (kguest.new, kguest.old) in result["evidence"]
    assert kguest.packages()["linux-image-%s" % kguest.old][1] == "ii"  # the previous kernel is kept

    again = kguest.play({"kernel_update_reboot_ok": True})
    assert again.rc == 0, again.explain()
    assert again.changed() == [], again.changed()
    assert again.fact("pteguard_step_result")["outcome"] == "current"
    assert kguest.boot_state()["boot_id"] == after["boot_id"]
