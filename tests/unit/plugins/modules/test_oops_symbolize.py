"""oops_symbolize as a module: real AnsibleModule, real run_command, an ELF the test builds (see test_symbolize)."""

from __future__ import annotations

import json

import pytest

from ansible.module_utils.testing import patch_module_args

from ansible_collections.pteguard.remediation.plugins.modules import oops_symbolize

from ..module_utils import test_symbolize
from ..module_utils.test_symbolize import RELEASE, build_id, build_module, oops

pytestmark = test_symbolize.pytestmark  # needs gcc and binutils


def run(capsys, args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            oops_symbolize.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("check_mode", [False, True])
def test_module_resolves_a_module_frame_on_a_delegate(tmp_path, capsys, check_mode):
    ko = build_module(str(tmp_path))
    result = run(capsys, {"oopses": [oops(directory=str(tmp_path))], "release": RELEASE,
                          "debug_dirs": [str(tmp_path)], "build_ids": {"ptcorrupt": build_id(ko)},
                          "distribution": ["debian"], "_ansible_check_mode": check_mode})
    assert result["changed"] is False and not result.get("failed")
    rip = result["records"][0]["frames"][0]
    assert (rip["status"], rip["line"], rip["build_id_verified"]) == ("resolved", 9, True)
    assert result["summary"]["resolved"] == 2
    assert result["missing"][0]["object"] == "vmlinux"
    assert "linux-image-%s-dbg" % RELEASE in result["missing"][0]["message"]


def test_module_fails_with_one_line_on_a_bad_release(tmp_path, capsys):
    result = run(capsys, {"oopses": [], "release": "6.1 && reboot"})
    assert result["failed"] is True
    assert "release must be a kernel release" in result["msg"] and "\n" not in result["msg"]


def test_build_ids_only_reads_sysfs_and_resolves_nothing(capsys):
    record = {"symbol": "cmd_write", "offset": "2", "size": "f", "module": "no_such_module_here"}
    result = run(capsys, {"oopses": [record], "build_ids_only": True})
    assert result["changed"] is False and result["records"] == []
    # nothing named no_such_module_here is loaded: only the kernel's own id, when this kernel exposes its notes
    assert set(result["build_ids"]) <= {"vmlinux"}
