"""What `pteguard diagnose` does with awkward input: unread evidence, broken inventories, hostile host names,
secrets in its environment, bad options, a closed pipe or stdin. Real runs on localhost (local connection)."""

from __future__ import annotations

import glob
import json
import os
import subprocess

import pytest

from e2e_support import (
    COLLECTIONS, FIXTURE_LOGS, LOCAL_INVENTORY, diagnose_cli, explain, json_rows, run, tool, write_inventory,
)

# Real kernel messages (a failing SD card, mmc; see tests/fixtures/logs/README.md): error-severity findings.
FINDINGS_LOG = os.path.join(FIXTURE_LOGS, "block_io_error-blk_update_request-mmc-5.10.log")


def _local(**hostvars):
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    host.update(hostvars)
    return host


def _from_file(path):
    return _local(diagnose_kernel_log_sources=["kern_log"], diagnose_kern_log_paths=[str(path)],
                  diagnose_hw_errors=False, diagnose_disk_health=False)


def test_host_with_no_readable_source_is_incomplete(ansible_env, tmp_path):
    nothing = tmp_path / "no-such-kern.log"
    inventory = write_inventory(tmp_path / "inv.yml", {"blind": _from_file(nothing)})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory])
    assert proc.returncode == 4, explain(proc)
    line = [l for l in proc.stdout.splitlines() if l.startswith("blind ")][0]
    assert line.split()[1] == "incomplete", explain(proc)
    notes = [l for l in proc.stdout.splitlines() if l.startswith("note: blind")]
    assert notes and "no kernel-log source could be read" in notes[0] and "missing" in notes[0], explain(proc)


def test_findings_host_and_inventory_since_boots_kept(ansible_env, tmp_path):
    """The CLI passes --boots/--since to the playbook only when given, so per-host inventory values stand."""
    host = _from_file(FINDINGS_LOG)
    host.update(diagnose_kernel_log_boots=3, diagnose_kernel_log_since="2024-01-01")
    inventory = write_inventory(tmp_path / "inv.yml", {"sdcard": host})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json")
    run_record, rows = json_rows(proc)
    assert proc.returncode == 1, explain(proc)
    assert rows["sdcard"]["summary"]["highest_severity"] in ("error", "critical")
    assert _extravars(run_record["artifacts"]) == {"diagnose_write_reports": False}
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json", "--boots", "2", "--since", "")
    extravars = _extravars(json_rows(proc)[0]["artifacts"])
    assert extravars["diagnose_kernel_log_boots"] == 2 and extravars["diagnose_kernel_log_since"] == ""


def _extravars(artifacts):
    """The -e values of the ansible-playbook command the run executed (ansible-runner records it)."""
    (path,) = glob.glob(os.path.join(artifacts, "artifacts", "*", "command"))
    with open(path) as handle:
        argv = json.load(handle)["command"]
    return json.loads(argv[argv.index("-e") + 1])


def test_broken_pipe_keeps_the_result_code(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {"sdcard": _from_file(FINDINGS_LOG)})
    argv = [tool("pteguard"), "diagnose", "-i", inventory, "--report-dir", str(tmp_path / "r"),
            "--work-dir", str(tmp_path / "w"), "--collections-path", COLLECTIONS]
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read the table
    try:
        proc = subprocess.run(argv, env=ansible_env, stdout=write_end, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL, timeout=240, check=False)
    finally:
        os.close(write_end)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr


def test_closed_stdin_is_not_an_internal_error(ansible_env, tmp_path):
    argv = [tool("pteguard"), "diagnose", "--report-dir", str(tmp_path / "r"), "--work-dir", str(tmp_path / "w"),
            "--collections-path", COLLECTIONS]
    proc = subprocess.run(["/bin/sh", "-c", 'exec "$@" <&-', "sh"] + argv, env=ansible_env, capture_output=True,
                          text=True, timeout=240, check=False)
    assert proc.returncode in (0, 1, 4), proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith("HOST"), proc.stdout


@pytest.fixture
def broken_inventory(tmp_path):
    path = tmp_path / "broken.yml"
    path.write_text("all:\n  hosts:\n    web1: [\n  oops\n")
    return path


@pytest.mark.parametrize("with_good", [True, False], ids=["good-and-broken", "broken-alone"])
def test_broken_inventory_names_the_file(ansible_env, tmp_path, broken_inventory, with_good):
    inventories = ([LOCAL_INVENTORY] if with_good else []) + [str(broken_inventory)]
    proc = diagnose_cli(ansible_env, tmp_path, inventories)
    assert proc.returncode == 2, explain(proc)
    assert str(broken_inventory) in proc.stderr and "YAML" in proc.stderr, explain(proc)
    assert "matched nothing" not in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, explain(proc)
    assert not (tmp_path / "work").exists(), "no run should start on a broken inventory"


HOSTILE = ["../../escaped", "/tmp/abs-host", "a/b", "..", "bell\x07esc\x1bX", "latest"]


def test_hostile_host_names_stay_in_the_report_dir(ansible_env, tmp_path):
    inventory = write_inventory(tmp_path / "inv.yml", {name: _from_file(FINDINGS_LOG) for name in HOSTILE})
    before = set(os.listdir("/tmp"))
    proc = diagnose_cli(ansible_env, tmp_path, [inventory])
    assert proc.returncode == 1, explain(proc)
    assert "\x1b" not in proc.stdout and "\x07" not in proc.stdout, explain(proc)
    assert "bell\\x07esc\\x1bX" in proc.stdout
    run_record = json.load(open(glob.glob(str(tmp_path / "work" / "*" / "run.json"))[0]))
    report_dir = run_record["report_dir"]
    names = run_record["reports"]
    assert set(names) == set(HOSTILE), names
    assert len(set(names.values())) == len(HOSTILE)
    for host, name in names.items():
        assert os.path.dirname(name) == "" and name not in (".", "..")
        with open(os.path.join(report_dir, name)) as handle:
            assert json.load(handle)["host"] == host
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "reports" / "escaped").exists()
    assert not [n for n in set(os.listdir("/tmp")) - before if "abs-host" in n]


def test_secret_never_written_and_old_runs_pruned(ansible_env, tmp_path):
    secret = "pteguard-planted-secret-7f3a9c"
    env = dict(ansible_env, AWS_SECRET_ACCESS_KEY=secret)
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "20200101T000000Z-1").mkdir()  # looks like a run but pteguard did not make it
    for _run in range(3):
        proc = diagnose_cli(env, tmp_path, [LOCAL_INVENTORY], "--keep-runs", "2")
        assert proc.returncode in (0, 1), explain(proc)
    for base in ("work", "reports"):
        runs = [n for n in os.listdir(tmp_path / base) if n != "latest" and n != "20200101T000000Z-1"]
        assert len(runs) == 2, (base, runs)
    assert (tmp_path / "work" / "20200101T000000Z-1").is_dir()
    assert os.path.realpath(tmp_path / "reports" / "latest") in {str(tmp_path / "reports" / n)
                                                                 for n in os.listdir(tmp_path / "reports")}
    leaked = subprocess.run(["grep", "-rl", secret, str(tmp_path / "work"), str(tmp_path / "reports")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert leaked.stdout == "", "the secret was written to: %s" % leaked.stdout


@pytest.mark.parametrize("option", [["--forks", "-3"], ["--forks", "0"], ["--timeout", "-1"],
                                    ["--host-timeout", "0"], ["--boots", "0"], ["--keep-runs", "x"],
                                    ["--collections-path", "/nonexistent/pteguard"]])
def test_bad_options_rejected_clearly(ansible_env, tmp_path, option):
    proc = run([tool("pteguard"), "diagnose", "--work-dir", str(tmp_path / "w")] + option, ansible_env,
               cwd=str(tmp_path))
    assert proc.returncode == 2, explain(proc)
    assert option[0] in proc.stderr and "Traceback" not in proc.stderr, explain(proc)
    assert not (tmp_path / "w").exists()
