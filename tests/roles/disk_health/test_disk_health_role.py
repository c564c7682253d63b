"""pteguard.remediation.disk_health against real Debian 12 systemd hosts (lab nspawn containers) with ansible-playbook.

The containers run the image's real smartctl (smartmontools 7.3) and badblocks. They see this machine's disks in
lsblk but cannot open them (the device cgroup), so their SMART is unreadable: the role must say the health is
unknown, never healthy. A block-device node made with mknod is a block device to stat, which is all the refusal of
a device that is no physical disk looks at.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab


def test_bad_arguments_are_one_line_errors(lab_host, run_play):
    play = run_play(lab_host, extra_vars={"disk_health_self_test": "destroy"})
    assert play.proc.returncode != 0
    assert any("disk_health_self_test" in m and "destroy" in m for m in play.failure_messages()), play.explain()
    assert play.fact("disk_health_result") is None
    play = run_play(lab_host, extra_vars={"disk_health_badblocks_max_blocks": 0})
    assert play.proc.returncode != 0
    assert "disk_health_badblocks_max_blocks must be at least 1 (got 0): nothing was run" in play.failure_messages()
    assert play.fact("disk_health_result") is None and play.fact("pteguard_step_result") is None


@pytest.mark.parametrize("device,reason", [
    ("/dev/sdzz", "/dev/sdzz does not exist"),
    ("/dev/null", "/dev/null is not a disk (not a block device)"),
    ("/dev/pgdisk", "/dev/pgdisk is not one of the physical disks of this host"),
])
def test_a_device_that_is_no_disk_of_the_host_is_refused_before_anything_runs(lab_host, run_play, device, reason):
    # a real block-device node (loop major 7), not among the disks lsblk lists
    lab_host.sh("test -e /dev/pgdisk || mknod /dev/pgdisk b 7 201")
    play = run_play(lab_host, extra_vars={"disk_health_devices": [device], "disk_health_self_test_ok": True})
    assert play.proc.returncode != 0
    (msg,) = [m for m in play.failure_messages() if m]
    assert msg.startswith(reason) and msg.endswith("nothing was run") and "\n" not in msg, msg
    assert play.fact("disk_health_result")["status"] == "refused"
    assert play.fact("pteguard_step_result") is None
    # nothing started: no smartctl -t, no badblocks task ran
    assert not [t for t in play.task_results() if "Start the SMART self-test" in t or "badblocks scan" in t
                and play.task_results()[t].get("badblocks")]


def test_without_the_opt_in_only_smart_is_read_and_unknown_health_is_never_healthy(lab_host, run_play):
    play = run_play(lab_host)
    assert play.proc.returncode != 0
    result = play.fact("disk_health_result")
    assert result["status"] == "error" and result["opted_in"] is False and result["disks"], result
    for disk in result["disks"]:
        assert disk["smart"] == "unreadable" and disk["badblocks"] is None
        assert disk["self_test"]["status"] == "not_opted_in"
        assert "; badblocks -sv not run: not opted in" in disk["evidence"]
    assert "health unknown (SMART unreadable)" in play.failure_messages()[-1]
    assert play.fact("pteguard_step_result") is None
    assert play.changed_tasks() == []


def test_check_mode_says_what_it_would_do_and_runs_nothing(lab_host, run_play):
    play = run_play(lab_host, check=True, extra_vars={"disk_health_self_test_ok": True,
                                                      "disk_health_badblocks_max_blocks": 1024})
    assert play.proc.returncode == 0, play.explain()
    result = play.fact("disk_health_result")
    assert result["status"] == "check_mode" and play.fact("pteguard_step_result") is None
    assert any(m.startswith("check mode, nothing run: would") and "read 1024 blocks of" in m
               and "badblocks -sv (read-only)" in m for m in play.messages()), play.messages()
    for disk in result["disks"]:
        assert disk["badblocks"]["ran"] is False and disk["badblocks"]["reason"] == "check mode: scan not run"
    assert play.changed_tasks() == []


def test_a_second_run_changes_nothing(lab_host, run_play):
    first = run_play(lab_host)
    second = run_play(lab_host)
    assert first.changed_tasks() == [] and second.changed_tasks() == []
    assert first.fact("disk_health_result") == second.fact("disk_health_result")


def test_one_device_as_a_string_as_the_runner_passes_it(lab_host, run_play):
    # the runner fills disk_health_devices from the cause's subject: one /dev path, not a list
    play = run_play(lab_host, extra_vars={"disk_health_devices": "sdzz"})
    assert play.proc.returncode != 0
    assert play.fact("disk_health_result")["message"].startswith("/dev/sdzz does not exist (physical disks: ")
