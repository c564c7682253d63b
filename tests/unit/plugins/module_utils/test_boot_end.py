"""Unexpected reboots: the previous boot's journal end and pstore records (real fixtures, sources beside them)."""

from __future__ import annotations

import glob
import json
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.boot_end import (
    previous_boot_end, pstore_records,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures")
JOURNALS = sorted(glob.glob(os.path.join(FIXTURES, "journal", "*.txt")))


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


@pytest.mark.parametrize("path", JOURNALS, ids=[os.path.basename(p)[:-4] for p in JOURNALS])
def test_each_real_journal_end_is_classified_as_labelled(path):
    with open(path[:-4] + ".json", encoding="utf-8") as handle:
        meta = json.load(handle)
    assert meta["source"]
    result = previous_boot_end(_read(path))
    assert result["state"] == meta["expect_state"], result["reason"]
    if meta.get("expect_marker"):
        assert meta["expect_marker"] in result["marker"]["message"]
    assert bool(result["findings"]) == (meta["expect_state"] == "unclean")


def test_fixture_set_has_each_state():
    states = set()
    for path in JOURNALS:
        with open(path[:-4] + ".json", encoding="utf-8") as handle:
            states.add(json.load(handle)["expect_state"])
    assert {"clean", "unclean", "unknown"} <= states


def test_a_journal_that_closed_before_journald_stopped_is_still_an_orderly_end():
    # the real lab reboot journal cut after "Reached target reboot.target": journald's last lines lost
    lines = _read(os.path.join(FIXTURES, "journal", "lab-systemctl_reboot-debian12.txt")).splitlines()
    cut = [n for n, line in enumerate(lines) if "Reached target reboot.target" in line][0]
    result = previous_boot_end("\n".join(lines[:cut + 1]))
    assert result["state"] == "clean" and result["marker"]["kind"] == "started"


def test_a_log_that_ends_in_a_panic_is_unclean_and_names_it():
    # real console capture (tests/fixtures/logs, source in its .json): the boot ended in "Kernel panic"
    text = _read(os.path.join(FIXTURES, "logs", "kernel_panic-fatal_exception_in_interrupt-5.2.log"))
    result = previous_boot_end(text, arch="x86_64")
    assert result["state"] == "unclean"
    (finding,) = result["findings"]
    assert finding["category"] == "unexpected_reboot" and finding["severity"] == "critical"
    assert "panic" in finding["dying"]
    assert finding["last_message"].startswith("---[ end Kernel panic")
    assert finding["line"] == len(text.splitlines())


def test_a_log_that_stops_in_a_hard_lockup_is_unclean():
    text = _read(os.path.join(FIXTURES, "logs", "system_freeze-hard_lockup-warn-3.16.log"))
    result = previous_boot_end(text)
    assert result["state"] == "unclean" and "hard_lockup" in result["findings"][0]["dying"]


def test_a_clean_end_with_a_pstore_dump_is_not_clean():
    text = _read(os.path.join(FIXTURES, "journal", "clean-console-systemd_shutdown-openbmc.txt"))
    result = previous_boot_end(text, ["/sys/fs/pstore/dmesg-ramoops-0", "/sys/fs/pstore/console-ramoops-0"])
    assert result["state"] == "unclean"
    assert result["findings"][0]["pstore"] == ["dmesg-ramoops-0", "console-ramoops-0"]


def test_pstore_alone_says_unclean_even_without_a_journal():
    text = _read(os.path.join(FIXTURES, "journal", "nojournal-no_such_boot_id-fedora37.txt"))
    assert previous_boot_end(text)["state"] == "unknown"
    result = previous_boot_end(text, ["dmesg-efi-168263712800001"])
    assert result["state"] == "unclean" and result["findings"][0]["line"] == 0


def test_empty_input_is_unknown_never_clean():
    for text in ("", b"", "\n\n", "-- No entries --\n"):
        result = previous_boot_end(text)
        assert result["state"] == "unknown" and result["findings"] == []


def test_pstore_names_are_parsed_and_others_ignored():
    records = pstore_records(["dmesg-ramoops-0", "console-ramoops-0", "pmsg-ramoops-0", "dmesg-efi-165912", "README",
                              "/var/lib/systemd/pstore/1700000000/dmesg-erst-7211"])
    assert [(r["kind"], r["backend"]) for r in records] == [
        ("dmesg", "ramoops"), ("console", "ramoops"), ("pmsg", "ramoops"), ("dmesg", "efi"), ("dmesg", "erst")]
