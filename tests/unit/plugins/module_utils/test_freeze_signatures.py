"""Freezes in step 1: hung tasks, soft and hard lockups and RCU stalls, on real fixtures (sources in their .json)."""

from __future__ import annotations

import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils import signatures
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")
SCHEMA = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "schemas", "report.schema.json")


def _findings(name):
    return scan_file(os.path.join(LOGS, name + ".log"))["findings"]


def _expect(name):
    with open(os.path.join(LOGS, name + ".json"), encoding="utf-8") as handle:
        return json.load(handle)["expect"]


def test_the_new_categories_are_everywhere_categories_are_listed():
    with open(SCHEMA, encoding="utf-8") as handle:
        enum = json.load(handle)["$defs"]["category"]["enum"]
    assert enum == list(signatures.CATEGORIES)
    assert set(signatures.CATEGORY_RANK) == set(signatures.CATEGORIES)
    for category in ("system_freeze", "unexpected_reboot"):
        assert category in signatures.CATEGORIES


def test_hung_task_names_task_pid_timeout_and_the_module_it_waits_in():
    (finding,) = _findings("system_freeze-hung_task-dmesgT-4.16-jbd2")
    assert finding["category"] == "system_freeze" and finding["signature"] == "hung_task"
    assert (finding["process"], finding["pid"], finding["seconds"]) == ("logrotate", 17344, 120)
    assert finding["module"] == "jbd2" and finding["module_from"] == "call_trace"
    assert finding["tainted"] == "Not tainted"


def test_one_finding_per_blocked_task():
    name = "system_freeze-hung_task-multi-4.19-sonic"
    found = _findings(name)
    assert len(found) == _expect(name)["hung_tasks"]
    assert [f["process"] for f in found] == _expect(name)["processes"]
    assert all(f["seconds"] == 120 and "warning" in f["taint_flags"] for f in found)


@pytest.mark.parametrize("name", ["system_freeze-soft_lockup-riscv-5.12", "system_freeze-soft_lockup-kernlog-2.6-zfs"])
def test_soft_lockup_names_cpu_seconds_and_task(name):
    (finding,) = _findings(name)
    expect = _expect(name)
    assert finding["signature"] == "soft_lockup" and finding["severity"] == "error"
    wanted = (expect["cpu"], expect["seconds"], expect["processes"][0])
    assert (finding["cpu"], finding["seconds"], finding["process"]) == wanted


def test_soft_lockup_record_keeps_the_tainting_module():
    (finding,) = _findings("system_freeze-soft_lockup-kernlog-2.6-zfs")
    assert "zfs(P)" in finding["tainting_modules"]


@pytest.mark.parametrize("name", ["system_freeze-hard_lockup-journal-ocf", "system_freeze-hard_lockup-warn-3.16"])
def test_hard_lockup_is_critical_with_its_cpu(name):
    (finding,) = _findings(name)
    assert finding["signature"] == "hard_lockup" and finding["severity"] == "critical"
    assert finding["cpu"] == _expect(name)["cpu"]


def test_hard_lockup_3x_takes_task_and_out_of_tree_module_from_its_record():
    (finding,) = _findings("system_freeze-hard_lockup-warn-3.16")
    assert (finding["process"], finding["pid"]) == ("swapper/3", 0)
    assert "xt_ratelimit(O)" in finding["tainting_modules"]


def test_rcu_self_detected_stall_names_cpu_and_symbol():
    (finding,) = _findings("system_freeze-rcu_self_detected-journal-6.18")
    assert finding["signature"] == "rcu_stall" and finding["rcu_flavor"] == "rcu_preempt"
    assert finding["rcu_stall"] == "self-detected stall"
    assert (finding["cpu"], finding["stall_cpu"], finding["symbol"]) == (0, 0, "handle_softirqs")


def test_rcu_stall_seen_by_another_cpu_names_the_stalled_one():
    name = "system_freeze-rcu_detected_stalls-dmesg-5.x"
    found = _findings(name)
    assert len(found) == _expect(name)["rcu_stalls"]
    assert all(f["stall_cpu"] == 1 and f["rcu_flavor"] == "rcu_sched" for f in found)
    assert all("cpu" not in f for f in found)  # "detected by 0" is the reporter, not the stalled CPU


def test_a_panic_on_hard_lockup_stays_a_panic():
    # real line from https://github.com/alibaba/diagnose-tools/issues/107: the panic signature wins
    from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_lines
    found = scan_lines(["[46223316.649832] Kernel panic - not syncing: Hard LOCKUP"])["findings"]
    assert [f["category"] for f in found] == ["kernel_panic"]
