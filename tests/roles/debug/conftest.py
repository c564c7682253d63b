"""Fixtures for the debug role tests: the hw_monitor role tests' container fixtures, reused (not copied).

Lab nspawn containers booted from the cached lab image (Debian 12, systemd, sshd on 127.0.0.N), real
ansible-playbook over SSH; see tests/roles/hw_monitor/conftest.py.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_SPEC = importlib.util.spec_from_file_location(
    "pteguard_hwm_role_fixtures", Path(__file__).resolve().parent.parent / "hw_monitor" / "conftest.py")
_HWM = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_HWM)

lab_image = _HWM.lab_image
hwm_tmp = _HWM.hwm_tmp
ansible_env = _HWM.ansible_env
lab_host = _HWM.lab_host
pytest_configure = _HWM.pytest_configure

# this copy of the hw_monitor fixtures runs the debug playbook
_HWM.PLAYBOOK = _HWM.REPO / "playbooks" / "debug.yml"
run_play = _HWM.run_play
