"""Freezes, unexpected reboots and oops symbolization on a real guest kernel (one VM, booted once, rebooted twice).

In order, on the VM "debug":
1. a task blocked on a suspended device-mapper device, with kernel.hung_task_timeout_secs lowered, makes the real
   hung-task detector print "INFO: task dd:PID blocked for more than N seconds": step 1 finds it;
2. the lab's test module (lab/kmod/pteguard_testmod.c, loaded stripped of debug info) oopses; oops_symbolize
   (the real module, through ansible-playbook) resolves the RIP to the module's source file and line on the guest
   (debug info from the unstripped .ko the image keeps) and on a delegate (this machine, holding the image's .ko
   with debug info) while the guest's own copy says it has none;
3. the guest is powered off hard (QMP quit, like a power cut) with a persistent journal: after the next boot
   previous_boot_end() says "unclean"; an orderly `systemctl reboot` then leaves a previous boot that is "clean".
The journals of 3 are kept in the test's work directory (and in $PTEGUARD_LAB_ARTIFACTS when set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from pteguard_lab import injectors
from pteguard_lab.cli import inventory

from ansible_collections.pteguard.remediation.plugins.module_utils.boot_end import previous_boot_end
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_lines
from ansible_collections.pteguard.remediation.plugins.module_utils.symbolize import notes_build_id
from lab_support import own_vm

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE_SOURCE = os.path.join(REPO, "lab", "kmod", "pteguard_testmod.c")
HUNG_TIMEOUT = 5
STRIPPED_DIR = "/root/pteguard-stripped"
GUEST_KMOD_DIR = os.path.dirname(injectors.MODULE_PATH)
PLAYBOOK_TIMEOUT = 600


@pytest.fixture(scope="module")
def debug_vm(lab_image, lab_accel, lab_workdir):
    yield from own_vm(lab_image, lab_accel, lab_workdir, "debug")


def _kernel_findings(text):
    return scan_lines(text.splitlines())["findings"]


def test_hung_task_on_a_suspended_dm_device_is_a_freeze(debug_vm):
    vm = debug_vm
    vm.ssh("sysctl -q -w kernel.hung_task_timeout_secs=%d kernel.hung_task_warnings=10" % HUNG_TIMEOUT)
    vm.ssh("dmsetup create pgfreeze --table '0 2048 zero' && udevadm settle && dmsetup suspend pgfreeze")
    marker = injectors.mark(vm, "hung-task")
    try:
        # The writer's fsync waits for writeback in plain TASK_UNINTERRUPTIBLE, what the detector watches (a
        # direct read would not do: blk_io_schedule wakes up every half timeout so as not to be reported).
        vm.ssh("setsid -f dd if=/dev/zero of=/dev/mapper/pgfreeze bs=4096 count=1 conv=fsync "
               ">/dev/null 2>&1 </dev/null")
        log = injectors.wait_for_log(vm, marker, [r"INFO: task dd:\d+ blocked for more than"], timeout=90)
    finally:
        vm.ssh("dmsetup resume pgfreeze; sleep 1; dmsetup remove pgfreeze", check=False)
    found = [f for f in _kernel_findings(log) if f["category"] == "system_freeze"]
    assert found, log[-3000:]
    hung = found[0]
    assert hung["signature"] == "hung_task" and hung["process"] == "dd"
    assert hung["seconds"] >= HUNG_TIMEOUT and isinstance(hung["pid"], int)
    assert hung.get("call_trace"), "the detector prints the blocked task's stack"


def _guest_build_id(vm, module):
    out = vm.ssh("od -An -tx1 -v /sys/module/%s/notes/.note.gnu.build-id" % module).stdout
    return notes_build_id(bytes(int(b, 16) for b in out.split()))


def _run_symbolize(workdir, vm, oopses, release, guest_dirs, delegate_dirs, build_ids):
    """oops_symbolize through real ansible-playbook: once on the guest, once delegated to this machine."""
    run_dir = workdir / "symbolize"
    run_dir.mkdir(exist_ok=True)
    inv = run_dir / "inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [vm.to_dict()], "containers": []})))
    host = "lab-" + vm.name
    variables = {"oopses": oopses, "release": release, "guest_dirs": guest_dirs, "delegate_dirs": delegate_dirs,
                 "build_ids": build_ids, "out_dir": str(run_dir)}
    (run_dir / "vars.json").write_text(json.dumps(variables))
    play = [{
        "name": "Symbolize the lab oops", "hosts": host, "gather_facts": False,
        "tasks": [
            {"name": "Debug | symbolize on the guest", "register": "pteguard_on_guest",
             "pteguard.remediation.oops_symbolize": {"oopses": "{{ oopses }}", "debug_dirs": "{{ guest_dirs }}"}},
            {"name": "Debug | symbolize on the delegate", "register": "pteguard_on_delegate",
             "delegate_to": "localhost",
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", "ansible_connection": "local"},
             "pteguard.remediation.oops_symbolize": {"oopses": "{{ oopses }}", "release": "{{ release }}",
                                                     "debug_dirs": "{{ delegate_dirs }}",
                                                     "build_ids": "{{ build_ids }}"}},
            {"name": "Debug | keep both results", "delegate_to": "localhost",
             "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}", "ansible_connection": "local"},
             "ansible.builtin.copy": {"content": "{{ {'guest': pteguard_on_guest, 'delegate': pteguard_on_delegate}"
                                                 " | to_json }}",
                                      "dest": "{{ out_dir }}/result.json", "mode": "0600"}},
        ]}]
    (run_dir / "play.json").write_text(json.dumps(play))
    env = dict(os.environ, ANSIBLE_HOME=str(run_dir / "ansible-home"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"), ANSIBLE_HOST_KEY_CHECKING="True")
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    proc = subprocess.run([playbook, "-i", str(inv), str(run_dir / "play.json"), "-e", "@" + str(run_dir / "vars.json")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return json.loads((run_dir / "result.json").read_text())


def _faulting_line():
    with open(MODULE_SOURCE, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if "READ_ONCE(*(int *)guard)" in line:
                return number
    raise AssertionError("the test module's faulting read is gone from its source")


def test_module_oops_is_symbolized_on_the_guest_and_on_a_delegate(debug_vm, lab_image, lab_workdir):
    vm = debug_vm
    # the guest runs a copy stripped of debug info; the image keeps the unstripped .ko in GUEST_KMOD_DIR
    vm.ssh("mkdir -p {d} && strip --strip-debug -o {d}/pteguard_testmod.ko {ko} && "
           "(grep -q '^pteguard_testmod ' /proc/modules || insmod {d}/pteguard_testmod.ko)"
           .format(d=STRIPPED_DIR, ko=injectors.MODULE_PATH))
    injection = injectors.kernel_oops_in_module(vm)
    # gcc may move the faulting read into the function's .cold part: the RIP then names that symbol
    oopses = [f for f in _kernel_findings(injection.kernel_log)
              if f.get("symbol", "").startswith("pteguard_oops_read_unmapped")]
    assert oopses, injection.kernel_log[-3000:]
    oops = oopses[0]
    assert oops["module"] == "pteguard_testmod" and oops.get("call_trace_at")
    release = vm.ssh("uname -r").stdout.strip()
    build_ids = {"pteguard_testmod": _guest_build_id(vm, "pteguard_testmod")}
    delegate_dir = lab_workdir / "delegate-symbols"
    delegate_dir.mkdir(exist_ok=True)
    shutil.copy(str(lab_image.module_ko), str(delegate_dir / "pteguard_testmod.ko"))

    stripped_only = _run_symbolize(lab_workdir, vm, [oops], release, [STRIPPED_DIR], [str(delegate_dir)], build_ids)
    guest_rip = stripped_only["guest"]["records"][0]["frames"][0]
    assert guest_rip["status"] == "no_debug_info" and "stripped" in guest_rip["message"]
    delegate_rip = stripped_only["delegate"]["records"][0]["frames"][0]
    assert delegate_rip["status"] == "resolved", delegate_rip
    assert delegate_rip["build_id_verified"] is True
    assert os.path.basename(delegate_rip["file"]) == "pteguard_testmod.c"
    assert delegate_rip["line"] == _faulting_line()
    caller = [f for f in stripped_only["delegate"]["records"][0]["frames"] if f["symbol"] == "pteguard_ctl_write"]
    assert caller and caller[0]["status"] == "resolved" and caller[0]["line"] is not None
    vmlinux = [f for f in stripped_only["delegate"]["records"][0]["frames"] if f.get("module") is None
               and f["from"] == "call_trace"]
    assert vmlinux and all(f["status"] == "no_debug_info" and "dbg" in f["message"] for f in vmlinux)

    on_guest = _run_symbolize(lab_workdir, vm, [oops], release, [GUEST_KMOD_DIR], [str(delegate_dir)], {})
    rip = on_guest["guest"]["records"][0]["frames"][0]
    assert rip["status"] == "resolved" and rip["line"] == _faulting_line()
    assert rip["build_id_verified"] is True  # read from the guest's own /sys/module notes


def _journal_previous_boot(vm):
    proc = vm.ssh("journalctl -b -1 -n 300 --no-pager -o short-iso", check=False, timeout=60)
    return proc.stdout + proc.stderr


def _reboot_into_disk(vm, how, timeout=240):
    """Power the guest off (how='cut': QMP quit) or let it reboot itself ('reboot', -no-reboot makes QEMU exit),
    then boot the same overlay from its disk, not from the saved template."""
    if how == "cut":
        vm.ssh("sync", timeout=30)
        vm.stop()
    else:
        vm.ssh("systemctl reboot", check=False, timeout=30)
        assert vm.wait_exit(120), "the guest did not go down on systemctl reboot"
        vm.stop()
    vm.incoming = None
    vm.start()
    vm.wait_ssh(timeout)


def _keep(workdir, name, text):
    """Keep a captured journal in the work directory and, when PTEGUARD_LAB_ARTIFACTS names one, there too."""
    (workdir / name).write_text(text)
    extra = os.environ.get("PTEGUARD_LAB_ARTIFACTS")
    if extra:
        os.makedirs(extra, exist_ok=True)
        with open(os.path.join(extra, name), "w", encoding="utf-8") as handle:
            handle.write(text)


def test_power_cut_then_orderly_reboot(debug_vm, lab_workdir):
    vm = debug_vm
    vm.ssh("mkdir -p /var/log/journal && systemd-tmpfiles --create --prefix /var/log/journal && "
           "journalctl --flush && logger -t pteguard-lab 'before the power cut'")
    time.sleep(2)
    _reboot_into_disk(vm, "cut")
    unclean_text = _journal_previous_boot(vm)
    _keep(lab_workdir, "journal-after-power-cut.txt", unclean_text)
    unclean = previous_boot_end(unclean_text, arch="x86_64")
    assert unclean["state"] == "unclean", unclean["reason"]
    assert unclean["findings"][0]["category"] == "unexpected_reboot"
    assert re.search(r"pteguard-lab|dd|pteguard_testmod", unclean_text), unclean_text[-2000:]

    _reboot_into_disk(vm, "reboot")
    clean_text = _journal_previous_boot(vm)
    _keep(lab_workdir, "journal-after-reboot.txt", clean_text)
    clean = previous_boot_end(clean_text)
    assert clean["state"] == "clean", clean["reason"] + clean_text[-2000:]
    assert clean["findings"] == []
