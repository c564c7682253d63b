"""execution-environment.yml: `ansible-builder create` makes the build context offline, with the collection in it.

The real ansible-builder (pinned in requirements.txt) runs in a network namespace that has only a loopback
interface (`unshare --net`), so any attempt to reach a registry or PyPI would fail the run. No container engine is
needed for `create` (TOOLCHAIN.md, trap 10); `build` is not tried here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EE_FILE = os.path.join(ROOT, "execution-environment.yml")
TIMEOUT = 180


def _offline(argv):
    """argv in a network namespace of its own (root: unshare -n; else a user namespace too)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        pytest.fail("unshare (util-linux) is missing: it proves the build context is made offline")
    return [unshare, "--net"] + argv if os.geteuid() == 0 else [unshare, "--map-root-user", "--net"] + argv


def _run(argv, cwd, env=None):
    proc = subprocess.run(argv, cwd=str(cwd), capture_output=True, text=True, timeout=TIMEOUT, check=False,
                          env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, "%s\nrc %s\n%s\n%s" % (argv, proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


@pytest.fixture(scope="module")
def context(tmp_path_factory):
    """The EE file beside a freshly built collection tarball, and the context ansible-builder made from them."""
    base = tmp_path_factory.mktemp("ee")
    shutil.copy(EE_FILE, base / "execution-environment.yml")
    env = dict(os.environ, ANSIBLE_HOME=str(base / "ansible-home"))
    _run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--force", "--output-path",
          str(base / "build" / "collection"), ROOT], base, env)
    # no interface but lo: proves nothing is fetched
    probe = subprocess.run(_offline(["cat", "/proc/net/dev"]), capture_output=True, text=True, timeout=30,
                           check=False)
    assert probe.returncode == 0, probe.stderr
    assert [line.split(":")[0].strip() for line in probe.stdout.splitlines()[2:]] == ["lo"], probe.stdout
    _run(_offline([os.path.join(BIN, "ansible-builder"), "create", "--file", "execution-environment.yml",
                   "--context", "context", "--output-filename", "Containerfile"]), base, env)
    return base / "context"


def test_definition_is_version_3_and_pins_what_it_installs():
    definition = yaml.safe_load(open(EE_FILE, encoding="utf-8"))
    assert definition["version"] == 3
    deps = definition["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==2.21.5"
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==2.4.3"
    galaxy = yaml.safe_load(open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8"))
    wanted = "/build/collection/%s-%s-%s.tar.gz" % (galaxy["namespace"], galaxy["name"], galaxy["version"])
    assert [c["name"] for c in deps["galaxy"]["collections"]] == [wanted], "bump the tarball with galaxy.yml"
    assert all("==" in requirement for requirement in deps["python"])


def test_create_makes_the_context_offline(context):
    containerfile = (context / "Containerfile").read_text()
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==2.21.5 ansible-runner==2.4.3"' in containerfile
    assert "ansible-galaxy collection install" in containerfile and "COPY _build /build" in containerfile
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    tarball = galaxy["collections"][0]["name"]
    # the galaxy stage runs in /build, which is the context's _build: the tarball must be there
    assert (context / "_build" / os.path.relpath(tarball, "/build")).is_file(), tarball
    assert "paramiko==5.1.0" in (context / "_build" / "requirements.txt").read_text()
    bindep = (context / "_build" / "bindep.txt").read_text()
    assert "openssh-clients [platform:rpm]" in bindep and "ipmitool [platform:rpm]" in bindep
