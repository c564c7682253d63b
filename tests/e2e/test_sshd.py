"""The loopback sshd itself: reachable with the suite's key, and host key checking really on."""

from __future__ import annotations

from e2e_support import adhoc_results, explain, run, ssh_host_vars, tool, write_inventory


def test_ping_over_ssh(sshd, ansible_env):
    proc = run([tool("ansible"), "-i", sshd["inventory"], "sshhost", "-m", "ansible.builtin.ping"], ansible_env)
    assert proc.returncode == 0, explain(proc)
    results = adhoc_results(proc)
    assert results["sshhost"]["status"] == "SUCCESS", explain(proc)
    assert results["sshhost"]["result"]["ping"] == "pong"


def test_unknown_host_key_is_refused(sshd, ansible_env, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    inventory = write_inventory(tmp_path / "inventory.yml", {"sshhost": ssh_host_vars(sshd, known_hosts=str(empty))})
    proc = run([tool("ansible"), "-i", inventory, "sshhost", "-m", "ansible.builtin.ping"], ansible_env)
    assert proc.returncode != 0, explain(proc)
    assert "UNREACHABLE" in proc.stdout, explain(proc)
    assert "Host key verification failed" in proc.stdout + proc.stderr, explain(proc)
