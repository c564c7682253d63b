"""The disk-health collector core driven by recorded real tool outputs (tests/fixtures/tools, sources in .meta.json).

110: lsblk on a development machine (vda, zram0); 111: badblocks on a clean file (progress with backspaces);
112: badblocks with two bad blocks (tytso/e2fsprogs PR #151); 102/103: smartctl JSON (scrutiny test data).
"""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.badblocks import parse_badblocks
from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError
from ansible_collections.pteguard.remediation.plugins.module_utils.disk_health_collect import (
    LSBLK_ARGV, collect_disk_health)
from ansible_collections.pteguard.remediation.plugins.module_utils.lsblk import (
    LsblkParseError, parse_lsblk_disks)

from .recorded_host import RecordedHost, fixture

LSBLK_KEY = " ".join(["lsblk"] + LSBLK_ARGV)


def test_lsblk_recorded_output_gives_the_physical_disks():
    assert parse_lsblk_disks(fixture("114.json")) == ["vda"]  # zram0 skipped
    with pytest.raises(LsblkParseError):
        parse_lsblk_disks('{"blockdevices": [')


@pytest.mark.parametrize("stem,bad,summary", [
    ("115", [], {"bad_blocks": 0, "read_errors": 0, "write_errors": 0, "corruption_errors": 0}),
    ("116", [1024, 2048], {"bad_blocks": 2, "read_errors": 2, "write_errors": 0, "corruption_errors": 0}),
    ("210", [256], {"bad_blocks": 1, "read_errors": 1, "write_errors": 0, "corruption_errors": 0}),
])
def test_badblocks_recorded_outputs(stem, bad, summary):
    assert parse_badblocks(fixture(stem + ".stdout.txt"), fixture(stem + ".stderr.txt")) == (bad, summary)


def test_collector_enumerates_with_lsblk_and_reports_a_virtual_disk_without_smartctl():
    host = RecordedHost(bins=("lsblk",), outputs={LSBLK_KEY: (0, fixture("114.json"), "")})
    out = collect_disk_health(host, sysfs_block="/nonexistent/block")
    assert out["enumerated_by"] == "lsblk" and out["notes"] == []
    assert out["smartctl_available"] is False
    (vda,) = out["disks"]
    assert vda["device"] == "/dev/vda" and vda["virtual"] is True and vda["verdict"] == "unreadable"
    assert out["findings"][0]["signature"] == "smartctl.missing"
    assert "health of 1 disks unknown" in out["findings"][0]["message"]
    assert host.calls == [["/usr/sbin/lsblk"] + LSBLK_ARGV]


def test_collector_falls_back_to_sysfs_when_lsblk_fails(tmp_path):
    block = tmp_path / "block"
    (block / "sda").mkdir(parents=True)
    (tmp_path / "dev-sda").mkdir()
    (block / "sda" / "device").symlink_to(tmp_path / "dev-sda")
    (block / "loop0").mkdir()
    host = RecordedHost(bins=("lsblk", "smartctl"), outputs={
        LSBLK_KEY: (1, "", "lsblk: failed to access sysfs directory: /sys/dev/block: No such file or directory"),
        "smartctl --json -x /dev/sda": (216, fixture("102.json"), ""),
    })
    out = collect_disk_health(host, sysfs_block=str(block))
    assert out["enumerated_by"] == "sysfs"
    assert out["notes"][0].startswith("lsblk exited 1 (lsblk: failed to access sysfs directory")
    assert [d["device"] for d in out["disks"]] == ["/dev/sda"]
    assert out["disks"][0]["verdict"] == "failing"
    assert out["findings"][0]["severity"] == "critical" and out["findings"][0]["device"] == "sda"


def test_collector_badblocks_scan_from_a_recorded_run():
    # The recorded run read /dev/sda1 in 1024-byte blocks 0..204799: a 200 MiB device (409600 sectors; derived).
    host = RecordedHost(bins=("smartctl", "badblocks", "timeout"), outputs={
        "smartctl --json -x /dev/sda": (0, fixture("103.json"), ""),
        "timeout 60 badblocks -sv -b 1024 /dev/sda 204799 0": (
            0, fixture("116.stdout.txt"), fixture("116.stderr.txt")),
    }, files={"/sys/block/sda/size": "409600\n"})
    out = collect_disk_health(host, devices=["sda"], badblocks_devices=["/dev/sda"], badblocks_block_size=1024,
                              badblocks_timeout=60)
    (bb,) = out["badblocks"]
    assert bb["ran"] and bb["completed"] and not bb["timed_out"]
    assert bb["blocks_checked"] == 204800 and bb["bad_blocks"] == [1024, 2048]
    (f,) = [x for x in out["findings"] if x["source"] == "badblocks"]
    assert f["sector"] == 2048 and f["severity"] == "error"
    assert "2 unreadable blocks of 1024 bytes in the first 204800 (first: 1024)" in f["message"]


def test_collector_badblocks_clean_run_and_check_mode():
    outputs = {"smartctl --json -x /dev/sda": (0, fixture("103.json"), ""),
               "badblocks -sv -b 4096 /dev/sda 2047 0": (0, fixture("115.stdout.txt"), fixture("115.stderr.txt"))}
    files = {"/sys/block/sda/size": "16384\n"}  # 8 MiB, as the recorded file
    host = RecordedHost(bins=("smartctl", "badblocks"), outputs=outputs, files=files)
    out = collect_disk_health(host, devices=["/dev/sda"], badblocks_devices=["sda"])
    (bb,) = out["badblocks"]
    assert bb["completed"] and bb["bad_block_count"] == 0 and bb["summary"]["read_errors"] == 0
    assert out["findings"] == []
    assert "timeout(1) not found: badblocks on /dev/sda bounded by block count only" in out["notes"]

    host = RecordedHost(bins=("smartctl", "badblocks"), outputs=outputs, files=files)
    out = collect_disk_health(host, devices=["/dev/sda"], badblocks_devices=["sda"], check_mode=True)
    assert out["badblocks"][0] == {"device": "/dev/sda", "ran": False, "mode": "read-only",
                                   "reason": "check mode: scan not run"}
    assert [c for c in host.calls if "badblocks" in c[0]] == []


def test_collector_refuses_bad_arguments():
    host = RecordedHost(bins=("smartctl",))
    with pytest.raises(CollectError) as exc:
        collect_disk_health(host, devices=["sda"], badblocks_devices=["sdq"])
    assert str(exc.value) == "badblocks_devices must be among the disks checked; not found: /dev/sdq"
    assert exc.value.details == {"disks": ["/dev/sda"]}
    with pytest.raises(CollectError, match="badblocks_timeout must be at least 1"):
        collect_disk_health(host, badblocks_timeout=0)
    assert host.calls == []
