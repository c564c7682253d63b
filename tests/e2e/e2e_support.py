"""Helpers for the end-to-end tests: commands with timeouts, the loopback sshd's process handling, inventories."""

from __future__ import annotations

import json
import os
import re
import shutil
import pwd
import signal
import socket
import subprocess
import sys
import time

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
FIXTURE_LOGS = os.path.join(ROOT, "tests", "fixtures", "logs")
LOCAL_INVENTORY = os.path.join(ROOT, "inventories", "local")
COLLECTIONS = os.path.abspath(os.environ.get("PTEGUARD_E2E_COLLECTIONS") or os.path.join(ROOT, "collections"))
INSTALLED = os.path.join(COLLECTIONS, "ansible_collections", "pteguard", "remediation")
SSHD = "/usr/sbin/sshd"

COMMAND_TIMEOUT = 240  # seconds, any single ansible/pteguard command
SSHD_START_DEADLINE = 20  # seconds, sshd listening


def schema_errors(document):
    """What makes a report break schemas/report.schema.json (empty when it validates)."""
    import jsonschema

    with open(os.path.join(ROOT, "schemas", "report.schema.json"), encoding="utf-8") as handle:
        validator = jsonschema.Draft202012Validator(json.load(handle))
    return ["%s: %s" % (list(e.absolute_path), e.message) for e in validator.iter_errors(document)][:5]


def tool(name):
    """A tool of the project's .venv (ansible-playbook, ansible, pteguard); fail clearly when missing."""
    path = os.path.join(VENV_BIN, name)
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing: run scripts/setup first" % path)
    return path


def run(argv, env, cwd=None, timeout=COMMAND_TIMEOUT, input_text=None):
    """Run a command to completion with a timeout; return the CompletedProcess (text, never raises on rc)."""
    try:
        return subprocess.run(argv, env=env, cwd=cwd or ROOT, capture_output=True, text=True, timeout=timeout,
                              input=input_text, stdin=None if input_text is not None else subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail("timed out after %ss: %s\n--- stdout tail ---\n%s" % (timeout, " ".join(argv), out[-4000:]))


def diagnose_cli(env, cwd, inventories, *extra, timeout=COMMAND_TIMEOUT):
    """`pteguard diagnose` over `inventories`, its run and report folders under cwd."""
    argv = [tool("pteguard"), "diagnose", "--report-dir", str(cwd / "reports"), "--work-dir", str(cwd / "work"),
            "--collections-path", COLLECTIONS, "--timeout", "200"]
    for inventory in inventories:
        argv.extend(["-i", inventory])
    argv.extend(extra)
    return run(argv, env, cwd=str(cwd), timeout=timeout)


def json_rows(proc):
    """(run record, {host: row}) from `pteguard diagnose --format json`."""
    document = json.loads(proc.stdout)
    return document["run"], {row["host"]: row for row in document["hosts"]}


def explain(proc):
    """Text to attach to an assertion about a finished command."""
    return "command: %s\nrc: %s\n--- stdout ---\n%s\n--- stderr ---\n%s" % (
        " ".join(proc.args), proc.returncode, proc.stdout[-6000:], proc.stderr[-4000:])


def adhoc_results(proc):
    """Per-host JSON results of an ad-hoc `ansible` run (default callback: 'host | STATUS => {...}')."""
    results = {}
    text = proc.stdout
    pos = 0
    decoder = json.JSONDecoder()
    while True:
        arrow = text.find(" => {", pos)
        if arrow < 0:
            return results
        line_start = text.rfind("\n", 0, arrow) + 1
        head = text[line_start:arrow]
        host, _sep, status = head.partition(" | ")
        value, end = decoder.raw_decode(text, arrow + 4)
        results[host.strip()] = {"status": status.strip(), "result": value}
        pos = end


def _real_python():
    """A real python3 for the sshd host's ansible_python_interpreter (never a pyenv shim)."""
    for candidate in ("/usr/bin/python3", "/usr/local/bin/python3", sys.executable):
        real = os.path.realpath(candidate)
        if not os.access(real, os.X_OK) or "shims" in real.split(os.sep):
            continue
        try:
            check = subprocess.run([real, "-c", "import sys; print(sys.version_info >= (3, 9))"],
                                   capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if check.returncode == 0 and check.stdout.strip() == "True":
            return real
    pytest.fail("no real python3 >= 3.9 found for the sshd host's interpreter")


def free_port(address="127.0.0.1"):
    """A TCP port free on `address` right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def _children(pid):
    """Pids whose parent is `pid` (read from /proc; empty where /proc is missing)."""
    kids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return kids
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            kids.append(int(entry))
    return kids


def _wait_port(port, proc, log_path, deadline, address="127.0.0.1"):
    """Wait until address:port answers with an SSH banner, or fail when sshd died or the deadline passed."""
    last = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return "sshd exited with %s" % proc.returncode
        try:
            with socket.create_connection((address, port), timeout=2) as sock:
                sock.settimeout(2)
                banner = sock.recv(64)
            if banner.startswith(b"SSH-2.0-"):
                return None
            last = "unexpected banner %r" % banner
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    return "port %d not answering before the deadline (%s)" % (port, last)


def _stop(proc):
    """Stop sshd and the per-connection sshd processes it forked (all started by this fixture)."""
    kids = _children(proc.pid)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    for pid in kids:
        while time.monotonic() < deadline:
            try:
                os.kill(pid, signal.SIGTERM if time.monotonic() < deadline - 5 else signal.SIGKILL)
            except ProcessLookupError:
                break
            except PermissionError:
                break
            time.sleep(0.1)


def ssh_keygen(path, comment):
    """A new ed25519 key pair at path / path.pub (no passphrase)."""
    keygen = shutil.which("ssh-keygen")
    if keygen is None:
        pytest.fail("ssh-keygen is missing: scripts/setup --test installs openssh-client")
    proc = subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr


def run_processes_left(*needles):
    """Pids of live processes whose environment or command line holds any of the byte strings `needles`."""
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        blobs = []
        for name in ("environ", "cmdline"):
            try:
                with open("/proc/%s/%s" % (entry, name), "rb") as handle:
                    blobs.append(handle.read())
            except OSError:
                continue
        if any(needle in blob for needle in needles for blob in blobs):
            left.append(int(entry))
    return left


def start_sshd(base, host_key, authorized, user, address="127.0.0.1", extra=()):
    """A real sshd (foreground, own config in `base`) on address:<free port>; returns (proc, port, log path).

    `extra` lines go into sshd_config (e.g. a ForceCommand). The caller stops it with _stop(proc).
    """
    log_path = base / "sshd.log"
    problem = None
    for _attempt in range(3):  # another process may grab the port between picking and binding: retry, bounded
        port = free_port(address)
        config = base / "sshd_config"
        config.write_text("\n".join([
            "ListenAddress %s" % address,
            "Port %d" % port,
            "HostKey %s" % host_key,
            "PidFile %s" % (base / "sshd.pid"),
            "AuthorizedKeysFile %s" % authorized,
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "AllowUsers %s" % user,
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ] + list(extra) + [""]))
        test = subprocess.run([SSHD, "-t", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False)
        if test.returncode != 0:
            pytest.fail("sshd -t rejects the test config: %s" % test.stderr.strip())
        with open(log_path, "ab") as log:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        problem = _wait_port(port, proc, log_path, time.monotonic() + SSHD_START_DEADLINE, address)
        if problem is None:
            return proc, port, log_path
        _stop(proc)
    pytest.fail("sshd did not start: %s\n%s" % (problem, log_path.read_text(errors="replace")[-3000:]))


def os_user():
    return pwd.getpwuid(os.geteuid()).pw_name


def ssh_host_vars(facts, port=None, known_hosts=None):
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": port or facts["port"],
        "ansible_user": facts["user"],
        "ansible_connection": "ssh",
        "ansible_ssh_private_key_file": facts["client_key"],
        "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o IdentitiesOnly=yes"
                                   % (known_hosts or facts["known_hosts"]),
        # one connection per task: no ControlPersist masters left behind after the session
        "ansible_ssh_args": "-o ControlMaster=no -o ControlPersist=no",
        "ansible_python_interpreter": facts["python"],
    }


def write_inventory(path, hosts):
    """A YAML inventory of {name: host vars}; returns its path as a string."""
    path.write_text("---\n" + yaml.safe_dump({"all": {"hosts": hosts}}, default_flow_style=False, sort_keys=False))
    return str(path)


def write_ssh_inventory(path, facts):
    """The YAML inventory of `sshhost`, the loopback sshd."""
    return write_inventory(path, {"sshhost": ssh_host_vars(facts)})


def recap(stdout):
    """PLAY RECAP counters per host: {host: {'ok': N, 'changed': N, 'unreachable': N, 'failed': N, ...}}."""
    hosts = {}
    for match in re.finditer(r"^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$", stdout, re.M):
        hosts[match.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(2))}
    return hosts
