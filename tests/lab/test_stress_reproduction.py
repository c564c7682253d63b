"""Step 5 on a real guest kernel: the stress role reads a scsi_debug disk with medium errors, a clean one, and is
refused a write it was not opted in for (VM fault-disk of the shared fault_vms, through real ansible-playbook).

1. scsi_debug with medium errors at sectors 2048-2055 (opts=2): the read load (the role's default mode) reports
   the reproduction with the device and sector 2048 from the kernel's own lines, ties fio's I/O error at offset 1 MiB
   (ENODATA: what Linux returns for a medium error) to them, and stops after the first slice;
2. a clean scsi_debug disk: the same load reports nothing and reads the whole disk, whose checksum is unchanged;
3. a write load on that disk, not opted in (not listed; listed without allow_device_write): refused before anything
   runs, the checksum unchanged.
The guest's own fio output on the bad disk is kept (tests/fixtures/tools take it from $PTEGUARD_LAB_ARTIFACTS) and
parsed here with fio_json.
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

from ansible_collections.pteguard.remediation.plugins.module_utils.fio_json import parse_dd, parse_fio

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDIUM = "opts=2 medium_error_start=2048 medium_error_count=8"
PLAYBOOK_TIMEOUT = 600
HOST = "lab-fault-disk"


@pytest.fixture(scope="module")
def disk_vm(fault_vms):
    vm = fault_vms["vms"]["fault-disk"]
    assert vm.running()
    yield vm
    injectors.unload_scsi_debug(vm)


def ansible_setup(vm, work):
    """(inventory, environment, ansible-playbook) for running the collection from this checkout against one guest."""
    farm = work / "collections" / "ansible_collections" / "pteguard"
    farm.mkdir(parents=True)
    (farm / "remediation").symlink_to(REPO)
    inv = work / "inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [vm.to_dict()], "containers": []})))
    env = dict(os.environ, ANSIBLE_HOME=str(work / "ansible-home"), ANSIBLE_COLLECTIONS_PATH=str(work / "collections"),
               ANSIBLE_HOST_KEY_CHECKING="True", ANSIBLE_CONFIG=os.path.join(REPO, "ansible.cfg"))
    return inv, env, os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def role_play(host, out, before=()):
    """A play that runs the stress role on host (after the tasks in before) and writes its facts to out, whatever
    happens (a refusal fails the host: the fact is kept all the same)."""
    return [{"name": "Stress on a lab guest", "hosts": host, "gather_facts": False, "tasks": [{
        "name": "Stress | run the role, keep its fact whatever happens",
        "block": list(before)
        + [{"name": "Stress | role", "ansible.builtin.include_role": {"name": "pteguard.remediation.stress"}}],
        "rescue": [{"name": "Stress | the role failed the host", "ansible.builtin.debug": {"msg": "failed"}}],
        "always": [{"name": "Stress | keep the fact", "delegate_to": "localhost",
                    "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}",
                             "ansible_connection": "local"},
                    "ansible.builtin.copy": {
                        "content": "{{ {'reproduction': stress_reproduction | default(none),"
                                   " 'step': pteguard_step_result | default(none)} | to_json }}",
                        "dest": str(out), "mode": "0600"}}]}]}]


@pytest.fixture(scope="module")
def stress_play(disk_vm, tmp_path_factory):
    """Runs playbooks/stress.yml's role on the guest; returns the stress_reproduction fact (also on a refusal)."""
    work = tmp_path_factory.mktemp("stress")
    inv, env, playbook = ansible_setup(disk_vm, work)
    runs = []

    def _run(label, variables):
        out = work / ("%s.json" % label)
        before = ([{"name": "Diagnose | role, writing the host's report first",
                    "ansible.builtin.include_role": {"name": "pteguard.remediation.diagnose"},
                    "vars": {"diagnose_report_dir": variables.get("stress_report_dir", "")}}]
                  if variables.pop("__stress_lab_diagnose_first", False) else [])
        (work / ("%s.play.json" % label)).write_text(json.dumps(role_play(HOST, out, before)))
        (work / ("%s.vars.json" % label)).write_text(json.dumps(variables))
        proc = subprocess.run([playbook, "-i", str(inv), str(work / ("%s.play.json" % label)),
                               "-e", "@" + str(work / ("%s.vars.json" % label))], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=PLAYBOOK_TIMEOUT, check=False)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        runs.append(label)
        return json.loads(out.read_text())

    return _run


def _sha256(vm, dev):
    return vm.ssh("sha256sum /dev/%s" % dev, timeout=120).stdout.split()[0]


def test_read_stress_on_medium_errors_reproduces_with_device_and_sector(disk_vm, stress_play):
    dev = injectors.load_scsi_debug(disk_vm, MEDIUM)
    result = stress_play("medium", {"stress_target": "/dev/" + dev, "stress_size_mb": 64, "stress_max_seconds": 300})
    rep = result["reproduction"]
    assert rep["status"] == "reproduced", rep
    assert rep["mode"] == "read" and rep["tool"] == "fio" and "--readonly" in rep["plan"]["argv"]
    assert rep["device"] == dev and rep["kernel_log"] == {"source": "dmesg", "watched": True}
    # the error is at 1 MiB, in the first of 16 slices of 4 MiB: the other 15 never ran
    assert rep["stopped_early"] is True and rep["slices_run"] == 1 and rep["slices_planned"] == 16
    media = [f for f in rep["findings"] if f.get("sector") == 2048 and f.get("device") == dev]
    assert media and media[0]["error_class"] == "media" and media[0]["matches_target"] is True, rep["findings"]
    assert media[0]["category"] == "block_io_error" and "critical medium error" in media[0]["message"]
    (io,) = rep["io_errors"]
    # Linux maps a SCSI medium error to BLK_STS_MEDIUM, which reaches the application as ENODATA (61), not EIO
    assert io["errno"] == 61 and io["error"] == "ENODATA" and io["offset"] == 1048576 and io["sector"] == 2048
    assert io["same_sector"] is True and any("sector 2048" in line for line in io["kernel_lines"])
    assert "sector 2048 of %s" % dev in rep["message"] and "fio: ENODATA at offset 1048576" in rep["message"]
    assert result["step"]["outcome"] == "reproduced" and rep["message"] in result["step"]["evidence"]

    # the guest's own fio and dd on the same disk, kept as fixtures and parsed with the module's parser
    fio = disk_vm.ssh("LC_ALL=C fio --name=pteguard-stress --filename=/dev/%s --readonly --rw=read --bs=64k "
                      "--direct=1 --ioengine=psync --offset=0 --size=4M --output-format=json" % dev, check=False)
    keep_artifact("fio-3.33-eio.json", fio.stdout)
    keep_artifact("fio-3.33-eio.stderr", fio.stderr)
    (job,) = parse_fio(fio.stdout, fio.stderr)["jobs"]
    assert job["error"] == 61 and job["first_error_offset"] == 1048576 and job["first_error_op"] == "read"
    dd = disk_vm.ssh("LC_ALL=C dd if=/dev/%s of=/dev/null bs=65536 count=64 iflag=direct" % dev, check=False)
    keep_artifact("dd-eio.stderr", dd.stderr)
    parsed = parse_dd(dd.stderr)
    assert parsed["errors"][0]["errno"] == 61 and parsed["records_in"] == [16, 0], dd.stderr


def test_read_stress_on_a_clean_disk_reports_none_and_changes_nothing(disk_vm, stress_play):
    injectors.unload_scsi_debug(disk_vm)
    dev = injectors.load_scsi_debug(disk_vm, "")
    before = _sha256(disk_vm, dev)
    result = stress_play("clean", {"stress_target": "/dev/" + dev, "stress_size_mb": 64, "stress_max_seconds": 300})
    rep = result["reproduction"]
    assert rep["status"] == "not_reproduced", rep
    assert rep["findings"] == [] and rep["io_errors"] == [] and rep["stopped_early"] is False
    assert rep["slices_run"] == 16 and rep["bytes"] == 64 * 1048576
    assert result["step"]["outcome"] == "not_reproduced"
    assert _sha256(disk_vm, dev) == before


def test_write_stress_not_opted_in_is_refused_before_anything_runs(disk_vm, stress_play):
    dev = disk_vm.ssh("ls %s/adapter*/host*/target*/*/block/" % injectors.SCSI_DEBUG_SYSFS).stdout.split()[0]
    before = _sha256(disk_vm, dev)
    marker = injectors.mark(disk_vm, "stress-refusal")
    base = {"stress_target": "/dev/" + dev, "stress_mode": "write-device", "stress_size_mb": 64}
    for variables, reason in ((base, "not listed in destructive_devices"),
                              (dict(base, stress_destructive_devices=["/dev/" + dev]), "allow_device_write")):
        result = stress_play("refused-%d" % len(variables), variables)
        rep = result["reproduction"]
        assert rep["status"] == "refused" and reason in rep["message"], rep
        assert rep["slices_run"] == 0 and rep["bytes"] == 0 and rep["tool"] is None and result["step"] is None
    assert _sha256(disk_vm, dev) == before
    # nothing touched the disk: not a single I/O error or SCSI line after the marker
    assert "sd " not in injectors.log_since(disk_vm.dmesg(), marker).replace(marker, "")


def test_reproduction_lands_in_the_hosts_report_and_raises_disk_media(disk_vm, stress_play, tmp_path):
    """The runner's order on one host: the diagnosis writes its report, the stress run adds its reproduction section
    (stress_report_dir) and the diagnosis is made again with it: R1 joins disk_media's rules for that disk."""
    injectors.unload_scsi_debug(disk_vm)
    dev = injectors.load_scsi_debug(disk_vm, MEDIUM)
    reports = tmp_path / "reports"
    reports.mkdir()
    # the first test's medium errors are in this boot's log already: the diagnosis blames the disk before the run
    stress_play("diagnose", {"stress_target": "/dev/" + dev, "stress_mode": "read", "stress_size_mb": 4,
                             "stress_report_dir": str(reports), "__stress_lab_diagnose_first": True})
    (path,) = list(reports.glob("*.json"))
    report = json.loads(path.read_text())
    assert report["reproduction"]["status"] == "reproduced" and report["reproduction"]["device"] == dev
    media = [c for c in report["diagnosis"]["causes"] if c["cause"] == "disk_media" and c["subject"] == {"device": dev}]
    assert media and "R1" in media[0]["rules"], report["diagnosis"]["causes"]
    assert any(e["source"] == "reproduction" for e in media[0]["evidence"])
    assert report["diagnosis"]["inputs"]["reproduction"] == "reproduced"
