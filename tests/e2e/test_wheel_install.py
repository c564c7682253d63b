"""pteguard from a built wheel in a fresh virtualenv, run from a folder outside the checkout.

The wheel is built from a copy of the tracked files (no stale build/ output can slip in), installed with the
pinned dependencies (requirements.txt as constraints) from the wheelhouse `scripts/setup --test` fetched, with no
index (tests talk to loopback only), and then `analyze` and `diagnose` must find their parsers, their collection and their default
inventory by themselves: no ANSIBLE_CONFIG, no collections path, a throwaway ANSIBLE_HOME.
Slow (a venv and an install, about a minute): not a timed test.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from e2e_support import ROOT, explain, tool

LOGS = os.path.join(ROOT, "tests", "fixtures", "logs")
WHEELHOUSE = os.path.join(ROOT, "build", "wheelhouse")
INSTALL_TIMEOUT = 600  # seconds: unpacking ansible-core and its dependencies on a loaded machine


def _run(argv, cwd, env=None, timeout=300):
    try:
        return subprocess.run(argv, cwd=str(cwd), env=env, capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("timed out after %ss: %s" % (timeout, " ".join(argv)))


def _tracked_copy(dest):
    listing = _run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT, timeout=60)
    assert listing.returncode == 0, explain(listing)
    for rel in filter(None, listing.stdout.split("\0")):
        if rel.startswith(("tests/", "bench/")) or not os.path.isfile(os.path.join(ROOT, rel)):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(rel)), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), os.path.join(dest, rel))


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    base = tmp_path_factory.mktemp("wheel")
    src, dist, venv = base / "src", base / "dist", base / "venv"
    _tracked_copy(str(src))
    # the project's interpreter by its real path (a pyenv shim breaks Ansible's interpreter discovery)
    python = os.path.realpath(sys.executable)
    if not os.path.isfile(os.path.join(WHEELHOUSE, ".stamp")):
        pytest.fail("no wheelhouse at %s: run scripts/setup --test first" % WHEELHOUSE)
    offline = ["--no-index", "--find-links", WHEELHOUSE]
    # the build backend (setuptools) comes from the wheelhouse too
    built = _run([python, "-m", "pip", "wheel", "-q", "--no-deps"] + offline + ["-w", str(dist), str(src)], base,
                 timeout=INSTALL_TIMEOUT)
    assert built.returncode == 0, explain(built)
    wheels = sorted(dist.glob("pteguard-*.whl"))
    assert len(wheels) == 1, wheels
    made = _run([python, "-m", "venv", str(venv)], base, timeout=120)
    assert made.returncode == 0, explain(made)
    installed = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
                     + offline + ["-c", os.path.join(ROOT, "requirements.txt"), str(wheels[0])], base,
                     timeout=INSTALL_TIMEOUT)
    assert installed.returncode == 0, explain(installed)
    return venv


@pytest.fixture()
def outside(tmp_path):
    """A working folder outside the checkout and an environment with nothing pointing at it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible-home"), ANSIBLE_NOCOLOR="1", LC_ALL="C.UTF-8",
               PATH="/usr/local/bin:/usr/bin:/bin")
    cwd = tmp_path / "work"
    cwd.mkdir()
    return cwd, env


def test_wheel_carries_the_collection_and_no_lab_or_tests(wheel_venv, outside):
    cwd, env = outside
    code = ("import json, pteguard.parsers.signatures as s, pteguard.locations as l, importlib.util as u\n"
            "print(json.dumps({'parsers': s.__file__, 'copy': l.installed_copy(),"
            " 'lab': u.find_spec('pteguard_lab') is not None}))")
    proc = _run([str(wheel_venv / "bin" / "python"), "-c", code], cwd, env)
    assert proc.returncode == 0, explain(proc)
    found = json.loads(proc.stdout)
    site = os.path.join(str(wheel_venv), "lib")
    assert found["parsers"].startswith(site) and found["copy"].startswith(site), found
    assert found["copy"].endswith(os.path.join("ansible_collections", "pteguard", "remediation"))
    for rel in ("galaxy.yml", "meta/runtime.yml", "playbooks/diagnose.yml", "roles/diagnose/tasks/main.yml",
                "plugins/modules/kernel_log_info.py", "plugins/filter/diagnose_host.py", "inventories/local/hosts.yml",
                "schemas/report.schema.json"):
        assert os.path.isfile(os.path.join(found["copy"], rel)), rel
    assert not found["lab"]
    assert not os.path.exists(os.path.join(found["copy"], "tests"))


def test_analyze_from_the_wheel(wheel_venv, outside):
    cwd, env = outside
    fixture = "pte_corruption-corrupted_page_table-syslog-6.10"
    shutil.copy(os.path.join(LOGS, fixture + ".log"), cwd / "kern.log")
    proc = _run([str(wheel_venv / "bin" / "pteguard"), "analyze", "--format", "json", "kern.log"], cwd, env)
    assert proc.returncode == 1, explain(proc)  # findings at or above error
    findings = json.loads(proc.stdout)["sources"][0]["findings"]
    assert "pte_corruption" in {f["category"] for f in findings}, explain(proc)
    # the same findings as the checkout's CLI gives for the same file
    here = _run([tool("pteguard"), "analyze", "--format", "json", "kern.log"], cwd, env)
    assert here.returncode == 1, explain(here)
    assert findings == json.loads(here.stdout)["sources"][0]["findings"]


def test_diagnose_localhost_from_the_wheel(wheel_venv, outside):
    """No inventory, no collections path: the wheel's own collection and its inventories/local (localhost)."""
    cwd, env = outside
    proc = _run([str(wheel_venv / "bin" / "pteguard"), "diagnose", "--format", "json", "--timeout", "400"], cwd, env,
                timeout=480)
    assert proc.returncode in (0, 1), explain(proc)
    document = json.loads(proc.stdout)
    hosts = {row["host"]: row for row in document["hosts"]}
    assert set(hosts) == {"localhost"} and hosts["localhost"]["status"] == "ok", explain(proc)
    assert hosts["localhost"]["kernel"] == os.uname().release
    with open(hosts["localhost"]["report"]) as handle:
        report = json.load(handle)
    assert report["host"] == "localhost" and "kernel_log" in report
    assert report["kernel_log"]["summary"]["findings"] == len(report["kernel_log"]["findings"])
    # ansible-runner was given the wheel's collection, found where Ansible looks (site-packages on sys.path)
    # (env/ files are suppressed; the job's `command` artifact records the environment the run was given)
    (command,) = glob.glob(os.path.join(document["run"]["artifacts"], "artifacts", "*", "command"))
    with open(command) as handle:
        given = json.load(handle)["env"]["ANSIBLE_COLLECTIONS_PATH"]
    assert os.path.join(str(wheel_venv), "lib") in given, given
    assert str(ROOT) not in given
