"""Step 7 on a real guest kernel: the disk_health role on scsi_debug disks of VM fault-disk (shared fault_vms),
through real ansible-playbook.

1. scsi_debug with medium errors at sectors 2048-2055 (opts=2), opted in: the read-only badblocks -sv scan reports
   the bad blocks (4 KiB blocks 256-257) and the outcome is failing; the disk's checksum is unchanged;
2. a clean scsi_debug disk, opted in: healthy, the scan read every block it was bounded to, checksum unchanged;
   scsi_debug takes the self-test command but keeps no self-test log, so its result is "no result";
3. the same disk without the opt-in: SMART only, no scan; a second such run changes nothing.
smartctl answers on scsi_debug (its SMART status is read); what its self-test gives is kept with the result.
The guest's own badblocks output on the bad disk is kept ($PTEGUARD_LAB_ARTIFACTS) and parsed with the module's parser.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pteguard_lab import injectors
from pteguard_lab.cli import inventory
from lab_support import keep_artifact

from ansible_collections.pteguard.remediation.plugins.module_utils.badblocks import parse_badblocks

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDIUM = "opts=2 medium_error_start=2048 medium_error_count=8"
PLAYBOOK_TIMEOUT = 900
HOST = "lab-fault-disk"
OPT_IN = {"disk_health_self_test_ok": True, "disk_health_self_test": "short", "disk_health_self_test_max_seconds": 300,
          "disk_health_self_test_poll_seconds": 10, "disk_health_badblocks_max_blocks": 16384}


@pytest.fixture(scope="module")
def disk_vm(fault_vms):
    vm = fault_vms["vms"]["fault-disk"]
    assert vm.running()
    yield vm
    injectors.unload_scsi_debug(vm)


@pytest.fixture(scope="module")
def disk_play(disk_vm, tmp_path_factory):
    """Runs playbooks/disk_health.yml on the guest; returns (facts, ansible-playbook's recap line)."""
    work = tmp_path_factory.mktemp("disk_health")
    farm = work / "collections" / "ansible_collections" / "pteguard"
    farm.mkdir(parents=True)
    (farm / "remediation").symlink_to(REPO)
    inv = work / "inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [disk_vm.to_dict()], "containers": []})))
    env = dict(os.environ, ANSIBLE_HOME=str(work / "ansible-home"), ANSIBLE_COLLECTIONS_PATH=str(work / "collections"),
               ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")

    def _run(label, variables):
        out = work / ("%s.json" % label)
        play = [{"name": "Disk health on the lab disk", "hosts": HOST, "gather_facts": False, "become": True,
                 "tasks": [{"name": "Disk health | run the role, keep its fact whatever happens", "block": [
                     {"name": "Disk health | role", "ansible.builtin.include_role": {
                         "name": "pteguard.remediation.disk_health"}}],
                     "rescue": [{"name": "Disk health | the role failed the host", "ansible.builtin.debug": {
                         "msg": "failed"}}],
                     "always": [{"name": "Disk health | keep the fact", "delegate_to": "localhost", "become": False,
                                 "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}",
                                          "ansible_connection": "local"},
                                 "changed_when": False,
                                 "ansible.builtin.copy": {
                                     "content": "{{ {'result': disk_health_result | default(none),"
                                                " 'step': pteguard_step_result | default(none)} | to_json }}",
                                     "dest": str(out), "mode": "0600"}}]}]}]
        (work / ("%s.play.json" % label)).write_text(json.dumps(play))
        (work / ("%s.vars.json" % label)).write_text(json.dumps(variables))
        proc = subprocess.run([playbook, "-i", str(inv), str(work / ("%s.play.json" % label)),
                               "-e", "@" + str(work / ("%s.vars.json" % label))], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        recap = [line for line in proc.stdout.splitlines() if line.startswith(HOST) and "changed=" in line]
        return json.loads(out.read_text()), recap[-1]

    return _run


def _sha256(vm, dev):
    # conv=noerror,sync: an unreadable block reads as zeros, so a disk with medium errors has a checksum too
    return vm.ssh("set -o pipefail; dd if=/dev/%s bs=4096 iflag=direct conv=noerror,sync status=none | sha256sum"
                  % dev, timeout=300).stdout.split()[0]


def test_badblocks_on_medium_errors_reports_the_bad_blocks_and_failing(disk_vm, disk_play):
    injectors.unload_scsi_debug(disk_vm)
    dev = injectors.load_scsi_debug(disk_vm, MEDIUM)
    before = _sha256(disk_vm, dev)
    facts, _recap = disk_play("medium", dict(OPT_IN, disk_health_devices=["/dev/" + dev]))
    result, step = facts["result"], facts["step"]
    keep_artifact("disk-health-medium.json", json.dumps(result, indent=1))
    assert result["status"] == "failing" and step["outcome"] == "failing", result
    (disk,) = result["disks"]
    assert disk["device"] == "/dev/" + dev and disk["smart"] != "unreadable", disk
    bb = disk["badblocks"]
    assert bb["ran"] and bb["completed"] and "-sv" in bb["command"] and "-n" not in bb["command"]
    assert "-w" not in bb["command"]
    # sectors 2048-2055 are 4 KiB block 256
    assert bb["bad_blocks"] == [256] and bb["bad_block_count"] == 1, bb
    assert any("1 bad (first: 256)" in line for line in step["evidence"]), step
    assert result["message"] == "/dev/%s: badblocks found bad blocks" % dev

    # the guest's own badblocks on the same disk (read-only), kept as a fixture and parsed with the module's parser
    proc = disk_vm.ssh("LC_ALL=C badblocks -sv -b 4096 /dev/%s 1023 0" % dev, check=False, timeout=300)
    keep_artifact("badblocks-scsi-debug-medium.stdout", proc.stdout)
    keep_artifact("badblocks-scsi-debug-medium.stderr", proc.stderr)
    bad, summary = parse_badblocks(proc.stdout, proc.stderr)
    assert bad == [256] and summary["bad_blocks"] == 1, proc.stdout + proc.stderr
    assert _sha256(disk_vm, dev) == before


def test_a_clean_disk_is_healthy_unchanged_and_a_second_run_changes_nothing(disk_vm, disk_play):
    injectors.unload_scsi_debug(disk_vm)
    dev = injectors.load_scsi_debug(disk_vm, "")
    before = _sha256(disk_vm, dev)
    facts, _recap = disk_play("clean", dict(OPT_IN, disk_health_devices=[dev]))
    result, step = facts["result"], facts["step"]
    keep_artifact("disk-health-clean.json", json.dumps(result, indent=1))
    assert result["status"] == "healthy" and step["outcome"] == "healthy", result
    (disk,) = result["disks"]
    assert disk["badblocks"]["completed"] and disk["badblocks"]["bad_block_count"] == 0
    # 64 MiB in 4 KiB blocks, all of it within the 16384-block bound
    assert disk["badblocks"]["blocks_checked"] == 16384
    # scsi_debug accepts SEND DIAGNOSTIC but keeps no self-test log page: started, no result to read
    assert disk["self_test"]["status"] == "no_result", disk["self_test"]
    assert "self-test no result (the drive keeps no self-test log)" in disk["evidence"]
    assert _sha256(disk_vm, dev) == before
    # without the opt-in: SMART only
    facts, recap = disk_play("smart-only", {"disk_health_devices": [dev]})
    (disk,) = facts["result"]["disks"]
    assert disk["badblocks"] is None and disk["self_test"]["status"] == "not_opted_in"
    assert facts["step"]["outcome"] == "healthy" and "changed=0" in recap, recap
    facts_again, recap = disk_play("smart-only-again", {"disk_health_devices": [dev]})
    assert "changed=0" in recap and facts_again == facts, recap
