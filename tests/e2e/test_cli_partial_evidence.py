"""A host read only in part is never shown clean: `pteguard diagnose` on localhost (local connection) whose kern.log
is whole but whose gzip rotation is cut off mid-stream, as a full disk or a crash during logrotate leaves it.

The log lines are real (a failing SD card; tests/fixtures/logs/README.md gives the source); the truncation is made
here with the real gzip and is the synthetic part.
"""

from __future__ import annotations

import gzip
import os

from e2e_support import FIXTURE_LOGS, diagnose_cli, explain, json_rows, write_inventory

FINDINGS_LOG = os.path.join(FIXTURE_LOGS, "block_io_error-blk_update_request-mmc-5.10.log")
CLEAN_LOG = os.path.join(FIXTURE_LOGS, "none-wsl_boot_recovery_complete.log")


def _host(paths):
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [str(p) for p in paths],
            "diagnose_hw_errors": False, "diagnose_disk_health": False}


def _truncated_rotation(tmp_path):
    with open(FINDINGS_LOG, "rb") as handle:
        data = handle.read()
    whole = gzip.compress(data * 50)
    path = tmp_path / "kern.log.2.gz"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def test_a_clean_log_beside_a_cut_off_rotation_is_incomplete_not_clean(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"halfread": _host([CLEAN_LOG, _truncated_rotation(tmp_path)])})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json", "--fail-on", "never")
    _run, rows = json_rows(proc)
    # nothing at or above --fail-on counts here: only the gap in the evidence sets the exit code
    assert proc.returncode == 4, explain(proc)
    row = rows["halfread"]
    assert row["status"] in ("ok", "incomplete"), row
    gaps = " ".join(str(note) for note in row.get("notes") or row.get("unreadable_sources") or [])
    assert "kern.log.2.gz" in gaps and "partial" in gaps, row


def test_the_same_host_with_every_source_whole_is_clean(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"whole": _host([CLEAN_LOG])})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json", "--fail-on", "never")
    _run, rows = json_rows(proc)
    assert proc.returncode == 0, explain(proc)
    assert rows["whole"]["status"] == "ok"
