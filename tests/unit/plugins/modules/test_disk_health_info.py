"""disk_health_info against fake /sys/block trees and real smartctl outputs (tests/fixtures/tools)."""

from __future__ import annotations

import json
import os

import pytest

from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args

from ansible_collections.pteguard.remediation.plugins.modules import disk_health_info

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


class Host:
    """Stands in for the target: which binaries exist and what each command prints."""

    def __init__(self, bins=("smartctl", "badblocks", "timeout"), smart=None, lsblk=None, badblocks=None):
        self.bins = set(bins)
        self.smart = smart or {}
        self.lsblk = lsblk
        self.badblocks = badblocks or (0, "", "")
        self.calls = []

    def get_bin_path(self, module, name, required=False, opt_dirs=None):
        return "/usr/sbin/%s" % name if name in self.bins else None

    def run_command(self, module, args, **kwargs):
        assert isinstance(args, list), "argv lists only"
        assert kwargs.get("environ_update") == {"LC_ALL": "C"}
        assert not kwargs.get("check_rc")
        self.calls.append(args)
        tool = os.path.basename(args[0])
        if tool == "lsblk":
            return self.lsblk
        if tool == "smartctl":
            return self.smart[args[-1]]
        if tool in ("timeout", "badblocks"):
            return self.badblocks
        raise AssertionError("unexpected command %r" % args)


def run(monkeypatch, capsys, host, args):
    def get_bin_path(module, *args, **kwargs):
        return host.get_bin_path(module, *args, **kwargs)

    def run_command(module, *args, **kwargs):
        return host.run_command(module, *args, **kwargs)

    monkeypatch.setattr(basic.AnsibleModule, "get_bin_path", get_bin_path)
    monkeypatch.setattr(basic.AnsibleModule, "run_command", run_command)
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            disk_health_info.main()
    out = json.loads(capsys.readouterr().out)
    return exc.value.code, out


def make_sysblock(tmp_path, names, virtio=()):
    root = tmp_path / "block"
    for n in names:
        d = root / n
        d.mkdir(parents=True)
        (d / "size").write_text("131072\n")  # 64 MiB in 512-byte sectors
        if not n.startswith(("loop", "zram")):
            dev = tmp_path / "devices" / n
            dev.mkdir(parents=True)
            drv = tmp_path / "drivers" / ("virtio_blk" if n in virtio else "sd")
            drv.mkdir(parents=True, exist_ok=True)
            (dev / "driver").symlink_to(drv)
            (d / "device").symlink_to(dev)
    return str(root)


def test_lsblk_enumeration_and_verdicts(monkeypatch, capsys, tmp_path):
    lsblk = json.dumps({"blockdevices": [
        {"name": "zram0", "type": "disk"}, {"name": "sda", "type": "disk"},
        {"name": "sdb", "type": "disk"}, {"name": "nvme0n1", "type": "disk"},
        {"name": "sr0", "type": "rom"}, {"name": "loop0", "type": "loop"}]})
    host = Host(bins=("smartctl", "lsblk"), lsblk=(0, lsblk, ""), smart={
        "/dev/sda": (0, fixture("103.json"), ""),
        "/dev/sdb": (216, fixture("102.json"), ""),
        "/dev/nvme0n1": (0, fixture("012.json"), ""),
    })
    rc, out = run(monkeypatch, capsys, host, {"sysfs_block": make_sysblock(tmp_path, ["sda", "sdb", "nvme0n1"])})
    assert rc == 0 and out["changed"] is False
    assert out["enumerated_by"] == "lsblk"
    assert [d["device"] for d in out["disks"]] == ["/dev/sda", "/dev/sdb", "/dev/nvme0n1"]
    verdicts = {d["device"]: d["verdict"] for d in out["disks"]}
    assert verdicts == {"/dev/sda": "healthy", "/dev/sdb": "failing", "/dev/nvme0n1": "errors-present"}
    sdb = out["disks"][1]
    assert sdb["exit_status"]["names"][0] == "disk_failing"
    assert sdb["pending_sectors"] == 8
    sev = {f["device"]: f["severity"] for f in out["findings"]}
    assert sev == {"sdb": "critical", "nvme0n1": "error"}
    assert all(f["category"] == "storage_device_error" for f in out["findings"])
    assert [c[1:3] for c in host.calls if "smartctl" in c[0]] == [["--json", "-x"]] * 3


def test_sysfs_fallback_and_unreadable_virtio(monkeypatch, capsys, tmp_path):
    sysblock = make_sysblock(tmp_path, ["vda", "sda", "loop0", "zram0"], virtio=("vda",))
    # synthetic: smartctl's JSON when the device gives no SMART data (virtio disks answer like this)
    unreadable = json.dumps({"smartctl": {"version": [7, 3], "exit_status": 1, "messages": [
        {"string": "/dev/vda: Unable to detect device type", "severity": "error"}]}})
    host = Host(bins=("smartctl",), smart={"/dev/vda": (1, unreadable, ""), "/dev/sda": (0, fixture("003.txt"), "")})
    rc, out = run(monkeypatch, capsys, host, {"sysfs_block": sysblock, "use_lsblk": False})
    assert out["enumerated_by"] == "sysfs"
    assert [d["device"] for d in out["disks"]] == ["/dev/sda", "/dev/vda"]
    vda = out["disks"][1]
    assert vda["verdict"] == "unreadable" and vda["virtual"] is True
    f = out["findings"]
    assert len(f) == 1 and f[0]["device"] == "vda" and f[0]["severity"] == "info"
    assert "Unable to detect device type" in f[0]["message"]


def test_garbage_output_is_a_finding_not_a_crash(monkeypatch, capsys, tmp_path):
    host = Host(smart={"/dev/sda": (4, '{"json_format_version": [1, 0], "smartctl": {', "")})
    rc, out = run(monkeypatch, capsys, host, {"devices": ["sda"], "sysfs_block": make_sysblock(tmp_path, ["sda"])})
    assert rc == 0
    assert out["disks"][0]["verdict"] == "unreadable"
    assert out["disks"][0]["exit_status"]["names"] == ["smart_command_failed"]
    assert out["findings"][0]["severity"] == "warning"


def test_smartctl_missing_is_reported(monkeypatch, capsys, tmp_path):
    host = Host(bins=())
    rc, out = run(monkeypatch, capsys, host, {"devices": ["/dev/sda"], "sysfs_block": make_sysblock(tmp_path, ["sda"])})
    assert out["smartctl_available"] is False
    assert out["findings"][0]["signature"] == "smartctl.missing"
    assert out["disks"][0]["verdict"] == "unreadable"


def test_badblocks_read_only_bounded(monkeypatch, capsys, tmp_path):
    # synthetic badblocks output: bad block numbers on stdout, summary on stderr
    host = Host(smart={"/dev/sda": (0, fixture("103.json"), "")},
                badblocks=(0, "2048\n2049\n", "Checking blocks 0 to 16383\nPass completed, 2 bad blocks found. (2/0/0 errors)\n"))
    rc, out = run(monkeypatch, capsys, host, {"devices": ["/dev/sda"], "badblocks_devices": ["/dev/sda"],
                                              "badblocks_max_blocks": 100000,
                                              "sysfs_block": make_sysblock(tmp_path, ["sda"])})
    bb = out["badblocks"][0]
    assert bb["ran"] is True and bb["bad_blocks"] == [2048, 2049] and bb["completed"] is True
    argv = [c for c in host.calls if "badblocks" in " ".join(c)][0]
    assert argv[:2] == ["/usr/sbin/timeout", "600"]
    assert "-w" not in argv and "-n" not in argv
    # 64 MiB device / 4096-byte blocks = 16384 blocks: bounded by the device, not by the option
    assert argv[-2:] == ["16383", "0"]
    assert bb["blocks_checked"] == 16384
    f = [x for x in out["findings"] if x["source"] == "badblocks"][0]
    assert f["sector"] == 2048 * 8 and f["severity"] == "error"
    assert out["changed"] is False


def test_badblocks_not_run_in_check_mode(monkeypatch, capsys, tmp_path):
    host = Host(smart={"/dev/sda": (0, fixture("103.json"), "")})
    rc, out = run(monkeypatch, capsys, host, {"devices": ["/dev/sda"], "badblocks_devices": ["sda"],
                                              "sysfs_block": make_sysblock(tmp_path, ["sda"]),
                                              "_ansible_check_mode": True})
    assert out["badblocks"][0]["ran"] is False
    assert "check mode" in out["badblocks"][0]["reason"]
    assert not [c for c in host.calls if "badblocks" in " ".join(c)]


def test_badblocks_device_must_be_opted_in_disk(monkeypatch, capsys, tmp_path):
    host = Host(smart={"/dev/sda": (0, fixture("103.json"), "")})
    rc, out = run(monkeypatch, capsys, host, {"devices": ["/dev/sda"], "badblocks_devices": ["/dev/sdq"],
                                              "sysfs_block": make_sysblock(tmp_path, ["sda"])})
    assert rc == 1 and out["failed"] is True and "/dev/sdq" in out["msg"]
