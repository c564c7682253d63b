# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The kernel-log options shared by kernel_log_info and host_evidence_info (module_utils/kernel_log_collect.py)."""

from __future__ import annotations


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  sources:
    description:
      - Which kernel-log sources to read.
      - V(auto) reads the journal when journald has kernel messages, otherwise C(dmesg) and the kern.log files;
        crash-dump and pstore records are always read in V(auto).
    type: list
    elements: str
    choices: [auto, journal, dmesg, kern_log, crash, pstore]
    default: [auto]
  boots:
    description:
      - Number of boots to read from the journal, the current one included (V(1) is the current boot only).
    type: int
    default: 1
  since:
    description:
      - Read only journal entries after this point. A journal cursor (as returned in C(cursor) by an earlier run)
        or any time C(journalctl --since) accepts. Files are read whole.
    type: str
  kern_log_paths:
    description:
      - Glob patterns of syslog files holding kernel messages; C(.gz) rotations are decompressed on the fly.
    type: list
    elements: path
    default: [/var/log/kern.log, /var/log/kern.log.*]
  crash_dir:
    description:
      - Where kdump saves crash dumps; C(dmesg*) and C(vmcore-dmesg.txt) files below it are read.
    type: path
    default: /var/crash
  pstore_dirs:
    description:
      - Directories holding pstore records (the live pstore filesystem and systemd-pstore's archive).
    type: list
    elements: path
    default: [/sys/fs/pstore, /var/lib/systemd/pstore]
  max_findings:
    description:
      - Most findings returned; C(summary) still counts all of them.
    type: int
    default: 200
  max_lines:
    description:
      - Most journal lines read per boot (the most recent ones); bounds memory on hosts with huge logs.
        A source cut this way says so in C(sources).
    type: int
    default: 500000
  max_matches:
    description:
      - Most anchor lines C(grep) reports per file; bounds what a log made only of errors costs.
    type: int
    default: 100000
  engine:
    description:
      - Prefilter engine. V(auto) uses C(grep) when installed.
    type: str
    choices: [auto, grep, python]
    default: auto
"""
