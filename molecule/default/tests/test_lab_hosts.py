"""Host state after converge, checked with pytest-testinfra over the lab's own SSH (molecule's inventory)."""

from __future__ import annotations

import json
import os
import glob


def _kind(host):
    return host.ansible.get_variables().get("pteguard_lab_kind")


def test_vms_run_their_own_kernel_and_rasdaemon(host):
    if _kind(host) != "vm":
        return
    assert host.check_output("uname -r").startswith("6.1.")
    assert host.package("rasdaemon").is_installed
    assert host.service("rasdaemon").is_running
    assert host.service("rasdaemon").is_enabled
    assert 'PAGE_CE_ACTION="account"' in host.file("/etc/default/rasdaemon").content_string


def test_containers_are_containers_with_rasdaemon_configured_not_running(host):
    if _kind(host) != "container":
        return
    assert host.check_output("systemd-detect-virt") == "systemd-nspawn"
    assert 'PAGE_CE_ACTION="account"' in host.file("/etc/default/rasdaemon").content_string
    # a container shares the host's kernel: no tracefs for rasdaemon, and the role must not pretend it runs
    assert not host.service("rasdaemon").is_running


def test_a_fresh_vm_diagnosis_is_clean(host):
    if _kind(host) != "vm":
        return
    name = host.ansible.get_variables()["inventory_hostname"]
    reports = glob.glob(os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "reports", name + ".json"))
    assert reports, "diagnose wrote no report for %s" % name
    with open(reports[0]) as handle:
        report = json.load(handle)
    assert report["kernel_log"]["summary"]["highest_severity"] in (None, "info")
    assert report["diagnosis"]["primary_cause"] == "none"
