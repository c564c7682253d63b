"""GRUB environment block, /etc/default/grub, grub.cfg entry parsers, on real files."""

from __future__ import annotations

import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.grub_env import (
    GrubParseError, find_entry, memtest_entries, next_boot, parse_default_grub, parse_grub_cfg, parse_grubenv)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "memory_test")
SERIAL = "Memory test (memtest86+x64.bin, serial console)"


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


def test_grubenv_written_by_grub_editenv():
    env = parse_grubenv(fixture("grubenv-next-entry"))
    assert env == {"saved_entry": "0", "next_entry": SERIAL}
    assert parse_grubenv("") == {}
    with pytest.raises(GrubParseError):
        parse_grubenv("saved_entry=0\n")


def test_grub_cfg_from_update_grub_on_the_lab_guest():
    entries = parse_grub_cfg(fixture("grub.cfg-lab-grub-guest"))
    titles = [e["title"] for e in entries]
    assert titles[0] == "Debian GNU/Linux"
    assert "Memory test (memtest86+x64.bin)" in titles and SERIAL in titles
    nested = [e for e in entries if ">" in e["path"]]
    assert nested and all(e["path"].startswith("Advanced options for Debian GNU/Linux>") for e in nested)
    found = memtest_entries(entries)
    assert found["plain"]["title"] == "Memory test (memtest86+x64.bin)"
    assert found["serial"]["title"] == SERIAL and "console=ttyS0,115200" in found["serial"]["linux"]
    assert found["plain"]["linux"].startswith("/boot/memtest86+x64.bin")
    assert find_entry(entries, SERIAL) is found["serial"]
    assert find_entry(entries, "0") is entries[0]
    assert find_entry(entries, "Memory test (no such build)") is None
    assert "next_entry" in fixture("grub.cfg-lab-grub-guest")  # Debian's 00_header always reads next_entry


def test_next_boot_from_default_and_environment():
    entries = parse_grub_cfg(fixture("grub.cfg-lab-grub-guest"))
    env = parse_grubenv(fixture("grubenv-next-entry"))
    assert next_boot({"GRUB_DEFAULT": "saved"}, env, entries)["entry"] == SERIAL
    assert next_boot({"GRUB_DEFAULT": "saved"}, {"saved_entry": "1"}, entries) == {
        "entry": "1", "why": "saved_entry (GRUB_DEFAULT=saved)", "one_shot": False, "default_is_saved": True}
    plain = next_boot({}, {}, entries)
    assert plain["entry"] == "Debian GNU/Linux" and plain["why"] == "GRUB_DEFAULT=0"


def test_default_grub_shell_assignments():
    text = 'GRUB_DEFAULT=0\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\n# GRUB_DEFAULT=saved\nGRUB_DEFAULT=saved\n'
    values = parse_default_grub(text)
    assert values["GRUB_DEFAULT"] == "saved" and values["GRUB_CMDLINE_LINUX_DEFAULT"] == "quiet"
