"""memtest86+ serial screen replay and parsing on a real memtest86+ 6.10 capture."""

from __future__ import annotations

import gzip
import os

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.memtest86_console import (
    ConsoleParseError, parse_screen, read_console, render_screen, should_stop)

CAPTURE = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "memory_test",
                       "memtest86plus-6.10-tcg-direct.serial")


def capture():
    with open(CAPTURE, encoding="utf-8", errors="replace") as fh:
        return fh.read()


def test_real_screen_replayed_like_a_terminal():
    raw = capture()
    # the raw stream holds only fragments of the "Testing:" line: a grep would read them wrong
    assert "\x1b[5;35Hing: " in raw
    screen = render_screen(raw)
    assert len(screen) == 25
    assert screen[0].strip().startswith("Memtest86+ v6.10")
    assert screen[4].startswith("L3 Cache") and "Testing: 4MB - 127MB [123MB of 127MB]" in screen[4]
    parsed = parse_screen(screen)
    assert parsed == {"version": "6.10", "passes": 0, "errors": 0, "status": "Testing",
                      "test": {"number": 6, "name": "Moving inversions, 64 bit pattern"}, "pass_percent": 47,
                      "test_percent": 87, "elapsed": "0:02:26", "error_rows": []}
    assert should_stop(parsed, 1) == (False, None)


def test_stream_cut_mid_redraw_gives_the_values_drawn_so_far():
    raw = capture()
    early = read_console(raw[: len(raw) // 4])
    assert early["passes"] == 0 and early["errors"] == 0
    assert early["elapsed"] < "0:02:26"


def test_synthetic_errors_drawn_over_the_real_screen_stop_the_run():
    # SYNTHETIC: QEMU's RAM never fails, so the error count is drawn with memtest86+'s own cursor move
    raw = capture() + "\x1b[9;45HPass:  1        Errors: 3   "
    parsed = read_console(raw)
    assert parsed["passes"] == 1 and parsed["errors"] == 3
    stop, why = should_stop(parsed, 5)
    assert stop and why == "memtest86+ reports 3 error(s) in pass 2"
    assert should_stop(dict(parsed, errors=0), 1) == (True, "1 pass(es) completed without errors")


def test_not_a_memtest_screen():
    with pytest.raises(ConsoleParseError):
        read_console("GRUB loading.\r\nWelcome to GRUB!\r\n")
    with pytest.raises(ConsoleParseError):
        read_console(b"bytes")


def test_memtest_booted_from_grub_in_the_lab_guest():
    # the serial stream of a real GRUB -> memtest86+ boot (384 MB guest), from the reset to the last status line
    # gzip: the capture's CRLF line ends are real, and ansible-test refuses them in text files
    path = os.path.join(os.path.dirname(CAPTURE), "memtest86plus-6.10-grub-boot-lab.serial.gz")
    with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
        raw = fh.read()
    assert "GNU GRUB  version 2.06" in raw  # GRUB's menu drew on the same port first
    parsed = read_console(raw)
    assert parsed["version"] == "6.10" and parsed["passes"] == 0 and parsed["errors"] == 0
    assert parsed["test"] == {"number": 10, "name": "Bit fade test, 2 patterns"}
    assert parsed["pass_percent"] == 98 and parsed["elapsed"] == "0:03:44"
    assert should_stop(parsed, 1) == (False, None)
