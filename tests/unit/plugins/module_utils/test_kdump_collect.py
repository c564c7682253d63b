"""kdump readiness and saved dumps' dmesg (kdump_collect) through a CollectHost with recorded answers.

The saved dmesg files are real kernel text (tests/fixtures/logs, sources in their .json) placed where kdump-tools
and RHEL kdump put them; procfs/sysfs values and command outputs are recorded in the form the tools print them.
"""

from __future__ import annotations

import os
import shutil

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError
from ansible_collections.pteguard.remediation.plugins.module_utils.kdump_collect import collect_kdump

from .recorded_host import RecordedHost

LOGS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "logs")
MEMINFO = "MemTotal:         512000 kB\nMemFree:          300000 kB\n"


def _host(dump_dir, reserved="0", loaded="0", cmdline="BOOT_IMAGE=/vmlinuz root=/dev/vda ro", unit="loaded",
          active="active", avail=8 * 1024 ** 3):
    # one block per unit asked, in that order (as systemd 252 prints it in a lab container)
    show = ("Id=kdump-tools.service\nLoadState=%s\nActiveState=%s\nUnitFileState=enabled\n\n"
            "Id=kdump.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n" % (unit, active))
    return RecordedHost(
        bins=("systemctl",),
        outputs={"systemctl show --property=Id,LoadState,ActiveState,UnitFileState kdump-tools.service "
                 "kdump.service": (0, show, "")},
        free={dump_dir: avail},
        files={"/proc/cmdline": cmdline + "\n", "/sys/kernel/kexec_crash_size": reserved + "\n",
               "/sys/kernel/kexec_crash_loaded": loaded + "\n", "/proc/meminfo": MEMINFO})


def test_ready_host_with_a_saved_panic_reports_the_panic(tmp_path):
    dump_dir = str(tmp_path)
    stamp = tmp_path / "202611300612"
    stamp.mkdir()
    shutil.copy(os.path.join(LOGS, "kernel_panic-fatal_exception_in_interrupt-5.2.log"),
                str(stamp / "dmesg.202611300612"))
    (stamp / "dump.202611300612").write_bytes(b"")
    rhel = tmp_path / "127.0.0.1-2026-11-29-10:00:00"
    rhel.mkdir()
    shutil.copy(os.path.join(LOGS, "system_freeze-hard_lockup-warn-3.16.log"), str(rhel / "vmcore-dmesg.txt"))
    result = collect_kdump(_host(dump_dir, reserved="201326592", loaded="1",
                                 cmdline="root=/dev/vda crashkernel=192M"), dump_dir=dump_dir)
    assert result["ready"] is True and result["problems"] == []
    assert result["crashkernel"] == {"cmdline_param": "crashkernel=192M", "reserved_bytes": 201326592, "loaded": True}
    assert result["service"] == {"unit": "kdump-tools.service", "active": "active", "enabled": "enabled"}
    debian, redhat = result["dumps"]  # newest first by name
    assert debian["vmcore"] == ["dump.202611300612"]
    assert "kernel_panic" in debian["summary"]["by_category"]
    assert redhat["dmesg_file"].endswith("vmcore-dmesg.txt")
    assert [f["category"] for f in redhat["findings"]] == ["system_freeze"]


def test_each_reason_a_crash_would_be_lost_is_said(tmp_path):
    result = collect_kdump(_host(str(tmp_path / "missing"), unit="not-found"), dump_dir=str(tmp_path / "missing"))
    assert result["ready"] is False
    text = " | ".join(result["problems"])
    assert "no memory reserved for a crash kernel" in text and "reboot" in text
    assert "no kdump service" in text
    assert "does not exist" in text
    assert result["dumps"] == []


def test_reserved_but_not_loaded_and_a_small_dump_dir(tmp_path):
    result = collect_kdump(_host(str(tmp_path), reserved="201326592", loaded="0", active="failed",
                                 avail=64 * 1024 ** 2), dump_dir=str(tmp_path))
    text = " | ".join(result["problems"])
    assert "no crash kernel loaded" in text
    assert "kdump-tools.service is failed" in text
    assert "only 64 MiB free" in text


def test_a_dump_without_dmesg_is_listed_with_a_note(tmp_path):
    (tmp_path / "202611300700").mkdir()
    (tmp_path / "202611300700" / "dump.202611300700").write_bytes(b"")
    result = collect_kdump(_host(str(tmp_path)), dump_dir=str(tmp_path))
    assert result["dumps"][0]["note"] == "no dmesg file saved with this dump"


@pytest.mark.parametrize("bad", ["", "var/crash"])
def test_a_relative_dump_dir_is_refused(bad):
    with pytest.raises(CollectError, match="absolute"):
        collect_kdump(_host("/x"), dump_dir=bad)
