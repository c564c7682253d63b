"""pteguard.remediation.memory_test against real Debian 12 hosts (lab nspawn containers, real ansible-playbook).

online: memtester really runs in the container (on the host's RAM, kept to a few MiB). offline: GRUB is exercised
on its files only (grub-reboot and grub-editenv on /boot/grub/grubenv, a grub.cfg update-grub wrote in the lab's
GRUB guest); the reboot into memtest86+ is tests/lab/test_memtest_boot.py's job.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

SERIAL_ENTRY = "Memory test (memtest86+x64.bin, serial console)"


def snapshot(host) -> str:
    """Everything that decides the next boot, as one string to compare before and after a run."""
    return host.sh("sha256sum /etc/default/grub /boot/grub/grub.cfg 2>&1; cat /boot/grub/grubenv 2>&1 | tr -d '#';"
                   " dpkg-query -W -f='${Status}' memtest86+ 2>&1; ls /var/lib/pteguard 2>&1", check=False).stdout


def test_online_check_mode_then_run_then_again(lab_host, run_play):
    small = {"memory_test_size_mb": 8, "memory_test_loops": 1, "memory_test_max_seconds": 240}
    check = run_play(lab_host, check=True, extra_vars=small)
    assert check.proc.returncode == 0, check.explain()
    assert check.stats.get("changed", -1) == 0, check.explain()
    res = check.result()
    assert res["result"] == "incomplete" and res["reasons"] == ["check mode: would run memtester 8M 1 (at most 240s)"]

    run = run_play(lab_host, extra_vars=small)
    assert run.proc.returncode == 0, run.explain()
    res = run.result()
    assert res["mode"] == "online" and res["tool"] == "memtester"
    assert res["result"] == "passed", res
    assert res["plan"]["size_mb"] == 8 and res["plan"]["available_mb"] > 8
    assert res["loops_started"] == 1 and res["memtester_rc"] == 0
    # nspawn gives the container no right to mlock: memtester tests unlocked memory and the verdict says so
    assert res["locked"] is False
    assert res["reasons"][0] == "memory was not locked (mlock refused): pages may have been swapped during the test"
    # the container's journal has no kernel messages and dmesg is refused to it: the verdict says nobody watched
    assert res["kernel_log_window"] == "none" and len(res["reasons"]) == 2, res
    assert res["reasons"][1].startswith("the kernel log could not be read (journal: ")
    assert res["reasons"][1].endswith("memory errors the kernel reports were not watched")
    assert res["kernel_errors"] == [] and res["addresses"] == [] and res["stopped_early"] is False
    step = run.fact("pteguard_step_result")
    assert step["outcome"] == "clean", step
    assert step["evidence"][:2] == ["memory_test online (memtester): passed", res["reasons"][0]]
    assert run.stats.get("changed", -1) == 0, run.changed_tasks()
    assert any("memory_test online: passed (8 MiB, 1 loop(s) started)" in m for m in run.messages()), run.messages()


def test_online_size_is_cut_to_what_memavailable_allows(lab_host, run_play):
    huge = {"memory_test_size_mb": 10 ** 7, "memory_test_available_percent": 10, "memory_test_margin_mb": 512}
    check = run_play(lab_host, check=True, extra_vars=huge)
    assert check.proc.returncode == 0, check.explain()
    plan = check.result()["plan"]
    assert plan["size_mb"] == plan["limit_mb"] == plan["available_mb"] // 10 - 512
    assert plan["why"].startswith("requested 10000000 MiB cut to %d MiB (10%% of MemAvailable" % plan["size_mb"])


def test_online_without_memtester_is_a_clear_error(lab_host, run_play):
    lab_host.sh("rm -f /usr/sbin/memtester /usr/bin/memtester && ! command -v memtester")
    run = run_play(lab_host, extra_vars={"memory_test_size_mb": 8})
    assert run.proc.returncode != 0
    assert run.failure_messages() == ["memtester is not installed on this host (package memtester)"], run.explain()


def test_offline_without_opt_in_changes_nothing_and_says_what_it_would_do(grub_host, run_play):
    before = snapshot(grub_host)
    for check in (True, False):
        run = run_play(grub_host, check=check, extra_vars={"memory_test_mode": "offline"})
        assert run.proc.returncode == 0, run.explain()
        assert run.stats.get("changed", -1) == 0, run.changed_tasks()
        res = run.result()
        assert res["result"] == "not_run" and res["entry"] == SERIAL_ENTRY
        assert res["secure_boot"] == "not_applicable"  # a container has no /sys/firmware/efi
        assert res["would"] == ['grub-reboot "%s" (one-shot next boot)' % SERIAL_ENTRY,
                                "reboot into memtest86+, then wait for a person to bring the host back"]
        assert any("not run on labct (memory_test_reboot_ok is false)" in m for m in run.messages())
        assert snapshot(grub_host) == before


def test_offline_opt_in_prepares_a_one_shot_boot_once(grub_host, run_play):
    before = snapshot(grub_host)
    opted = {"memory_test_mode": "offline", "memory_test_reboot_ok": True, "memory_test_stop_before_reboot": True}
    check = run_play(grub_host, check=True, extra_vars=opted)
    assert check.proc.returncode == 0, check.explain()
    assert snapshot(grub_host) == before

    first = run_play(grub_host, extra_vars=opted)
    assert first.proc.returncode == 0, first.explain()
    assert first.changed_tasks() == [
        "pteguard.remediation.memory_test : Memory test | Offline | Boot memtest86+ once at the next boot (grub-reboot)"]
    assert first.result()["result"] == "prepared"
    env = grub_host.sh("grub-editenv /boot/grub/grubenv list").stdout
    assert "next_entry=%s" % SERIAL_ENTRY in env.splitlines(), env
    # GRUB_DEFAULT was left alone: Debian's grub.cfg reads next_entry whatever GRUB_DEFAULT says
    assert grub_host.sh("grep -c '^GRUB_DEFAULT=0$' /etc/default/grub").stdout.strip() == "1"

    second = run_play(grub_host, extra_vars=opted)
    assert second.proc.returncode == 0, second.explain()
    assert second.stats.get("changed", -1) == 0, second.changed_tasks()


def test_offline_plain_entry_when_the_serial_one_is_not_wanted(grub_host, run_play):
    run = run_play(grub_host, check=True, extra_vars={"memory_test_mode": "offline", "memory_test_serial_console": False})
    assert run.proc.returncode == 0, run.explain()
    assert run.result()["entry"] == "Memory test (memtest86+x64.bin)"


def test_offline_unknown_entry_is_refused(grub_host, run_play):
    before = snapshot(grub_host)
    run = run_play(grub_host, extra_vars={"memory_test_mode": "offline", "memory_test_reboot_ok": True,
                                          "memory_test_grub_entry": "Memory test (no such build)"})
    assert run.proc.returncode != 0
    msgs = run.failure_messages()
    assert len(msgs) == 1 and msgs[0].startswith('GRUB has no menu entry "Memory test (no such build)" in its grub.cfg')
    assert SERIAL_ENTRY in msgs[0] and "\n" not in msgs[0].strip()
    assert snapshot(grub_host) == before


def test_offline_missing_memtest_package(grub_host, run_play):
    grub_host.sh("dpkg --remove memtest86+ >/dev/null 2>&1 || true; test ! -e /boot/memtest86+x64.bin")
    before = snapshot(grub_host)
    refused = run_play(grub_host, extra_vars={"memory_test_mode": "offline", "memory_test_reboot_ok": True,
                                              "memory_test_install_memtest": False})
    assert refused.proc.returncode != 0
    assert refused.failure_messages() == [
        "memtest86+ is not installed on this host and memory_test_install_memtest is false: install it or let the "
        "role install it."], refused.explain()
    told = run_play(grub_host, extra_vars={"memory_test_mode": "offline"})
    assert told.proc.returncode == 0, told.explain()
    assert told.result()["would"][0] == "install memtest86+"
    assert snapshot(grub_host) == before


def test_bad_mode_is_one_clear_error(lab_host, run_play):
    run = run_play(lab_host, extra_vars={"memory_test_mode": "sometimes"})
    assert run.proc.returncode != 0
    assert "memory_test_mode" in run.proc.stdout and "sometimes" in run.proc.stdout


def test_offline_result_of_an_earlier_memtest_boot_is_recorded_without_another_reboot(grub_host, run_play):
    """The note a memtest86+ boot without a controller leaves (the real reboot is tests/lab/test_memtest_boot.py's):
    synthetic here, with a boot_id that is not this boot's, as after the host came back."""
    note = '{"boot_id": "00000000-0000-4000-8000-000000000000", "entry": "%s"}' % SERIAL_ENTRY
    grub_host.sh("mkdir -p /var/lib/pteguard && echo '%s' > /var/lib/pteguard/memory_test-pending.json" % note)
    before = snapshot(grub_host)
    waiting = run_play(grub_host, extra_vars={"memory_test_mode": "offline", "memory_test_reboot_ok": True})
    assert waiting.proc.returncode == 0, waiting.explain()
    res = waiting.result()
    assert res["result"] == "unknown" and res["entry"] == SERIAL_ENTRY, res
    assert res["reasons"][0].startswith("no controller and no result entered: set memory_test_manual_result")
    assert waiting.fact("pteguard_step_result")["outcome"] == "unknown"
    assert snapshot(grub_host) == before  # no grub-reboot, no reboot: the note is still there

    entered = run_play(grub_host, extra_vars={"memory_test_mode": "offline", "memory_test_reboot_ok": True,
                                              "memory_test_manual_result": "failed"})
    assert entered.proc.returncode == 0, entered.explain()
    res = entered.result()
    assert res["result"] == "failed" and res["reasons"] == [
        "no controller: result entered by a person (memory_test_manual_result=failed)"], res
    step = entered.fact("pteguard_step_result")
    assert step["outcome"] == "errors" and step["evidence"][0] == "memory_test offline (memtest86+): failed"
    assert entered.changed_tasks() == [
        "pteguard.remediation.memory_test : Memory test | Offline | Forget the pending memtest86+ boot once its "
        "result is recorded"]
    assert grub_host.sh("test -e /var/lib/pteguard/memory_test-pending.json", check=False).returncode == 1
    assert grub_host.sh("grub-editenv /boot/grub/grubenv list", check=False).stdout.find("next_entry") < 0


def test_offline_note_from_this_same_boot_is_not_a_result(grub_host, run_play):
    boot_id = grub_host.sh("cat /proc/sys/kernel/random/boot_id").stdout.strip()
    grub_host.sh("mkdir -p /var/lib/pteguard && echo '{\"boot_id\": \"%s\", \"entry\": \"x\"}' "
                 "> /var/lib/pteguard/memory_test-pending.json" % boot_id)
    offline = {"memory_test_mode": "offline", "memory_test_manual_result": "passed"}
    run = run_play(grub_host, check=True, extra_vars=offline)
    assert run.proc.returncode == 0, run.explain()
    assert run.result()["result"] == "not_run"  # the host never left this boot: nothing to record
