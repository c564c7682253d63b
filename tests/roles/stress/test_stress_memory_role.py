"""The stress role's memory mode (stress-ng --vm --verify) on real Debian 12 systemd hosts (lab nspawn containers).

The containers run the image's real stress-ng 0.15.06. They share this machine's kernel and cannot read its log, so a
clean load ends in error ("not shown clean"), never not_reproduced; a verification failure is still seen: a helper
(flip_stress_ng.py) XORs bytes of the running vm worker's buffer through /proc/PID/mem, and stress-ng's own verify
catches it. Every load here is a few MiB for a few seconds.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

pytestmark = pytest.mark.lab

FLIPPER = Path(__file__).resolve().parent / "flip_stress_ng.py"
SMALL = {"stress_mode": "memory", "stress_size_mb": 8, "stress_max_seconds": 4, "stress_slices": 2,
         "stress_kernel_log_required": False}


def _stress_ng_left(host):
    return host.sh("pgrep -a stress-ng || true").stdout.strip()


def test_small_memory_load_runs_stress_ng_but_an_unread_kernel_log_is_not_clean(lab_host, run_play):
    play = run_play(lab_host, extra_vars=SMALL)
    rep = play.reproduction()
    assert rep["tool"] == "stress-ng" and rep["mode"] == "memory" and rep["target"] == "memory", rep
    assert rep["slices_run"] == 2 and rep["stopped_early"] is False and rep["verify_failures"] == []
    assert rep["plan"]["argv"][1:] == ["--vm", "1", "--vm-bytes", "8M", "--verify", "--timeout", "2s",
                                       "--metrics-brief"], rep["plan"]
    # stress-ng really loaded memory: its own bogo-ops count, parsed from --metrics-brief
    assert rep["memory"]["bogo_ops"] > 0 and rep["memory"]["size_mb"] == 8 and rep["bytes"] == 2 * 8 * 1048576
    assert rep["kernel_log"]["watched"] is False
    assert rep["status"] == "error" and "not shown clean" in rep["message"], rep
    assert play.proc.returncode != 0 and play.step_result() is None
    assert _stress_ng_left(lab_host) == ""


def test_memory_mode_needs_no_target_and_check_mode_runs_nothing(lab_host, run_play):
    play = run_play(lab_host, check=True, extra_vars=dict(SMALL, stress_size_mb=1 << 20))
    assert play.proc.returncode == 0, play.explain()
    rep = play.reproduction()
    assert rep["status"] == "planned" and rep["slices_run"] == 0 and rep["bytes"] == 0
    # a request beyond the share of MemAvailable is cut to it, and the result says so
    sizing = rep["memory"]
    assert sizing["size_mb"] == sizing["limit_mb"] < 1 << 20
    assert sizing["limit_mb"] == sizing["available_mb"] * 50 // 100 - 256
    assert sizing["why"].startswith("requested 1048576 MiB cut to %d MiB" % sizing["limit_mb"])
    assert rep["message"].startswith("check mode: would load %d MiB of RAM (1 worker(s))" % sizing["size_mb"])
    assert play.stats.get("changed", -1) == 0


def test_no_room_for_the_load_is_refused_before_anything_runs(lab_host, run_play):
    play = run_play(lab_host, extra_vars=dict(SMALL, stress_memory_margin_mb=1 << 20))
    assert play.proc.returncode != 0
    rep = play.reproduction()
    assert rep["status"] == "refused" and rep["slices_run"] == 0, rep
    assert "below the 4 MiB minimum" in rep["message"] and rep["message"].endswith("nothing was run")


def test_stress_ng_missing_is_a_clear_error(lab_host, run_play):
    lab_host.sh("mv /usr/bin/stress-ng /root/stress-ng.off")
    play = run_play(lab_host, extra_vars=SMALL)
    rep = play.reproduction()
    assert rep["status"] == "error" and rep["slices_run"] == 0
    assert rep["message"] == "stress-ng is not installed on this host (package stress-ng): nothing was run"


def test_verification_failure_stops_the_load_and_is_reproduced(lab_host, run_play):
    code = base64.b64encode(FLIPPER.read_bytes()).decode()
    lab_host.sh("echo %s | base64 -d > /root/flip.py" % code)
    # waits (bounded) for the vm worker, then flips bytes in its buffer for 30 s
    lab_host.sh("setsid python3 /root/flip.py 8 30 > /root/flip.log 2>&1 < /dev/null &")
    play = run_play(lab_host, extra_vars=dict(SMALL, stress_max_seconds=40, stress_slices=8))
    rep = play.reproduction()
    assert rep["status"] == "reproduced", (rep, lab_host.sh("cat /root/flip.log", check=False).stdout)
    # the first slice failed verification: the other 7 never ran
    assert rep["slices_run"] == 1 and rep["stopped_early"] is True and rep["slices_planned"] == 8
    assert rep["verify_failures"] and "memory errors" in rep["verify_failures"][0], rep["verify_failures"]
    assert rep["message"].startswith("reproduced under a memory load (8 MiB of RAM, 1 worker(s)): stress-ng: ")
    step = play.step_result()
    assert step["outcome"] == "reproduced" and rep["message"] in step["evidence"]
    assert any(line.startswith("stress-ng: ") and "detected" in line for line in step["evidence"]), step
    assert _stress_ng_left(lab_host) == ""
