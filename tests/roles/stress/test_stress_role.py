"""pteguard.remediation.stress against real Debian 12 systemd hosts (lab nspawn containers) with ansible-playbook.

The containers run the image's real fio 3.33 and dd. They share this machine's kernel and see none of its log (dmesg
there prints nothing), and they cannot open block devices (the device cgroup): a block-device node made with mknod is
still a block device to stat, which is all the refusals look at. A full filesystem is a small tmpfs filled with dd.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

SCRATCH = "/var/tmp/stress-scratch"


def _listing(host, path):
    return host.sh("ls -la %s" % path).stdout


def test_bad_arguments_are_one_line_errors(lab_host, run_play):
    play = run_play(lab_host, extra_vars={"stress_target": "/var/tmp", "stress_mode": "destroy"})
    assert play.proc.returncode != 0
    assert any("stress_mode" in m and "destroy" in m for m in play.failure_messages()), play.explain()
    assert play.reproduction() is None
    play = run_play(lab_host, extra_vars={"stress_target": "/var/tmp", "stress_size_mb": 0})
    assert play.proc.returncode != 0
    assert play.reproduction()["status"] == "error"
    assert "size_mb must be 1..1048576 (got 0)" in play.failure_messages()
    play = run_play(lab_host)
    assert play.proc.returncode != 0
    assert "stress_target is not set and the diagnosis findings name no device: nothing was run" \
        in play.failure_messages()


def test_nonexistent_device_is_an_error_and_nothing_runs(lab_host, run_play):
    play = run_play(lab_host, extra_vars={"stress_target": "/dev/sdzz"})
    assert play.proc.returncode != 0
    rep = play.reproduction()
    assert rep["status"] == "error" and rep["slices_run"] == 0 and rep["bytes"] == 0
    assert rep["message"].startswith("target /dev/sdzz does not exist")
    assert play.step_result() is None


def test_target_comes_from_the_diagnosis_findings(lab_host, run_play):
    findings = [{"category": "kernel_oops", "device": None}, {"category": "block_io_error", "device": "sdzz"}]
    play = run_play(lab_host, extra_vars={"stress_findings": findings})
    assert play.reproduction()["target"] == "/dev/sdzz"


def test_read_only_is_the_default_and_never_writes(lab_host, run_play):
    lab_host.sh("mkdir -p %s" % SCRATCH)
    before = _listing(lab_host, SCRATCH)
    play = run_play(lab_host, extra_vars={"stress_target": SCRATCH, "stress_kernel_log_required": False})
    rep = play.reproduction()
    # a read load needs the block device under the directory; the container's overlay has none, and read mode
    # does not fall back to writing a file
    assert rep["mode"] == "read" and rep["status"] == "refused", rep
    assert "on no block device" in rep["message"] and "use mode write-scratch" in rep["message"]
    assert _listing(lab_host, SCRATCH) == before


def test_device_write_not_opted_in_is_refused_before_anything_runs(lab_host, run_play):
    # a real block-device node (loop major 7); the container could not even open it, and the role must not try
    lab_host.sh("mknod /dev/pgstress b 7 200")
    base = {"stress_target": "/dev/pgstress", "stress_mode": "write-device"}
    play = run_play(lab_host, extra_vars=base)
    rep = play.reproduction()
    assert rep["status"] == "refused" and rep["slices_run"] == 0 and rep["tool"] is None
    assert "not listed in destructive_devices" in rep["message"]
    play = run_play(lab_host, extra_vars=dict(base, stress_destructive_devices=["/dev/pgstress"]))
    rep = play.reproduction()
    assert rep["status"] == "refused" and "allow_device_write" in rep["message"]
    assert play.proc.returncode != 0 and play.step_result() is None


def test_check_mode_says_what_it_would_run_and_writes_nothing(lab_host, run_play):
    lab_host.sh("mkdir -p %s" % SCRATCH)
    before = _listing(lab_host, SCRATCH)
    extra = {"stress_target": SCRATCH, "stress_mode": "write-scratch", "stress_size_mb": 4,
             "stress_scratch_min_free_mb": 1, "stress_kernel_log_required": False}
    play = run_play(lab_host, check=True, extra_vars=extra)
    assert play.proc.returncode == 0, play.explain()
    rep = play.reproduction()
    assert rep["status"] == "planned" and rep["slices_run"] == 0 and rep["tool"] == "fio"
    argv = rep["plan"]["argv"]
    assert argv[0].endswith("fio") and "--verify=crc32c" in argv and "--size=262144" in argv
    assert rep["message"].startswith("check mode: would run 16 slice(s) of fio, 4 MiB")
    assert play.stats.get("changed", -1) == 0
    assert _listing(lab_host, SCRATCH) == before


def test_scratch_write_runs_fio_and_leaves_nothing(lab_host, run_play):
    lab_host.sh("mkdir -p %s" % SCRATCH)
    before = _listing(lab_host, SCRATCH)
    extra = {"stress_target": SCRATCH, "stress_mode": "write-scratch", "stress_size_mb": 4, "stress_slices": 4,
             "stress_scratch_min_free_mb": 1, "stress_kernel_log_required": False}
    play = run_play(lab_host, extra_vars=extra)
    rep = play.reproduction()
    assert rep["tool"] == "fio" and rep["slices_run"] == 4 and rep["io_errors"] == []
    # fio wrote 4 MiB and read it back for crc32c verification
    assert rep["bytes"] >= 4 * 1048576
    # the container cannot see the kernel log, so a clean run is not shown clean
    assert rep["kernel_log"]["watched"] is False
    assert rep["status"] == "error" and "not shown clean" in rep["message"], rep
    assert _listing(lab_host, SCRATCH) == before


def test_scratch_on_a_full_filesystem_is_refused_and_writes_nothing(lab_host, run_play):
    lab_host.sh("mkdir -p /mnt/full && mount -t tmpfs -o size=8m tmpfs /mnt/full && "
                "(dd if=/dev/zero of=/mnt/full/filler bs=1M count=16 2>/dev/null || true)")
    before = _listing(lab_host, "/mnt/full")
    extra = {"stress_target": "/mnt/full", "stress_mode": "write-scratch", "stress_size_mb": 2,
             "stress_scratch_min_free_mb": 1}
    play = run_play(lab_host, extra_vars=extra)
    assert play.proc.returncode != 0
    rep = play.reproduction()
    assert rep["status"] == "refused" and rep["slices_run"] == 0
    assert "/mnt/full has 0 MiB free; the scratch file needs 2 MiB and 1 MiB must stay free: refused, nothing " \
           "was written" == rep["message"]
    assert _listing(lab_host, "/mnt/full") == before


def test_fio_missing_falls_back_to_dd_or_says_so(lab_host, run_play):
    lab_host.sh("mkdir -p %s && mv /usr/bin/fio /root/fio.off" % SCRATCH)
    extra = {"stress_target": SCRATCH, "stress_mode": "write-scratch", "stress_size_mb": 2, "stress_slices": 2,
             "stress_scratch_min_free_mb": 1, "stress_kernel_log_required": False}
    play = run_play(lab_host, extra_vars=dict(extra, stress_tool="fio"))
    rep = play.reproduction()
    assert rep["status"] == "error" and rep["slices_run"] == 0
    assert rep["message"] == "fio is not installed on this host (package fio); tool: auto falls back to dd"
    play = run_play(lab_host, extra_vars=extra)
    rep = play.reproduction()
    assert rep["tool"] == "dd" and rep["slices_run"] == 2 and rep["bytes"] == 2 * 1048576
    assert rep["plan"]["argv"][0].endswith("dd") and "conv=notrunc,fsync" in rep["plan"]["argv"]
    assert "no such" not in _listing(lab_host, SCRATCH) and ".pteguard-stress" not in _listing(lab_host, SCRATCH)
