"""`pteguard diagnose` checks SSH host keys as ansible-playbook does; turning that off is explicit and visible.

An impostor here is a second, real sshd with its own host key on an address whose known key is the real server's.
It accepts the client key and would run a forced command that leaves a marker file: the marker and its log prove
whether the module payload ever reached it.
"""

from __future__ import annotations

import json
import os

import pytest

from e2e_support import (
    _stop, diagnose_cli, explain, json_rows, os_user, ssh_host_vars, ssh_keygen, start_sshd, write_inventory,
)


@pytest.fixture
def impostor(sshd, tmp_path):
    """An sshd with a different host key on 127.0.0.1:<port>; known_hosts lists the real server's key there."""
    base = tmp_path / "impostor"
    base.mkdir()
    host_key = base / "impostor_host_key"
    ssh_keygen(host_key, "impostor")
    marker = base / "payload-reached-impostor"
    authorized = base / "authorized_keys"
    client_pub = open(sshd["client_key"] + ".pub").read().strip()
    authorized.write_text('command="touch %s" %s\n' % (marker, client_pub))
    proc, port, log = start_sshd(base, host_key, authorized, os_user())
    real_pub = (sshd["dir"] / "ssh_host_ed25519_key.pub").read_text().split()
    known_hosts = base / "known_hosts"
    known_hosts.write_text("[127.0.0.1]:%d %s %s\n" % (port, real_pub[0], real_pub[1]))
    try:
        yield {"port": port, "marker": marker, "log": log, "known_hosts": known_hosts}
    finally:
        _stop(proc)


def _assert_refused(proc, host, row):
    assert proc.returncode == 2, explain(proc)
    assert row["status"] == "unreachable", row
    assert "host key verification failed" in row["message"].lower(), row
    assert "summary" not in row


def test_impostor_host_key_is_refused(ansible_env, sshd, impostor, tmp_path):
    inventory = write_inventory(tmp_path / "inventory.yml", {
        "victim": ssh_host_vars(sshd, port=impostor["port"], known_hosts=impostor["known_hosts"])})
    known_before = impostor["known_hosts"].read_text()
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json")
    _run, rows = json_rows(proc)
    _assert_refused(proc, "victim", rows["victim"])
    # the impostor never got a session, so never ran anything we sent
    assert not impostor["marker"].exists(), "the module payload reached the impostor"
    assert "Accepted publickey" not in impostor["log"].read_text(errors="replace")
    assert impostor["known_hosts"].read_text() == known_before


def _empty_known_hosts(tmp_path):
    path = tmp_path / "empty_known_hosts"
    path.write_text("")
    return path


def test_inventory_strict_checking_wins_against_unknown_key(ansible_env, sshd, tmp_path):
    known_hosts = _empty_known_hosts(tmp_path)
    host = ssh_host_vars(sshd, known_hosts=known_hosts)
    host["ansible_ssh_common_args"] += " -o StrictHostKeyChecking=yes"
    inventory = write_inventory(tmp_path / "inventory.yml", {"stranger": host})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json")
    _run, rows = json_rows(proc)
    _assert_refused(proc, "stranger", rows["stranger"])
    assert known_hosts.read_text() == "", "an unknown key was recorded"


def test_unknown_key_refused_by_default(ansible_env, sshd, tmp_path):
    known_hosts = _empty_known_hosts(tmp_path)
    inventory = write_inventory(tmp_path / "inventory.yml",
                                {"stranger": ssh_host_vars(sshd, known_hosts=known_hosts)})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json")
    run, rows = json_rows(proc)
    _assert_refused(proc, "stranger", rows["stranger"])
    assert run["host_key_checking"] is True
    assert known_hosts.read_text() == ""


def test_opt_out_is_explicit_and_visible(ansible_env, sshd, tmp_path):
    known_hosts = _empty_known_hosts(tmp_path)
    inventory = write_inventory(tmp_path / "inventory.yml",
                                {"stranger": ssh_host_vars(sshd, known_hosts=known_hosts)})
    proc = diagnose_cli(ansible_env, tmp_path, [inventory], "--format", "json", "--insecure-skip-host-key-check")
    run, rows = json_rows(proc)
    assert proc.returncode in (0, 1), explain(proc)
    assert rows["stranger"]["status"] == "ok", rows
    assert "host keys are NOT checked" in proc.stderr, explain(proc)
    assert run["host_key_checking"] is False
    with open(run["record"]) as handle:
        assert json.load(handle)["host_key_checking"] is False


def test_user_ansible_config_is_used(ansible_env, sshd, tmp_path):
    """ANSIBLE_CONFIG set by the user is the one the run reads; host keys are still checked."""
    config = tmp_path / "user.cfg"
    config.write_text("[defaults]\nhost_key_checking = False\n")
    env = dict(ansible_env, ANSIBLE_CONFIG=str(config))
    inventory = write_inventory(tmp_path / "inventory.yml", {"sshhost": ssh_host_vars(sshd)})
    proc = diagnose_cli(env, tmp_path, [inventory], "--format", "json")
    run, rows = json_rows(proc)
    assert rows["sshhost"]["status"] == "ok", explain(proc)
    command = json.load(open(os.path.join(run["artifacts"], "artifacts", os.listdir(
        os.path.join(run["artifacts"], "artifacts"))[0], "command")))
    assert command["env"]["ANSIBLE_CONFIG"] == str(config)
    assert command["env"]["ANSIBLE_HOST_KEY_CHECKING"] == "True"
