"""Line formats: every prefix a kernel message travels with is stripped, and its time kept."""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.log_lines import MAX_LINE_CHARS, decode, split_line

MESSAGE = "BUG: Bad page map in process a.out  pte:8000000012345025 pmd:1234067"


@pytest.mark.parametrize("line, time", [
    ("[ 3526.202270] " + MESSAGE, "3526.202270"),
    ("[Mon Oct  3 13:52:42 2022] " + MESSAGE, "Mon Oct  3 13:52:42 2022"),
    ("<4>[   12.345678][    T1] " + MESSAGE, "12.345678"),
    ("<3>" + MESSAGE, None),
    ("Jul 14 10:26:21 immortal kernel: [699638.193653] " + MESSAGE, "Jul 14 10:26:21"),
    ("Sep 16 19:51:15 kernel: [    0.043437] " + MESSAGE, "Sep 16 19:51:15"),
    ("2019-08-19T04:18:38.274652-04:00 linux-dgwd kernel: [ 261.273226] " + MESSAGE, "2019-08-19T04:18:38.274652-04:00"),
    ("2026-11-25T10:00:00.123456+0000 host kernel: " + MESSAGE, "2026-11-25T10:00:00.123456+0000"),
    ("Nov 25 10:00:00.123456 host kernel: " + MESSAGE, "Nov 25 10:00:00.123456"),
    ("Mär 12 10:00:01 rechner kernel: " + MESSAGE, "Mär 12 10:00:01"),
    ("févr. 12 10:00:01 machine kernel: " + MESSAGE, "févr. 12 10:00:01"),
    ("2016-12-03 19:08:52    [14874911.977777] " + MESSAGE, "2016-12-03 19:08:52"),
    ("18:49:56 kernel: " + MESSAGE, "18:49:56"),
    ("kern.crit kernel: " + MESSAGE, None),
    ("407819.286867] " + MESSAGE, "407819.286867"),
    (MESSAGE, None),
])
def test_prefixes_are_stripped(line, time):
    when, message = split_line(line)
    assert message == MESSAGE
    assert when == time


def test_journal_json_line():
    line = '{"__REALTIME_TIMESTAMP":"1700000000000000","_TRANSPORT":"kernel","MESSAGE":"%s"}' % MESSAGE
    when, message = split_line(line)
    assert message == MESSAGE
    assert when.startswith("2023-11-14T22:13:20")


def test_journal_json_message_as_bytes_array():
    # journald stores a message that is not valid UTF-8 as an array of byte values
    raw = list(b"EXT4-fs error (device sda1): bad \xff name")
    line = '{"MESSAGE":%s}' % raw
    _when, message = split_line(line)
    assert message.startswith("EXT4-fs error (device sda1): bad ")
    assert "\ufffd" in message


def test_broken_json_is_treated_as_text():
    assert split_line('{"MESSAGE": "unterminated')[1] == '{"MESSAGE": "unterminated'


def test_decode_never_fails_and_caps_length():
    assert decode(b"\xff\xfe bad bytes\r\n") == "\ufffd\ufffd bad bytes"
    assert len(decode("x" * (MAX_LINE_CHARS * 3))) == MAX_LINE_CHARS


def test_a_hostname_that_looks_like_a_tag_is_not_eaten_without_a_date():
    assert split_line("kernel: something")[1] == "kernel: something"
