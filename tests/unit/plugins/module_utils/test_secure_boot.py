"""Secure Boot state: mokutil --sb-state on real outputs (tests/fixtures/tools/160-163, sources in the .meta.json
sidecars) and the efivar in efivarfs' format, through the same reader the modules use."""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.secure_boot import (
    SECURE_BOOT_EFIVAR, parse_mokutil_sb_state, parse_secure_boot_efivar, read_secure_boot)

from .recorded_host import RecordedHost, fixture


@pytest.mark.parametrize("name, state", [("160.txt", "enabled"), ("161.txt", "disabled"),
                                         ("162.txt", "not_applicable"), ("163.txt", "not_applicable")])
def test_mokutil_outputs(name, state):
    assert parse_mokutil_sb_state(fixture(name)) == state


def test_mokutil_output_it_does_not_know_is_unknown():
    assert parse_mokutil_sb_state("mokutil: unrecognized option '--sb-state'\n") == "unknown"
    assert parse_mokutil_sb_state("") == "unknown"


def test_efivar_bytes():
    # efivarfs shows 4 attribute bytes (06 00 00 00: boot-service and runtime access) then the value
    assert parse_secure_boot_efivar(b"\x06\x00\x00\x00\x01") == "enabled"
    assert parse_secure_boot_efivar(b"\x06\x00\x00\x00\x00") == "disabled"
    assert parse_secure_boot_efivar(b"\x06") == "unknown"
    assert parse_secure_boot_efivar("06 00 00 00 01") == "unknown"


def test_no_efi_is_not_applicable_and_runs_nothing(tmp_path):
    host = RecordedHost(bins=["mokutil"])
    state = read_secure_boot(host, efi_dir=str(tmp_path / "efi"))
    assert state["state"] == "not_applicable" and state["source"] == "no-efi"
    assert host.calls == []


def test_mokutil_is_asked_first(tmp_path):
    (tmp_path / "efivars").mkdir()
    host = RecordedHost(bins=["mokutil"], outputs={"mokutil --sb-state": (0, fixture("160.txt"), "")})
    assert read_secure_boot(host, efi_dir=str(tmp_path)) == {"state": "enabled", "source": "mokutil",
                                                             "detail": "SecureBoot enabled"}


def test_efivar_when_mokutil_is_missing(tmp_path):
    (tmp_path / "efivars").mkdir()
    (tmp_path / "efivars" / SECURE_BOOT_EFIVAR).write_bytes(b"\x06\x00\x00\x00\x01")
    state = read_secure_boot(RecordedHost(), efi_dir=str(tmp_path))
    assert state["state"] == "enabled" and state["source"] == "efivar"
    assert state["detail"].endswith(SECURE_BOOT_EFIVAR + ": 06 00 00 00 01")


def test_efi_without_the_variable_or_without_efivarfs(tmp_path):
    assert read_secure_boot(RecordedHost(), efi_dir=str(tmp_path))["state"] == "unknown"
    (tmp_path / "efivars").mkdir()
    assert read_secure_boot(RecordedHost(), efi_dir=str(tmp_path))["state"] == "not_applicable"
