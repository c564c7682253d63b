"""kernel_log_info over the loopback sshd, reading real kernel-log fixtures planted as kern.log and a .gz rotation.

The diagnose role does not expose kern_log_paths, so the module is driven directly with ad-hoc `ansible`.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil

import pytest

from e2e_support import FIXTURE_LOGS, adhoc_results, explain, run, tool

KERN_LOG_FIXTURE = "corpus-045.log"  # syslog, arm64, SCSI medium error on sdb sector 0 (longhorn issue 13420)
ROTATED_FIXTURE = "pte_corruption-corrupted_page_table-syslog-6.10.log"  # Corrupted page table + Bad page map, 6.10


def _module(env, inventory, args, check=False):
    argv = [tool("ansible"), "-i", inventory, "sshhost", "-m", "pteguard.remediation.kernel_log_info",
            "-a", json.dumps(args)]
    if check:
        argv.append("--check")
    proc = run(argv, env)
    results = adhoc_results(proc)
    assert "sshhost" in results, explain(proc)
    return proc, results["sshhost"]


def _analyze(env, path):
    """What `pteguard analyze` (the controller-side engine) finds in the same file."""
    proc = run([tool("pteguard"), "analyze", "--format", "json", "--fail-on", "never", path], env)
    assert proc.returncode == 0, explain(proc)
    (source,) = json.loads(proc.stdout)["sources"]
    return source


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """kern.log, kern.log.1.gz and kern.log.d (a directory the rotation glob also matches: it cannot be read)."""
    base = tmp_path_factory.mktemp("varlog")
    shutil.copyfile(os.path.join(FIXTURE_LOGS, KERN_LOG_FIXTURE), base / "kern.log")
    with open(os.path.join(FIXTURE_LOGS, ROTATED_FIXTURE), "rb") as src, gzip.open(base / "kern.log.1.gz", "wb") as out:
        out.write(src.read())
    (base / "kern.log.d").mkdir()
    return base


@pytest.fixture(scope="module")
def args(planted):
    return {"sources": ["kern_log"], "kern_log_paths": [str(planted / "kern.log"), str(planted / "kern.log.*")]}


@pytest.fixture(scope="module")
def first_run(ansible_env, ssh_inventory, args):
    return _module(ansible_env, ssh_inventory, args)


def test_reads_kern_log_and_gzip_rotation(first_run, planted, ansible_env):
    proc, host = first_run
    assert host["status"] == "SUCCESS", explain(proc)
    result = host["result"]
    assert result["changed"] is False
    by_path = {s.get("path"): s for s in result["sources"]}
    plain, rotated = str(planted / "kern.log"), str(planted / "kern.log.1.gz")
    assert by_path[plain]["status"] == "read" and by_path[plain]["name"] == "kern_log"
    assert by_path[rotated]["status"] == "read" and by_path[rotated]["name"] == "kern_log"
    # nothing but what was asked for is read
    assert {s["name"] for s in result["sources"]} == {"kern_log"}

    findings = result["findings"]
    from_plain = [f for f in findings if f["source"] == plain]
    from_rotated = [f for f in findings if f["source"] == rotated]
    assert len(from_plain) + len(from_rotated) == len(findings)
    assert by_path[plain]["findings"] == len(from_plain) and by_path[rotated]["findings"] == len(from_rotated)

    # corpus-045: the SCSI medium error on sdb, sector 0, and the block-layer errors it caused
    assert {f["category"] for f in from_plain} == {"block_io_error", "storage_device_error"}
    assert {f.get("device") for f in from_plain} == {"sdb"}
    assert any(f["category"] == "block_io_error" and f.get("sector") == 0 for f in from_plain), from_plain
    # the 6.10 rotation: page-table corruption only
    assert {f["category"] for f in from_rotated} == {"pte_corruption"}
    assert any("Corrupted page table" in f["message"] for f in from_rotated), from_rotated
    assert any(f["message"].startswith("BUG: Bad page map") for f in from_rotated), from_rotated
    assert all(f["severity"] in ("info", "warning", "error", "critical") and f["line"] >= 1 for f in findings)

    summary = result["summary"]
    assert summary["findings"] == summary["findings_returned"] == len(findings)
    assert summary["findings_dropped"] == 0
    counts = {}
    for finding in findings:
        counts[finding["category"]] = counts.get(finding["category"], 0) + 1
    assert summary["by_category"] == counts
    assert summary["highest_severity"] == "critical"
    assert summary["sources_read"] == 2


def test_same_findings_as_analyze_on_the_controller(first_run, planted, ansible_env):
    _proc, host = first_run
    findings = host["result"]["findings"]
    for name in ("kern.log", "kern.log.1.gz"):
        path = str(planted / name)
        on_host = [{k: v for k, v in f.items() if k != "source"} for f in findings if f["source"] == path]
        expected = _analyze(ansible_env, path)
        assert on_host == expected["findings"], name
        assert len(on_host) == expected["summary"]["findings"]


def test_unreadable_path_is_reported_and_host_not_failed(first_run, planted):
    proc, host = first_run
    assert host["status"] == "SUCCESS", explain(proc)
    entry = [s for s in host["result"]["sources"] if s.get("path") == str(planted / "kern.log.d")]
    assert entry, host["result"]["sources"]
    assert entry[0]["status"] == "unreadable"
    assert "kern.log.d" in entry[0]["reason"] and "directory" in entry[0]["reason"], entry


def test_missing_path_alone_is_reported_missing(ansible_env, ssh_inventory, planted):
    missing = str(planted / "no-such-kern.log")
    proc, host = _module(ansible_env, ssh_inventory, {"sources": ["kern_log"], "kern_log_paths": [missing]})
    assert host["status"] == "SUCCESS", explain(proc)
    result = host["result"]
    assert result["findings"] == [] and result["summary"]["findings"] == 0
    (entry,) = result["sources"]
    assert entry["name"] == "kern_log" and entry["status"] == "missing"
    assert missing in entry["reason"]
    assert result["summary"]["sources_read"] == 0


def test_missing_path_next_to_readable_ones_is_reported(ansible_env, ssh_inventory, planted, args):
    missing = str(planted / "no-such-kern.log")
    wanted = dict(args, kern_log_paths=args["kern_log_paths"] + [missing])
    proc, host = _module(ansible_env, ssh_inventory, wanted)
    assert host["status"] == "SUCCESS", explain(proc)
    sources = host["result"]["sources"]
    assert any(missing in (s.get("path"), s.get("reason", "")) or missing in s.get("reason", "")
               for s in sources if s["status"] != "read"), sources


def test_check_mode_gives_the_same_findings(first_run, ansible_env, ssh_inventory, args):
    _proc, host = first_run
    proc, checked = _module(ansible_env, ssh_inventory, args, check=True)
    assert checked["status"] == "SUCCESS", explain(proc)
    assert checked["result"]["changed"] is False
    assert checked["result"]["findings"] == host["result"]["findings"]
    assert checked["result"]["summary"] == host["result"]["summary"]
    assert checked["result"]["sources"] == host["result"]["sources"]


def test_second_run_is_unchanged_and_identical(first_run, ansible_env, ssh_inventory, args):
    _proc, host = first_run
    proc, again = _module(ansible_env, ssh_inventory, args)
    assert again["status"] == "SUCCESS", explain(proc)
    assert again["result"]["changed"] is False
    for key in ("findings", "summary", "sources"):
        assert again["result"][key] == host["result"][key], key


def test_rejected_since_cursor_fails_the_host(ansible_env, ssh_inventory):
    # before: the journal was marked unreadable, dmesg read instead, and the host reported ok
    if shutil.which("journalctl") is None:
        pytest.skip("journalctl is not installed")
    cursor = "s=0123456789abcdef;i=zz;b=not-a-boot"
    proc, host = _module(ansible_env, ssh_inventory, {"sources": ["auto"], "since": cursor})
    assert host["status"] == "FAILED!", explain(proc)
    assert "journalctl rejected since=%s (read as a cursor)" % cursor in host["result"]["msg"], host["result"]
    assert proc.returncode != 0


def test_truncated_rotation_is_partial_over_ssh(ansible_env, ssh_inventory, tmp_path):
    with open(os.path.join(FIXTURE_LOGS, KERN_LOG_FIXTURE), "rb") as handle:
        head = handle.read()
    # the real fixture, then SYNTHETIC benign lines; the archive is cut in the filler's part
    filler = b"".join(b"Nov  3 10:%02d:%02d host kernel: [%6d.%06d] synthetic benign line\n"
                      % (i // 60 % 60, i % 60, i, i * 7919 % 1000000) for i in range(40000))
    packed = gzip.compress(head + filler)
    path = tmp_path / "kern.log.4.gz"
    path.write_bytes(packed[: len(packed) * 3 // 4])
    os.chmod(tmp_path, 0o755)
    proc, host = _module(ansible_env, ssh_inventory, {"sources": ["kern_log"], "kern_log_paths": [str(path)]})
    assert host["status"] == "SUCCESS", explain(proc)
    (source,) = host["result"]["sources"]
    assert source["status"] == "partial" and "truncated" in source["reason"] and source["offset"] > 0
    assert host["result"]["summary"]["by_category"] == {"block_io_error": 2, "storage_device_error": 1}
