"""End-to-end fixtures: real ansible-playbook/ansible-runner, localhost and a real sshd on loopback.

Nothing here is mocked. The session starts its own OpenSSH server on 127.0.0.1 (own host key, own sshd_config,
own client key, a free port), writes a known_hosts file with that host key (host key checking stays on) and a YAML
inventory for the host `sshhost`. Every subprocess has a timeout and every wait a wall-clock deadline.

The collection under test is the one installed by scripts/setup in <repo>/collections (override with
PTEGUARD_E2E_COLLECTIONS). Ansible gets a throwaway ANSIBLE_HOME, so nothing outside the test's tmp dirs is used.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import warnings

import pytest

from e2e_support import (
    COLLECTIONS, INSTALLED, ROOT, SSHD, VENV_BIN, _real_python, _stop, os_user, ssh_keygen, start_sshd,
    write_ssh_inventory,
)


@pytest.fixture(scope="session")
def e2e_tmp(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def collection_installed():
    if not os.path.isfile(os.path.join(INSTALLED, "MANIFEST.json")):
        pytest.fail("pteguard.remediation is not installed in %s: run scripts/setup first" % COLLECTIONS)
    stale = []
    for sub in ("plugins/modules", "plugins/module_utils", "plugins/filter", "roles/diagnose/tasks",
                "roles/diagnose/defaults", "playbooks"):
        tree, inst = os.path.join(ROOT, sub), os.path.join(INSTALLED, sub)
        if os.path.isdir(tree) and os.path.isdir(inst):
            names = [n for n in os.listdir(tree) if n.endswith((".py", ".yml"))]
            _match, mismatch, errors = filecmp.cmpfiles(tree, inst, names, shallow=False)
            stale.extend(os.path.join(sub, n) for n in mismatch + errors)
    if stale:
        warnings.warn("the installed collection in %s differs from the working tree (%s): these tests run the "
                      "installed copy; run scripts/setup to test your changes" % (COLLECTIONS, ", ".join(stale)))
    return INSTALLED


@pytest.fixture(scope="session")
def ansible_env(e2e_tmp, collection_installed):
    """Environment for every ansible/pteguard command: throwaway ANSIBLE_HOME, the installed collection."""
    home = e2e_tmp / "ansible-home"
    (home / "tmp").mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_"))}
    env.update({
        "ANSIBLE_HOME": str(home),
        "ANSIBLE_CONFIG": os.path.join(ROOT, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_LOCAL_TEMP": str(home / "tmp"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


@pytest.fixture(scope="session")
def sshd(e2e_tmp):
    """A real OpenSSH server on 127.0.0.1:<free port>, own keys and config; yields its facts, then stops it."""
    if not os.access(SSHD, os.X_OK):
        pytest.fail("%s is missing: scripts/setup --test installs openssh-server" % SSHD)
    base = e2e_tmp / "sshd"
    base.mkdir()
    os.chmod(base, 0o700)
    host_key, client_key = base / "ssh_host_ed25519_key", base / "client_ed25519"
    ssh_keygen(host_key, "pteguard-e2e-host")
    ssh_keygen(client_key, "pteguard-e2e-client")
    authorized = base / "authorized_keys"
    shutil.copyfile(str(client_key) + ".pub", authorized)
    os.chmod(authorized, 0o600)
    user = os_user()
    if os.geteuid() == 0:
        # sshd's privilege-separation directory; the Debian package creates it at boot only when its service runs
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)

    proc, port, log_path = start_sshd(base, host_key, authorized, user)
    host_pub = (base / "ssh_host_ed25519_key.pub").read_text().split()
    known_hosts = base / "known_hosts"
    known_hosts.write_text("[127.0.0.1]:%d %s %s\n" % (port, host_pub[0], host_pub[1]))
    facts = {
        "port": port, "user": user, "dir": base, "client_key": str(client_key), "known_hosts": str(known_hosts),
        "python": _real_python(), "log": log_path, "pid": proc.pid,
    }
    facts["inventory"] = write_ssh_inventory(base / "inventory.yml", facts)
    try:
        yield facts
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def ssh_inventory(sshd):
    return sshd["inventory"]
