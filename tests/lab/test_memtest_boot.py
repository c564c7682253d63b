"""memtest86+ really booted from GRUB, read on a BMC-like SSH console, the host powered back over IPMI.

One guest for the whole module (TCG boots are expensive): the lab's GRUB image kind (a partitioned disk that boots
through its own GRUB), an OpenIPMI ipmi_sim BMC wired to QEMU's ipmi-bmc-extern device, and an sshd on 127.0.0.1
whose forced command attaches to the guest's serial socket. The role runs through the real ansible-playbook; the
console is read by the role's paramiko client; power comes back through ipmitool -> ipmi_sim -> QEMU.
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
SERIAL_ENTRY = "Memory test (memtest86+x64.bin, serial console)"
PLAY_TIMEOUT = 1500.0


class Guest:
    def __init__(self, vm, sim, console, workdir: Path):
        self.vm, self.sim, self.console, self.workdir = vm, sim, console, workdir

    def bmc_vars(self, **override) -> dict:
        bmc = {
            "console_host": "127.0.0.1", "console_port": self.console.port, "console_user": self.console.user,
            "console_key_file": str(self.console.client_key), "console_key_passphrase": self.console.passphrase,
            "console_host_key_alias": self.console.host_key_alias, "known_hosts": str(self.console.known_hosts),
            "ipmi_host": "127.0.0.1", "ipmi_port": self.sim.port, "ipmi_user": self.sim.user,
            "ipmi_password": self.sim.password,
        }
        bmc.update(override)
        return bmc

    def inventory(self) -> Path:
        img = self.vm.image
        path = self.workdir / "inventory.json"
        path.write_text(json.dumps({"all": {"hosts": {"grubvm": {
            "ansible_host": "127.0.0.1", "ansible_port": self.vm.port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(img.ssh_key), "ansible_python_interpreter": "/usr/bin/python3",
            "ansible_ssh_common_args": "-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile=%s "
                                       "-o HostKeyAlias=pteguard-lab -o StrictHostKeyChecking=yes" % img.known_hosts,
        }}}}))
        return path

    def env(self) -> dict:
        home = self.workdir / "ansible-home"
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
        env.update({"ANSIBLE_HOME": str(home), "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
                    "ANSIBLE_COLLECTIONS_PATH": str(REPO / "collections"), "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
                    "ANSIBLE_STDOUT_CALLBACK": "hwm_json", "ANSIBLE_CALLBACK_PLUGINS": str(CALLBACKS),
                    "ANSIBLE_NOCOLOR": "1", "ANSIBLE_DEPRECATION_WARNINGS": "0", "LC_ALL": "C.UTF-8",
                    "PATH": str(VENV_BIN) + os.pathsep + env.get("PATH", "/usr/bin:/bin")})
        return env

    def start_play(self, extra_vars: dict) -> subprocess.Popen:
        argv = [str(VENV_BIN / "ansible-playbook"), "-i", str(self.inventory()),
                str(REPO / "playbooks" / "memory_test.yml"), "--extra-vars", json.dumps(extra_vars)]
        return subprocess.Popen(argv, env=self.env(), cwd=str(REPO), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, stdin=subprocess.DEVNULL)

    def play(self, extra_vars: dict, running: subprocess.Popen | None = None) -> tuple[subprocess.CompletedProcess, dict]:
        """Run the playbook (or wait, bounded, for one started with start_play) and index its tasks."""
        child = running or self.start_play(extra_vars)
        try:
            out, err = child.communicate(timeout=PLAY_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.kill()
            out, err = child.communicate(timeout=30)
        proc = subprocess.CompletedProcess(child.args, child.returncode, out, err)
        tasks = {}
        try:
            for play in json.loads(proc.stdout).get("plays", []):
                for task in play.get("tasks", []):
                    res = task.get("hosts", {}).get("grubvm")
                    if res is not None:
                        tasks[task["task"]["name"]] = res
        except ValueError:
            pass
        return proc, tasks

    def module(self, name: str, args: dict) -> dict:
        """One collection module run on the controller (where the role runs its BMC tasks)."""
        argv = [str(VENV_BIN / "ansible"), "localhost", "-m", "pteguard.remediation.%s" % name, "-a", json.dumps(args),
                "-o"]
        env = dict(self.env(), ANSIBLE_STDOUT_CALLBACK="minimal", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                              check=False)
        out = proc.stdout.strip()
        if "{" not in out:
            return {"failed": True, "msg": "no result", "raw": out + proc.stderr}
        # one line: "localhost | FAILED! => {...}" or "localhost | SUCCESS => {...}"
        return dict(json.loads(out[out.index("{"):]), failed=" | FAILED!" in out[:out.index("{")])


def result_of(tasks: dict) -> dict | None:
    value = None
    for res in tasks.values():
        if "memory_test_result" in (res.get("ansible_facts") or {}):
            value = res["ansible_facts"]["memory_test_result"]
    return value


@pytest.fixture(scope="module")
def grub_guest(lab_image, tmp_path_factory):
    from pteguard_lab.bmc import ConsoleServer, IpmiSim
    from pteguard_lab.grub_image import GrubVM, get_grub_image

    image = get_grub_image(base=lab_image, log=print)
    workdir = tmp_path_factory.mktemp("memtest")
    sim = IpmiSim.start(workdir)
    vm = console = None
    try:
        vm = GrubVM.create_grub(image, "memtest", workdir, memory_mb=384, extra_args=sim.qemu_args())
        vm.start()
        vm.wait_ssh(600, master=False)
        console = ConsoleServer.start(workdir, vm.serial_socket)
        yield Guest(vm, sim, console, workdir)
    finally:
        for part in (console, vm, sim):
            if part is not None:
                part.stop()


def test_guest_boots_through_its_own_grub(grub_guest):
    vm = grub_guest.vm
    cmdline = vm.ssh("cat /proc/cmdline").stdout
    assert "BOOT_IMAGE=/boot/vmlinuz-" in cmdline  # only GRUB passes BOOT_IMAGE: no -kernel here
    assert "GNU GRUB" in vm.serial_text() or "Booting `Debian GNU/Linux'" in vm.serial_text()
    entries = vm.ssh("grep -o \"menuentry '[^']*'\" /boot/grub/grub.cfg").stdout
    assert SERIAL_ENTRY in entries
    status = grub_guest.sim.ipmitool("chassis", "power", "status")
    assert status.returncode == 0 and "Chassis Power is on" in status.stdout, status.stdout + status.stderr


def test_without_opt_in_no_reboot_and_nothing_changes(grub_guest):
    vm = grub_guest.vm
    boot_id = vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout
    env_before = vm.ssh("grub-editenv list; sha256sum /etc/default/grub /boot/grub/grub.cfg").stdout
    proc, tasks = grub_guest.play({"memory_test_mode": "offline", "memory_test_bmc": grub_guest.bmc_vars()})
    assert proc.returncode == 0, proc.stdout[-4000:]
    res = result_of(tasks)
    assert res["result"] == "not_run" and res["secure_boot"] == "not_applicable"
    assert res["would"][-1] == ("reboot into memtest86+, then power the host back through its controller after 1 "
                                "pass(es) or the first error")
    assert vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout == boot_id
    assert vm.ssh("grub-editenv list; sha256sum /etc/default/grub /boot/grub/grub.cfg").stdout == env_before


def test_console_and_power_bad_input_are_one_line_errors(grub_guest):
    good = grub_guest.bmc_vars()
    common = {"host": "127.0.0.1", "username": "root", "known_hosts": good["known_hosts"],
              "host_key_alias": good["console_host_key_alias"], "max_seconds": 5}
    wrong_pass = grub_guest.module("memtest_console", dict(common, port=good["console_port"],
                                                           key_file=good["console_key_file"],
                                                           key_passphrase="not-the-passphrase"))
    assert wrong_pass["failed"] is True and "not-the-passphrase" not in json.dumps(wrong_pass)
    assert wrong_pass["msg"] == "controller 127.0.0.1:%d: cannot use the console key %s (wrong passphrase, or not a " \
        "key)" % (good["console_port"], good["console_key_file"]), wrong_pass
    unknown_key = grub_guest.module("memtest_console", dict(common, port=good["console_port"], password="x",
                                                            host_key_alias="someone-else"))
    assert unknown_key["failed"] is True and unknown_key["msg"] == "controller 127.0.0.1:%d is not in %s: refused (add its host key first)" % (
        good["console_port"], good["known_hosts"])
    closed = grub_guest.module("memtest_console", dict(common, port=1, password="x"))
    assert closed["failed"] is True and closed["msg"].startswith("controller 127.0.0.1:1 unreachable")
    bad_ipmi = grub_guest.module("bmc_power", {"host": "127.0.0.1", "port": good["ipmi_port"], "username": "admin",
                                               "password": "wrong-password", "state": "status", "timeout": 20})
    assert bad_ipmi["failed"] is True
    assert bad_ipmi["msg"] == ("controller 127.0.0.1:%d refused the IPMI session for admin (wrong credentials or "
                               "cipher suite)" % good["ipmi_port"]), bad_ipmi
    assert "wrong-password" not in json.dumps(bad_ipmi)


def test_memtest_boots_from_grub_is_read_on_the_console_and_the_host_comes_back(grub_guest):
    vm = grub_guest.vm
    boot_id = vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    serial_offset = vm.serial_size()
    started = time.monotonic()
    proc, tasks = grub_guest.play({
        "memory_test_mode": "offline", "memory_test_reboot_ok": True, "memory_test_bmc": grub_guest.bmc_vars(),
        "memory_test_passes": 1, "memory_test_console_seconds": 240, "memory_test_return_timeout": 600,
    })
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout[-6000:]
    print("memtest round trip: %.0fs" % seconds)
    res = result_of(tasks)
    console = res["console"]
    # memtest86+ really ran: its own screen, read through the SSH console and parsed
    assert console["version"] == "6.10" and console["errors"] == 0, console
    assert console["test"] is not None and console["screen"][0].strip().startswith("Memtest86+ v6.10")
    assert res["result"] in ("passed", "incomplete"), res
    if res["result"] == "incomplete":
        assert res["reasons"][0].startswith("time limit of 240s reached: pass 1 at "), res["reasons"]
    assert "host reset through IPMI (power was on)" in res["reasons"]
    # ... and the host came back by itself through the BMC, a new boot, the one-shot entry spent
    assert res["returned"] is True and res["rebooted"] is True and res["next_entry_left"] == ""
    assert vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip() != boot_id
    serial = vm.serial_since(serial_offset)
    record = os.environ.get("PTEGUARD_LAB_RECORD_DIR")
    if record:  # keep the real capture (how tests/fixtures/memory_test/*grub-boot* was recorded)
        Path(record, "memtest86plus-grub-boot.serial").write_text(serial)
    assert "Memtest86+ v6.10" in serial and "Pass:" in serial and "Errors:" in serial
    assert vm.ssh("grub-editenv list").stdout.count("next_entry=%s" % SERIAL_ENTRY) == 0


def test_without_a_controller_a_person_brings_the_host_back_and_the_result_is_recorded(grub_guest):
    """No memory_test_bmc: the role reboots into memtest86+, says a person must bring the host back and waits. The
    test is that person: it watches the serial console until memtest86+ draws its screen, then presses reset (QMP
    system_reset, what a person does at the machine)."""
    vm = grub_guest.vm
    boot_id = vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    offset = vm.serial_size()
    running = grub_guest.start_play({"memory_test_mode": "offline", "memory_test_reboot_ok": True,
                                     "memory_test_return_timeout": 600, "memory_test_manual_result": "passed"})
    # the play's checks before the reboot take minutes under TCG on a loaded machine: a wide bound, and the play's
    # own output when it ended without rebooting
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and "Pass:" not in vm.serial_since(offset) and running.poll() is None:
        time.sleep(3)
    if "Pass:" not in vm.serial_since(offset):
        if running.poll() is None:
            running.kill()
        out, err = running.communicate(timeout=60)
        pytest.fail("memtest86+ never drew its screen (play rc %s):\n%s\n%s"
                    % (running.returncode, out[-6000:], err[-2000:]))
    vm.qmp("system_reset")
    proc, tasks = grub_guest.play({}, running=running)
    assert proc.returncode == 0, proc.stdout[-6000:]
    said = [res.get("msg", "") for res in tasks.values()]
    assert any("a person must read its screen and power-cycle the host" in m for m in said), said
    res = result_of(tasks)
    assert res["result"] == "passed" and res["rebooted"] is True and res["returned"] is True, res
    assert res["reasons"] == ["no controller: result entered by a person (memory_test_manual_result=passed)"], res
    assert vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip() != boot_id
    assert vm.ssh("test -e /var/lib/pteguard/memory_test-pending.json", check=False).returncode == 1
    assert vm.ssh("grub-editenv list").stdout.count("next_entry=%s" % SERIAL_ENTRY) == 0  # spent by GRUB
    step = [r["ansible_facts"]["pteguard_step_result"] for r in tasks.values()
            if "pteguard_step_result" in (r.get("ansible_facts") or {})]
    assert step and step[-1]["outcome"] == "clean", step


def _pteguard(workdir: Path, *argv: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, ANSIBLE_HOME=str(workdir / "ansible-home"))
    return subprocess.run([str(VENV_BIN / "pteguard")] + list(argv), cwd=str(REPO), env=env, capture_output=True,
                          text=True, timeout=PLAY_TIMEOUT, check=False)


def test_the_runner_reports_a_host_that_never_returns_from_its_reboot_as_lost(grub_guest, tmp_path):
    """The runner, through `pteguard plan` and `pteguard apply`: an uncorrected memory error raised from the QEMU
    monitor sends the guest to the memory test; with the reboot opted in and no controller the guest reboots into
    memtest86+, which never ends by itself, so it does not answer again within the role's return timeout. The run
    says `lost` (not `failed`), exits 2, and records no step as done. Last in this module: the test then plays the
    person who resets the host."""
    from pteguard_lab import injectors

    vm = grub_guest.vm
    boot_id = vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    injectors.mce_uncorrected_ao_from_monitor(vm)
    inventory = json.loads(grub_guest.inventory().read_text())
    inventory["all"]["hosts"]["grubvm"].update({"memory_test_mode": "offline", "memory_test_reboot_ok": True,
                                               "memory_test_return_timeout": 60})
    (tmp_path / "inventory.json").write_text(json.dumps(inventory))
    proc = _pteguard(tmp_path, "plan", "-i", str(tmp_path / "inventory.json"), "--steps", "memory_test",
                     "--report-dir", str(tmp_path / "reports"), "--work-dir", str(tmp_path / "work"),
                     "--output", str(tmp_path / "plan.json"))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (host,) = json.loads((tmp_path / "plan.json").read_text())["hosts"]
    assert host["causes"][0]["cause"] == "faulty_memory", host["causes"]
    assert [(s["step"], s["will"]) for s in host["steps"]] == [("memory_test", "run")], host["steps"]

    offset = vm.serial_size()
    try:
        proc = _pteguard(tmp_path, "apply", str(tmp_path / "plan.json"), "--approve", "CHG-LAB-LOST", "--serial",
                         "100%", "--state-dir", str(tmp_path / "state"))
        assert proc.returncode == 2, proc.stdout[-6000:] + proc.stderr[-2000:]
        row = " ".join(next(line for line in proc.stdout.splitlines() if line.startswith("grubvm ")).split())
        assert row.startswith("grubvm lost memory_test failed memory_test: stopped answering during the step"), row
        assert "did not answer within 60s after the reboot" in row, row
        runs = json.loads(_pteguard(tmp_path, "runs", "--state-dir", str(tmp_path / "state"), "--format",
                                    "json").stdout)["runs"]
        (record,) = runs
        assert record["change_id"] == "CHG-LAB-LOST" and record["hosts"] == {"lost": 1}, record
        with open(os.path.join(record["run_dir"], "audit.jsonl"), encoding="utf-8") as handle:
            entries = [json.loads(line) for line in handle]
        assert [(e["step"], e["result"]) for e in entries if e["action"] == "finish"] == [("memory_test", "lost")]
        assert os.access(os.path.join(record["run_dir"], "reproduce", "grubvm-memory_test.sh"), os.X_OK)
        # it really went down into memtest86+ (its screen on the serial console) and never came back by itself
        assert "Memtest86+" in vm.serial_since(offset)
    finally:
        vm.qmp("system_reset")  # the person at the machine; GRUB's one-shot entry is spent: Debian boots
        vm.wait_ssh(600, master=False)
    assert vm.ssh("cat /proc/sys/kernel/random/boot_id").stdout.strip() != boot_id
