"""The kernel_update role through the real ansible-playbook against Debian 12 nspawn containers (host kernel).

Package, changelog and DKMS logic run for real against a local apt repository of SYNTHETIC kernel packages (see
conftest). Reboots are the VM tier's (tests/lab/test_kernel_update_vm.py): here no test allows one.
"""

from __future__ import annotations

import pytest

from kernel_update_support import NEW_RELEASE, NEW_VERSION, OLD_RELEASE

pytestmark = pytest.mark.lab


def test_check_mode_changes_nothing_and_says_what_it_would_install(kernel_host, run_play):
    before = kernel_host.state()
    res = run_play(kernel_host, check=True)
    assert res.proc.returncode == 0, res.explain()
    assert kernel_host.state() == before
    assert kernel_host.packages()["linux-image-amd64"][0] != NEW_VERSION
    simulated = res.task("Kernel update | Install the kernel metapackage (check mode - simulate only)")
    assert "Inst linux-image-%s (%s" % (NEW_RELEASE, NEW_VERSION) in simulated["stdout"], simulated
    assert res.fact("kernel_update_expected") == NEW_RELEASE
    assert res.fact("pteguard_step_result") is None  # check mode reports no step result: it did nothing


def test_installs_the_metapackage_keeps_the_old_kernel_builds_dkms_and_a_second_run_changes_nothing(
        kernel_host, run_play):
    kernel_host.add_dkms_module("pteguard_hello")
    res = run_play(kernel_host, extra_vars={"kernel_update_blamed_module": "nvme"})
    assert res.proc.returncode == 0, res.explain()
    pkgs = kernel_host.packages()
    # the metapackage itself moved (not only an ABI package), its ABI package came with it, the old one stayed
    assert pkgs["linux-image-amd64"] == (NEW_VERSION, "ii"), pkgs
    assert pkgs["linux-image-%s" % NEW_RELEASE] == (NEW_VERSION, "ii")
    assert pkgs["linux-image-%s" % OLD_RELEASE][1] == "ii"
    # DKMS really built the module against the new kernel's tree and installed it there
    assert "pteguard_hello/1.0, %s, x86_64: installed" % NEW_RELEASE in kernel_host.sh("dkms status")
    assert kernel_host.sh("ls /lib/modules/%s/updates/dkms/" % NEW_RELEASE).split() == ["pteguard_hello.ko"]
    assert res.fact("kernel_update_dkms")["not_ready"] == []
    # the changelog between the installed 6.1.176-1 and the new version: the two newer entries only
    changelog = res.fact("kernel_update_changelog")
    assert changelog["status"] == "read" and changelog["versions"] == [NEW_VERSION, "6.1.200-1"], changelog
    assert changelog["by_area"] == {"memory_management": 3, "page_tables": 1, "module:nvme": 2}, changelog["by_area"]
    assert not any("kmemleak" in f["change"] for f in changelog["findings"])
    # no reboot: the container runs the host's kernel; the role says why and the runner gets the result
    said = [m for m in res.messages() if "not rebooting because kernel_update_reboot_ok is false" in m]
    assert said and NEW_RELEASE in said[0]
    result = res.fact("pteguard_step_result")
    assert result["outcome"] == "updated" and "installed linux-image-amd64=%s" % NEW_VERSION in result["evidence"]

    before = kernel_host.state()
    again = run_play(kernel_host, extra_vars={"kernel_update_blamed_module": "nvme"})
    assert again.proc.returncode == 0, again.explain()
    assert again.changed_tasks() == [] and again.stats.get("changed") == 0, again.changed_tasks()
    assert kernel_host.state() == before


def test_a_dkms_module_that_does_not_build_for_the_new_kernel_refuses_the_reboot(kernel_host, run_play):
    kernel_host.add_dkms_module("pteguard_broken", broken=True)
    res = run_play(kernel_host, extra_vars={"kernel_update_reboot_ok": True, "kernel_update_reboot_timeout": 30})
    assert res.proc.returncode != 0, res.explain()
    refusal = [m for m in res.failure_messages() if m.startswith("refusing to reboot")]
    assert refusal == ["refusing to reboot labct into %s: DKMS modules are not installed for %s: "
                       "pteguard_broken/1.0 (not built)" % (NEW_RELEASE, NEW_RELEASE)], res.failure_messages()
    assert res.fact("pteguard_step_result") is None


def test_an_unknown_kernel_version_is_a_one_line_error(kernel_host, run_play):
    before = kernel_host.state()
    res = run_play(kernel_host, extra_vars={"kernel_update_version": "9.9.9-1"})
    assert res.proc.returncode != 0
    msgs = [m for m in res.failure_messages() if "unknown kernel version" in m]
    assert len(msgs) == 1 and "\n" not in msgs[0], res.failure_messages()
    assert msgs[0].startswith("unknown kernel version 9.9.9-1: apt knows linux-image-amd64 versions %s, 6.1.176-1"
                              % NEW_VERSION), msgs
    assert kernel_host.state() == before


def test_a_wave_stops_at_its_failure_limit_and_leaves_the_later_hosts_untouched(fleet, run_fleet):
    hosts, inventory = fleet
    hosts[1].add_dkms_module("pteguard_broken", broken=True)  # ku2 fails: its module does not build
    before = [h.state() for h in hosts]
    proc, data = run_fleet(inventory, {"kernel_update_serial": 1, "kernel_update_max_fail_percentage": 0,
                                       "kernel_update_reboot_ok": False})
    assert proc.returncode != 0, proc.stdout[-4000:]
    stats = data["stats"]
    assert stats["ku1"]["failures"] == 0 and stats["ku2"]["failures"] == 1, stats
    assert "ku3" not in stats or sum(stats["ku3"].values()) == 0, stats
    # ku1 was updated in the first wave, ku2 refused, ku3 was never touched
    assert hosts[0].packages()["linux-image-amd64"] == (NEW_VERSION, "ii")
    assert hosts[2].state() == before[2]
    assert hosts[2].packages()["linux-image-amd64"][0] != NEW_VERSION
