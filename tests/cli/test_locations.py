"""Where the CLI finds its collection and default inventory, the parsers loaded once, and no lab in the product.

Each case runs a fresh interpreter of the project's .venv from a temporary folder outside the checkout, with a
throwaway ANSIBLE_HOME and no ANSIBLE_* settings from the caller, so Ansible's configuration is what the case sets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_", "PYTHON"))}
    env.update(ANSIBLE_HOME=str(tmp_path / "ansible-home"), LC_ALL="C.UTF-8")
    env.update(extra)
    return env


def _python(tmp_path, code, **env):
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=_env(tmp_path, **env),
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _collections(tmp_path, name):
    """A collections folder holding pteguard.remediation (a link to this checkout)."""
    base = tmp_path / name
    (base / "ansible_collections" / "pteguard").mkdir(parents=True)
    (base / "ansible_collections" / "pteguard" / "remediation").symlink_to(ROOT)
    return str(base)


LOCATE = "from pteguard import locations; import sys\ntry:\n    print(locations.collections_path(%r))\n" \
         "except locations.LocationError as exc:\n    print('error:', exc)"


def test_explicit_path_comes_first_and_a_wrong_one_is_an_error(tmp_path):
    mine, other = _collections(tmp_path, "mine"), _collections(tmp_path, "other")
    assert _python(tmp_path, LOCATE % mine, PTEGUARD_COLLECTIONS_PATH=other).strip() == mine
    out = _python(tmp_path, LOCATE % str(tmp_path / "nowhere"), ANSIBLE_COLLECTIONS_PATH=mine).strip()
    assert out.startswith("error: pteguard.remediation is not installed in --collections-path ")
    assert str(tmp_path / "nowhere") in out


def test_environment_then_ansible_configuration(tmp_path):
    mine, other = _collections(tmp_path, "mine"), _collections(tmp_path, "other")
    assert _python(tmp_path, LOCATE % None, PTEGUARD_COLLECTIONS_PATH=mine,
                   ANSIBLE_COLLECTIONS_PATH=other).strip() == mine
    assert _python(tmp_path, LOCATE % None, ANSIBLE_COLLECTIONS_PATH=other).strip() == other
    # ansible.cfg in the working folder, a relative collections_path: read the way Ansible reads it
    (tmp_path / "ansible.cfg").write_text("[defaults]\ncollections_path = ./mine\n")
    assert _python(tmp_path, LOCATE % None).strip() == mine


def test_nothing_found_is_one_clear_line_from_the_cli(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([os.path.join(BIN, "pteguard"), "diagnose"], cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=120, check=False,
                          env=_env(tmp_path, ANSIBLE_COLLECTIONS_PATH=str(empty),
                                   ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="False"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("pteguard diagnose: the pteguard.remediation collection was not found"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_default_inventory_is_the_installed_copys_local_inventory(tmp_path):
    path = _python(tmp_path, "from pteguard import diagnose; print(diagnose._default_inventory())").strip()
    assert os.path.isabs(path) and path.endswith(os.path.join("inventories", "local"))
    assert "localhost" in open(os.path.join(path, "hosts.yml")).read()


SINGLE_COPY = r"""
import json, os, sys
import pteguard.analyze, pteguard.diagnose, pteguard.signatures_cmd
from pteguard.parsers import log_scan as cli_side
from ansible_collections.pteguard.remediation.plugins.filter import kernel_findings
from ansible_collections.pteguard.remediation.plugins.module_utils import log_scan as collection_side
try:
    raise cli_side.LogSourceError("raised by the CLI's name")
except collection_side.LogSourceError:
    caught = True
by_file = {}
for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if path and ("module_utils" in path or "pteguard" in path):
        by_file.setdefault(os.path.realpath(path), set()).add(id(module))
print(json.dumps({"caught": caught, "same": cli_side is collection_side,
                  "filter_uses_it": kernel_findings.scan_lines is cli_side.scan_lines,
                  "copies": {path: len(ids) for path, ids in by_file.items()},
                  "lab": sorted(n for n in sys.modules if n.startswith("pteguard_lab"))}))
"""


def test_parsers_load_once_under_both_names(tmp_path):
    """The CLI (pteguard.parsers.X) and the filters (ansible_collections...module_utils.X) share one module."""
    result = json.loads(_python(tmp_path, SINGLE_COPY))
    assert result["caught"] and result["same"] and result["filter_uses_it"]
    twice = {path: n for path, n in result["copies"].items() if n > 1}
    assert not twice, "files loaded as more than one module: %s" % twice
    assert any(path.endswith(os.path.join("module_utils", "log_scan.py")) for path in result["copies"])
    assert result["lab"] == []


def test_the_product_has_no_lab_command_and_no_lab_import(tmp_path):
    proc = subprocess.run([os.path.join(BIN, "pteguard"), "lab", "kinds"], capture_output=True, text=True,
                          timeout=60, check=False, cwd=str(tmp_path))
    assert proc.returncode == 2 and "invalid choice: 'lab'" in proc.stderr
    for folder, _dirs, files in os.walk(os.path.join(ROOT, "src", "pteguard")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name)) as handle:
                    assert "pteguard_lab" not in handle.read(), os.path.join(folder, name)


def test_the_lab_is_its_own_package_with_its_own_command():
    lab = pytest.importorskip("pteguard_lab", reason="the lab is installed by scripts/setup --test")
    assert os.path.dirname(os.path.dirname(lab.__file__)) == os.path.join(ROOT, "lab")
    proc = subprocess.run([os.path.join(BIN, "pteguard-lab"), "--help"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0 and "usage: pteguard-lab" in proc.stdout
