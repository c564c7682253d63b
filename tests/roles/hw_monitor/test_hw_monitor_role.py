"""pteguard.remediation.hw_monitor against real Debian 12 systemd hosts (lab nspawn containers).

Each test boots its own container (throw-away overlay on the lab image's rootfs) and runs the real
playbooks/hw_monitor.yml with ansible-playbook over SSH. The lab image ships rasdaemon 0.6.8-1.1 installed
(with Debian's PAGE_CE_ACTION="soft") but no .deb files, so an install from scratch cannot happen offline:
the "fresh host" case purges rasdaemon in the overlay and runs check mode, which must change nothing.
The containers share the host's kernel, so rasdaemon cannot trace there: the role must say so and not start it.
"""

from __future__ import annotations

import json

import pytest

DROPIN = "/etc/systemd/system/rasdaemon.service.d/50-pteguard-buffer-percent.conf"
CONFIG = "/etc/default/rasdaemon"

pytestmark = pytest.mark.lab


def page_ce_action(host) -> str:
    lines = [ln for ln in host.testinfra.file(CONFIG).content_string.splitlines()
             if ln.strip().startswith("PAGE_CE_ACTION=")]
    assert len(lines) == 1, lines
    return lines[0].split("=", 1)[1].strip('"')


def test_check_then_converge_then_idempotent(lab_host, run_play):
    ti = lab_host.testinfra
    assert ti.package("rasdaemon").is_installed
    assert page_ce_action(lab_host) == "soft"  # Debian's default: soft-offline
    before = ti.file(CONFIG).sha256sum

    # Check mode first: reports what it would change, changes nothing.
    check = run_play(lab_host, check=True, label="check mode (pristine)")
    assert check.proc.returncode == 0, check.explain()
    assert check.stats.get("changed", 0) >= 1, check.explain()
    assert ti.file(CONFIG).sha256sum == before
    assert not ti.file(DROPIN).exists

    # Converge.
    first = run_play(lab_host, label="converge")
    assert first.proc.returncode == 0, first.explain()
    facts = first.facts()
    assert facts["hw_monitor_backend"] == "rasdaemon", facts
    assert facts["hw_monitor_reason"].startswith("rasdaemon: "), facts
    assert "family 0x" in facts["hw_monitor_reason"]
    assert facts["hw_monitor_probe"]["container"] == "systemd-nspawn"
    assert facts["hw_monitor_probe"]["packages"]["rasdaemon"]["installed"] == "0.6.8-1.1"
    assert facts["hw_monitor_probe"]["kernel_config"]["X86_MCELOG_LEGACY"] in (None, "n")
    assert "mcelog" in facts["hw_monitor_rejected"], facts  # no /dev/mcelog here
    changed = first.changed_tasks()
    assert any("PAGE_CE_ACTION" in name for name in changed), changed
    assert any("buffer_percent drop-in" in name for name in changed), changed
    assert any("backend rasdaemon - rasdaemon: " in m for m in first.messages()), first.messages()

    assert page_ce_action(lab_host) == "account"
    dropin = ti.file(DROPIN)
    assert dropin.exists and dropin.mode == 0o644 and dropin.user == "root"
    assert "ExecStartPre=" in dropin.content_string
    assert "instances/rasdaemon/buffer_percent" in dropin.content_string
    assert "$$d" in dropin.content_string  # systemd's escape for a literal $ in a shell loop
    unit = lab_host.sh("systemctl show rasdaemon --property=DropInPaths,UnitFileState,ActiveState").stdout
    assert DROPIN in unit, unit  # systemd loaded the drop-in
    assert "UnitFileState=enabled" in unit, unit
    # A container shares the host kernel: the role must not start rasdaemon and must say why.
    assert "ActiveState=inactive" in unit, unit
    service = facts["hw_monitor_service"]
    assert service["running"] is False
    assert "tracefs is not mounted inside this systemd-nspawn container" in service["why_not_running"]
    assert any("not running: tracefs is not mounted" in m for m in first.messages()), first.messages()

    # Second converge: nothing to do.
    second = run_play(lab_host, label="converge again")
    assert second.proc.returncode == 0, second.explain()
    assert second.stats.get("changed", -1) == 0, (second.changed_tasks(), second.explain())

    # Check mode on the converged host: nothing would change either.
    recheck = run_play(lab_host, check=True, label="check mode (converged)")
    assert recheck.proc.returncode == 0, recheck.explain()
    assert recheck.stats.get("changed", -1) == 0, recheck.changed_tasks()


def test_check_mode_on_fresh_host_changes_nothing(lab_host, run_play):
    lab_host.sh("dpkg --purge rasdaemon >/dev/null 2>&1")
    ti = lab_host.testinfra
    assert not ti.package("rasdaemon").is_installed
    assert not ti.file(CONFIG).exists

    check = run_play(lab_host, check=True, label="check mode (fresh)")
    assert check.proc.returncode == 0, check.explain()
    facts = check.facts()
    assert facts["hw_monitor_backend"] == "rasdaemon", facts
    assert facts["hw_monitor_probe"]["packages"]["rasdaemon"]["installed"] is None
    assert facts["hw_monitor_probe"]["packages"]["rasdaemon"]["candidate"] == "0.6.8-1.1"
    assert check.stats.get("changed", 0) >= 1, check.explain()
    assert any("would install rasdaemon" in m for m in check.messages()), check.messages()
    assert facts["hw_monitor_service"]["running"] is False
    assert "not installed (check mode)" in facts["hw_monitor_service"]["why_not_running"]

    assert not ti.package("rasdaemon").is_installed
    assert not ti.file(CONFIG).exists
    assert not ti.file(DROPIN).exists
    assert not ti.file("/var/lib/rasdaemon/ras-mc_event.db").exists


def config_snapshot(host) -> str:
    """Every file and directory the role could write (path, mode, size, mtime), to show a run wrote nothing."""
    return host.sh("find /etc/default /etc/systemd /etc/mcelog -printf '%p %m %s %T@\\n' 2>/dev/null | sort",
                   check=False).stdout


def mount_tracefs(host) -> None:
    """Mount the (shared) kernel's tracefs inside the container, as a real host or VM has it.

    Then the probe finds tracing usable and nothing blocks starting rasdaemon, as on a fresh systemd host:
    the handler and service paths run that the tracefs-less container otherwise skips. Only check mode
    and runs that cannot install rasdaemon use it, so nothing ever starts tracing the host's kernel.
    """
    host.sh("mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing")
    assert host.testinfra.file("/sys/kernel/tracing/instances").is_directory


def test_check_mode_on_fresh_systemd_host_that_could_run_rasdaemon(lab_host, run_play):
    """Issue 7 item 11: check mode where rasdaemon is absent and nothing blocks starting it.

    The configuration tasks report changes and notify the restart handler; the unit does not exist yet, so the
    handler must not ask systemd to restart it (on main it failed: "Could not find the requested service").
    """
    lab_host.sh("dpkg --purge rasdaemon >/dev/null 2>&1")
    mount_tracefs(lab_host)
    ti = lab_host.testinfra
    assert not ti.package("rasdaemon").is_installed
    units_before = lab_host.sh("systemctl list-unit-files --no-legend --no-pager").stdout
    files_before = config_snapshot(lab_host)

    check = run_play(lab_host, check=True, label="check mode (fresh, tracefs)")
    assert check.proc.returncode == 0, check.explain()
    assert check.stats.get("failures", 1) == 0, check.explain()
    facts = check.facts()
    assert facts["hw_monitor_backend"] == "rasdaemon", facts
    assert facts["hw_monitor_probe"]["tracefs"] == "mounted", facts
    assert check.stats.get("changed", 0) >= 1, check.explain()
    assert any("would install rasdaemon" in m for m in check.messages()), check.messages()
    assert any("would restart rasdaemon" in m for m in check.messages()), check.messages()
    assert "not installed (check mode)" in facts["hw_monitor_service"]["why_not_running"]

    assert not ti.package("rasdaemon").is_installed
    assert not ti.file(CONFIG).exists
    assert not ti.file(DROPIN).exists
    assert config_snapshot(lab_host) == files_before
    assert lab_host.sh("systemctl list-unit-files --no-legend --no-pager").stdout == units_before


@pytest.mark.parametrize("offline,action", [(True, "soft"), (False, "account")])
def test_page_offline_setting_writes_page_ce_action(lab_host, run_play, offline, action):
    # Start from the opposite value so the role has to change it either way.
    opposite = "account" if offline else "soft"
    lab_host.sh("sed -i 's/^PAGE_CE_ACTION=.*/PAGE_CE_ACTION=\"%s\"/' %s" % (opposite, CONFIG))
    assert page_ce_action(lab_host) == opposite

    run = run_play(lab_host, extra_vars={"hw_monitor_page_offline": offline,
                                         "hw_monitor_page_ce_threshold": "40"}, label="converge (page_offline)")
    assert run.proc.returncode == 0, run.explain()
    assert page_ce_action(lab_host) == action
    content = lab_host.testinfra.file(CONFIG).content_string
    assert 'PAGE_CE_THRESHOLD="40"' in content
    assert content.count("PAGE_CE_ACTION=") == 1  # replaced in place, comments untouched
    assert 'Note: default offline choice is "soft".' in content


def test_preference_none_installs_and_changes_nothing(lab_host, run_play):
    before = lab_host.testinfra.file(CONFIG).sha256sum
    run = run_play(lab_host, extra_vars={"hw_monitor_backend_preference": "none"}, label="converge (none)")
    assert run.proc.returncode == 0, run.explain()
    facts = run.facts()
    assert facts["hw_monitor_backend"] == "none"
    assert "preference 'none'" in facts["hw_monitor_reason"]
    assert run.stats.get("changed", -1) == 0, run.changed_tasks()
    assert lab_host.testinfra.file(CONFIG).sha256sum == before
    assert not lab_host.testinfra.file(DROPIN).exists


def block_package_downloads(host) -> None:
    """No mirror reachable: apt's only way out is a proxy on the container's own loopback port 9 (refused)."""
    host.sh("printf 'Acquire::http::Proxy \"http://127.0.0.1:9/\";\\nAcquire::https::Proxy \"http://127.0.0.1:9/\";\\n'"
            " > /etc/apt/apt.conf.d/99-pteguard-test-offline")


def test_converge_without_a_mirror_fails_clearly_and_writes_nothing(lab_host, run_play):
    lab_host.sh("dpkg --purge rasdaemon >/dev/null 2>&1")
    block_package_downloads(lab_host)
    ti = lab_host.testinfra
    files_before = config_snapshot(lab_host)

    run = run_play(lab_host, label="converge (no mirror)")
    assert run.proc.returncode == 2, run.explain()
    assert run.stats.get("failures") == 1, run.explain()
    results = run.task_results()
    stop = results["pteguard.remediation.hw_monitor : HW monitor | Stop this host - the backend's package could not be installed"]
    assert stop.get("failed"), run.explain()
    msg = stop["msg"]
    assert msg.startswith("could not install rasdaemon 0.6.8-1.1 from this host's package sources"), msg
    assert "rasdaemon was not configured or started" in msg and "hw_monitor_install" in msg, msg
    assert "Could not connect to 127.0.0.1:9" in msg, msg  # apt's own reason, kept
    assert not ti.package("rasdaemon").is_installed
    assert not ti.file(CONFIG).exists
    assert config_snapshot(lab_host) == files_before


def test_install_false_leaves_a_host_without_the_package_alone(lab_host, run_play):
    lab_host.sh("dpkg --purge rasdaemon >/dev/null 2>&1")
    block_package_downloads(lab_host)
    ti = lab_host.testinfra
    files_before = config_snapshot(lab_host)

    for check in (True, False):
        run = run_play(lab_host, check=check, extra_vars={"hw_monitor_install": False},
                       label="install false (check=%s)" % check)
        assert run.proc.returncode == 0, run.explain()
        assert run.stats.get("changed", -1) == 0, run.changed_tasks()
        facts = run.facts()
        assert facts["hw_monitor_backend"] == "rasdaemon", facts
        assert "hw_monitor_install is false" in facts["hw_monitor_service"]["why_not_running"], facts
        assert any("rasdaemon is not installed and hw_monitor_install is false" in m for m in run.messages())
        assert not ti.package("rasdaemon").is_installed
        assert not ti.file(CONFIG).exists
        assert config_snapshot(lab_host) == files_before


# Each would break, or run code in, the shell that sources /etc/default/rasdaemon (synthetic values).
BAD_ENV_VALUES = [
    ("hw_monitor_page_ce_threshold", '50"\nPAGE_CE_ACTION="hard'),
    ("hw_monitor_page_ce_threshold", "50$(touch /tmp/pwned)"),
    ("hw_monitor_page_ce_threshold", "`reboot`"),
    ("hw_monitor_page_ce_threshold", "50\n"),
    ("hw_monitor_page_ce_refresh_cycle", "24h'"),
    ("hw_monitor_page_ce_refresh_cycle", "24 hours"),
]


def test_unsafe_env_file_values_are_refused_before_writing(lab_host, run_play):
    ti = lab_host.testinfra
    before = ti.file(CONFIG).sha256sum
    for name, value in BAD_ENV_VALUES:
        run = run_play(lab_host, extra_vars={name: value}, label="converge (bad env value)")
        assert run.proc.returncode == 2, (name, value, run.explain())
        assert run.stats.get("changed", -1) == 0, (name, value, run.changed_tasks())
        failed = [res for res in run.task_results().values() if res.get("failed")]
        assert len(failed) == 1, run.explain()
        assert failed[0]["msg"].startswith("%s must be empty or one number" % name), failed[0]
        assert "not " + json.dumps(value) in failed[0]["msg"], failed[0]
        assert ti.file(CONFIG).sha256sum == before, (name, value)
        assert not ti.file(DROPIN).exists
    assert not ti.file("/tmp/pwned").exists

    # rasdaemon's own unit suffixes pass.
    good = run_play(lab_host, extra_vars={"hw_monitor_page_ce_threshold": "2k",
                                          "hw_monitor_page_ce_refresh_cycle": "12H"}, label="converge (units)")
    assert good.proc.returncode == 0, good.explain()
    content = ti.file(CONFIG).content_string
    assert 'PAGE_CE_THRESHOLD="2k"' in content and 'PAGE_CE_REFRESH_CYCLE="12H"' in content, content


def test_host_whose_pid1_is_not_systemd_configures_and_starts_nothing(lab_host_without_systemd, run_play):
    """Issue 7 item 11 as reported: PID 1 is not systemd (here sshd itself), rasdaemon installed and stopped.

    Check mode changes nothing and fails nowhere; a converge writes the configuration but never asks a service
    manager that is not there to start or restart anything, says why rasdaemon is not running, and a second
    converge changes nothing.
    """
    host = lab_host_without_systemd
    assert host.sh("cat /proc/1/comm").stdout.strip() == "sshd"
    ti = host.testinfra
    assert ti.package("rasdaemon").is_installed
    before = config_snapshot(host)

    check = run_play(host, check=True, label="check mode (PID 1 not systemd)")
    assert check.proc.returncode == 0, check.explain()
    assert check.stats.get("failures", 1) == 0, check.explain()
    assert config_snapshot(host) == before

    converge = run_play(host, label="converge (PID 1 not systemd)")
    assert converge.proc.returncode == 0, converge.explain()
    facts = converge.facts()
    assert facts["hw_monitor_service"]["running"] is False
    assert "not systemd" in facts["hw_monitor_service"]["why_not_running"], facts["hw_monitor_service"]
    assert not any("restart" in task.lower() for task in converge.changed_tasks()), converge.changed_tasks()
    assert host.sh("pgrep -x rasdaemon", check=False).returncode != 0

    again = run_play(host, label="second converge (PID 1 not systemd)")
    assert again.proc.returncode == 0, again.explain()
    assert again.stats.get("changed", 0) == 0, again.changed_tasks()
