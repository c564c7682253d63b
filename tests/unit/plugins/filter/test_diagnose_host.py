"""The diagnose_host filter: a thin wrapper over diagnose(), with AnsibleFilterError on bad input."""

from __future__ import annotations

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.pteguard.remediation.plugins.filter.diagnose_host import FilterModule, diagnose_host
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_file
from ansible_collections.pteguard.remediation.plugins.module_utils.smartctl import parse_smartctl

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")


def test_registered():
    assert FilterModule().filters()["diagnose_host"] is diagnose_host


def test_module_results_as_a_playbook_passes_them():
    """kernel_log_info-shaped result (real nvme media errors) + disk_health_info-shaped result (real smartctl 012)."""
    log = os.path.join(FIXTURES, "logs", "storage_device_error-nvme_access_denied-dmesg_relative.log")
    with open(os.path.join(FIXTURES, "tools", "012.json")) as handle:
        disk = parse_smartctl(handle.read())
    disk["device"] = "/dev/nvme0"
    result = diagnose_host({"findings": scan_file(log)["findings"]},
                           hw_errors={"findings": [], "taint": {"names": []}, "hardware_corrupted_kb": 0},
                           disk_health={"disks": [disk], "findings": []},
                           host_facts={"ansible_memtotal_mb": 16384})
    assert result["primary_cause"] == "disk_media"
    assert result["causes"][0]["subject"] == {"device": "nvme0"}


def test_hardware_corrupted_from_hw_error_info_counts():
    result = diagnose_host([], hw_errors={"findings": [], "hardware_corrupted_kb": 4})
    assert result["primary_cause"] == "faulty_memory"


@pytest.mark.parametrize("args,kwargs", [
    (("text",), {}),
    ((None,), {}),
    (([{"category": "bogus", "severity": "error"}],), {}),
    (([],), {"disk_health": 3}),
    (([],), {"taint": object()}),
    (([],), {"host_facts": {"ansible_memtotal_mb": "lots"}}),
])
def test_bad_input_raises_filter_error(args, kwargs):
    with pytest.raises(AnsibleFilterError):
        diagnose_host(*args, **kwargs)
