"""memory_test bad input over a fleet: each bad host gets one clear line, the others go on, nothing changes.

Several inventory names point at one lab container (real ansible-playbook, real sshd). The controllers are the lab's
own: OpenIPMI's ipmi_sim for IPMI and an sshd console on 127.0.0.1 (lab/pteguard_lab/bmc.py), run without a guest
behind them (a login is refused or accepted before the console is attached). Unreachable means a loopback port
nothing listens on.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.lab

OPTED = {"memory_test_mode": "offline", "memory_test_reboot_ok": True}


def snapshot(host) -> str:
    return host.sh("sha256sum /etc/default/grub /boot/grub/grub.cfg 2>&1; cat /boot/grub/grubenv 2>&1 | tr -d '#';"
                   " dpkg-query -W -f='${Status}' memtest86+ 2>&1; ls /var/lib/pteguard 2>&1;"
                   " systemctl list-timers --all --no-legend 2>&1 | grep -c pteguard", check=False).stdout


@pytest.fixture
def controllers(role_tmp):
    from pteguard_lab.bmc import ConsoleServer, IpmiSim
    from pteguard_lab.util import free_port

    work = role_tmp / "controllers"
    work.mkdir(exist_ok=True)
    sim = IpmiSim.start(work)
    console = None
    try:
        console = ConsoleServer.start(work, work / "no-guest.sock")
        yield sim, console, free_port()
    finally:
        for part in (console, sim):
            if part is not None:
                part.stop()


def bmc(sim, console, **override) -> dict:
    value = {"console_host": "127.0.0.1", "console_port": console.port, "console_user": console.user,
             "console_key_file": str(console.client_key), "console_key_passphrase": console.passphrase,
             "console_host_key_alias": console.host_key_alias, "known_hosts": str(console.known_hosts),
             "ipmi_host": "127.0.0.1", "ipmi_port": sim.port, "ipmi_user": sim.user, "ipmi_password": sim.password}
    value.update(override)
    return value


def password_only(value: dict) -> dict:
    return {k: v for k, v in value.items() if k not in ("console_key_file", "console_key_passphrase")}


def test_controller_bad_credentials_and_unreachable_stop_only_their_host(grub_host, run_fleet, controllers):
    sim, console, closed = controllers
    before = snapshot(grub_host)
    hosts = {
        "console-wrong-password": dict(OPTED, memory_test_bmc=password_only(
            bmc(sim, console, console_password="wrong-console-pw"))),
        "console-unreachable": dict(OPTED, memory_test_bmc=bmc(sim, console, console_port=closed)),
        "ipmi-wrong-password": dict(OPTED, memory_test_bmc=bmc(sim, console, ipmi_password="wrong-ipmi-pw")),
        "ipmi-unreachable": dict(OPTED, memory_test_bmc=bmc(sim, console, ipmi_port=closed)),
        "not-opted-in": {"memory_test_mode": "offline"},
    }
    run = run_fleet(grub_host, hosts)
    assert run.proc.returncode == 2, run.explain()
    expected = {
        "console-wrong-password": "controller 127.0.0.1:%d refused the console credentials for root" % console.port,
        "console-unreachable": "controller 127.0.0.1:%d unreachable: " % closed,
        "ipmi-wrong-password": "controller 127.0.0.1:%d refused the IPMI session for admin (wrong credentials or "
                               "cipher suite)" % sim.port,
        "ipmi-unreachable": "controller 127.0.0.1:%d unreachable: no IPMI (RMCP+) reply on that UDP port" % closed,
    }
    for name, message in expected.items():
        failures = run.host_failures(name)
        assert len(failures) == 1 and failures[0].startswith(message), (name, failures)
        assert "\n" not in failures[0].strip()
        # stopped before anything that changes the next boot: no grub-reboot, no reboot timer
        assert not any("grub-reboot" in t["task"] or "Reboot" in t["task"] for t in run.host_tasks(name)
                       if not t.get("skipped")), name
    ok = run.host_fact("not-opted-in", "memory_test_result")
    assert ok["result"] == "not_run" and run.host_stats("not-opted-in").get("failures", 1) == 0
    for secret in ("wrong-console-pw", "wrong-ipmi-pw", sim.password, console.passphrase):
        assert secret not in run.proc.stdout and secret not in run.proc.stderr
    assert snapshot(grub_host) == before


def test_memtest_package_that_cannot_be_installed(grub_host, run_fleet):
    grub_host.sh("dpkg --remove memtest86+ >/dev/null 2>&1 || true")
    before = snapshot(grub_host)
    run = run_fleet(grub_host, {
        "no-such-package": dict(OPTED, memory_test_memtest_package="memtest86+-not-in-any-archive",
                                memory_test_stop_before_reboot=True),
        "not-opted-in": {"memory_test_mode": "offline"},
    })
    assert run.proc.returncode == 2, run.explain()
    assert run.host_failures("no-such-package") == [
        "memtest86+-not-in-any-archive is not installed on this host and its package sources offer no such package "
        "(apt-cache policy: no candidate): fix "
        "memory_test_memtest_package or the host's sources."], run.explain()
    assert run.host_fact("not-opted-in", "memory_test_result")["would"][0] == "install memtest86+"
    assert snapshot(grub_host) == before


def test_secure_boot_enabled_refuses_unsigned_memtest(grub_host, run_play):
    """Secure Boot cannot be switched on in a container: the EFI variable is injected, labelled as such.

    A tmpfs over the container's /sys/firmware holds efi/efivars/SecureBoot-<guid> with the bytes efivarfs shows on a
    real machine with Secure Boot enforcing (06 00 00 00 01, see tests/fixtures/tools/160-163 and lcp/mokutil#45);
    the role's boot_loader_info reads it through its real path (no mokutil in the image: the efivar branch).
    """
    grub_host.sh("mount -t tmpfs pteguard-efi /sys/firmware && mkdir -p /sys/firmware/efi/efivars && printf '"
                 "\\006\\000\\000\\000\\001' > /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c")
    try:
        before = snapshot(grub_host)
        run = run_play(grub_host, extra_vars=dict(OPTED, memory_test_stop_before_reboot=True))
        assert run.proc.returncode != 0
        msgs = run.failure_messages()
        assert len(msgs) == 1 and msgs[0].startswith(
            "Secure Boot is enabled on this host (efivar: /sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-"
            "00e098032b8c: 06 00 00 00 01) and memtest86+ is not signed for it"), run.explain()
        assert snapshot(grub_host) == before
        signed_vars = dict(OPTED, memory_test_stop_before_reboot=True, memory_test_memtest_signed=True)
        signed = run_play(grub_host, check=True, extra_vars=signed_vars)
        assert signed.proc.returncode == 0, signed.explain()
        assert signed.result()["secure_boot"] == "enabled"
    finally:
        grub_host.sh("umount /sys/firmware", check=False)
