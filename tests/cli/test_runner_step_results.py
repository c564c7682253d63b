"""What one step's run says about each host (step_results.read): a host that went down and never answered again is
`lost`, a host whose task failed is `failed`.

The event files are SYNTHETIC, in the layout and shape ansible-runner writes them
(<work>/artifacts/<ident>/job_events/<n>-<uuid>.json, one event each, with the fields step_results reads); the
end-to-end tests read real ones (tests/e2e/test_cli_runner_lost_hosts.py, tests/lab/test_memtest_boot.py).
"""

from __future__ import annotations

import json

import pytest

from pteguard import step_results


def _write(work, events):
    folder = work / "artifacts" / "ident" / "job_events"
    folder.mkdir(parents=True)
    for number, event in enumerate(events, 1):
        (folder / ("%d-uuid.json" % number)).write_text(json.dumps(event))
    return str(work)


def _ok(action, **res):
    return {"event": "runner_on_ok", "event_data": {"host": "web1", "task_action": action, "res": res}}


def _failed(action, msg, ignored=False):
    return {"event": "runner_on_failed", "event_data": {"host": "web1", "task_action": action, "ignore_errors": ignored,
                                                        "res": {"failed": True, "msg": msg}}}


STATS_FAILED = {"event": "playbook_on_stats", "event_data": {"ok": {"web1": 3}, "failures": {"web1": 1}}}


@pytest.mark.parametrize("wait", [
    _failed("ansible.builtin.wait_for_connection", "timed out waiting for ping module test: ...", ignored=True),
    _failed("ansible.builtin.reboot", "Timed out waiting for last boot time check (timeout=60)"),
], ids=["memory_test/stress wait", "kernel_update reboot"])
def test_a_host_that_rebooted_and_never_answered_again_is_lost(tmp_path, wait):
    work = _write(tmp_path, [_ok("ansible.builtin.command", changed=False), wait,
                             _failed("ansible.builtin.fail", "the host did not answer within 60s after the reboot"),
                             STATS_FAILED])
    assert step_results.read(work)[0] == {"web1": "lost"}


def test_a_reboot_command_that_failed_leaves_the_host_up_so_it_is_failed_not_lost(tmp_path):
    work = _write(tmp_path, [_ok("ansible.builtin.slurp", content="eA=="),
                             _failed("ansible.builtin.reboot", "Reboot command failed. Error was: 'Failed to connect "
                                                               "to bus: No such file or directory'"),
                             _failed("ansible.builtin.fail", "the reboot command failed"), STATS_FAILED])
    assert step_results.read(work)[0] == {"web1": "failed"}


def test_a_failed_task_on_a_host_that_stayed_up_is_failed(tmp_path):
    work = _write(tmp_path, [_ok("ansible.builtin.command", changed=False),
                             _failed("ansible.builtin.command", "non-zero return code"), STATS_FAILED])
    assert step_results.read(work)[0] == {"web1": "failed"}


def test_the_roles_step_result_is_read_from_its_fact(tmp_path):
    fact = {"outcome": "clean", "evidence": {"passes": 1}}
    work = _write(tmp_path, [_ok("ansible.builtin.set_fact", ansible_facts={"pteguard_step_result": fact}),
                             {"event": "playbook_on_stats", "event_data": {"ok": {"web1": 2}}}])
    assert step_results.read(work) == ({"web1": "ok"}, {"web1": fact})
