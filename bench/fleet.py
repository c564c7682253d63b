"""Fleet benchmark: `pteguard diagnose` against a plain four-task ansible-playbook on N loopback hosts.

A figure, never a test: nothing here runs in the test suite, and a missed target does not fail anything.

The fleet is one sshd in a private network namespace that has only `lo` up, bound to 0.0.0.0:22 there, so it
answers as every 127.0.0.2 .. 127.0.0.(N+1) (its own host key, listed for each address in a known_hosts file:
host keys are checked). The hosts are this machine as root, so `dmesg` there is this machine's real kernel log.
Both controllers run inside the same namespace (`ip netns exec`), with the same ansible.cfg (bench/fleet/),
forks 25, pipelining and ControlPersist on, no facts, and a throwaway ANSIBLE_HOME per run:

- pteguard: `.venv/bin/pteguard diagnose -i INV --forks 25` (ansible-runner, the collection's diagnose role);
- baseline: `.venv/bin/ansible-playbook -i INV --forks 25 bench/fleet/baseline.yml` (uname -r, slurp
  /proc/meminfo, dmesg, stat /dev/mcelog).

One interleaved run: in each round, for each N, both sides run (the order flips every round); medians over rounds.
Every run must reach all N hosts, or the benchmark stops (exit 2). During each run a sampler reads /proc every
0.2 s: the controller tree (the command and all its descendants: pteguard, ansible-runner, ansible-playbook, its
forks, local module processes) by summed PSS (/proc/PID/smaps_rollup) and its largest single process by RSS; the
ssh clients (the tree's, and the ControlPersist masters that detach from it) apart. Controller CPU seconds are
exact for everything the command waited for (getrusage of children). --profile adds per-task timing (a callback
plugin) and CPU seconds per kind of controller process (sampled, so short-lived processes are undercounted).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FLEET_FILES = os.path.join(HERE, "fleet")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
SSHD = "/usr/sbin/sshd"
TARGET_PYTHON = "/usr/bin/python3"
FORKS = 25
SIDES = ("pteguard", "baseline")
SAMPLE_EVERY = 0.2
STEP_TIMEOUT = 60
TARGET_RATIO = 0.35
TARGET_LARGEST_MB = 150.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class BenchError(Exception):
    """The benchmark could not measure; the message says why."""


def log(msg):
    print(msg, flush=True)


def run(argv, timeout=STEP_TIMEOUT):
    """A set-up step that must succeed."""
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise BenchError("%s failed (rc %d): %s" % (" ".join(argv), proc.returncode, proc.stderr.strip()[-500:]))
    return proc.stdout


def read_text(path):
    try:
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return None


# ---------------------------------------------------------------- the fleet

class Fleet:
    """One sshd in a private network namespace, answering as 127.0.0.2 .. 127.0.0.(hosts+1)."""

    def __init__(self, work, hosts):
        self.work = os.path.join(work, "fleet")
        self.hosts = hosts
        self.netns = "pgfleet-%d" % os.getpid()
        self.netns_made = False
        self.sshd = None
        self.client_key = os.path.join(self.work, "client_key")
        self.known_hosts = os.path.join(self.work, "known_hosts")

    def __enter__(self):
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def exec_argv(self, argv):
        return ["ip", "netns", "exec", self.netns] + list(argv)

    def _start(self):
        os.makedirs(self.work, mode=0o700)
        host_key = os.path.join(self.work, "host_key")
        for key in (host_key, self.client_key):
            run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pteguard-fleet-bench", "-f", key])
        shutil.copyfile(self.client_key + ".pub", os.path.join(self.work, "authorized_keys"))
        config = os.path.join(self.work, "sshd_config")
        with open(config, "w", encoding="utf-8") as handle:
            handle.write("\n".join([
                "ListenAddress 0.0.0.0", "Port 22", "HostKey " + host_key,
                "PidFile " + os.path.join(self.work, "sshd.pid"),
                "AuthorizedKeysFile " + os.path.join(self.work, "authorized_keys"),
                "StrictModes no", "UsePAM no", "UseDNS no", "AllowUsers root",
                "PermitRootLogin prohibit-password", "PubkeyAuthentication yes", "PasswordAuthentication no",
                "KbdInteractiveAuthentication no", "MaxStartups 200:30:400", "MaxSessions 200",
                "Subsystem sftp internal-sftp", "LogLevel ERROR", "",
            ]))
        host_pub = read_text(host_key + ".pub").split()[:2]
        with open(self.known_hosts, "w", encoding="utf-8") as handle:
            for index in range(self.hosts):
                handle.write("%s %s %s\n" % (self.address(index), host_pub[0], host_pub[1]))
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
        run([SSHD, "-t", "-f", config])
        run(["ip", "netns", "add", self.netns])
        self.netns_made = True
        run(self.exec_argv(["ip", "link", "set", "lo", "up"]))
        with open(os.path.join(self.work, "sshd.log"), "ab") as sshd_log:
            self.sshd = subprocess.Popen(self.exec_argv([SSHD, "-D", "-e", "-f", config]), stdin=subprocess.DEVNULL,
                                         stdout=sshd_log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_ready()

    @staticmethod
    def address(index):
        return "127.0.0.%d" % (index + 2)

    def ssh_argv(self, address, known_hosts):
        return self.exec_argv(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                               "-o", "UserKnownHostsFile=" + known_hosts, "-o", "GlobalKnownHostsFile=/dev/null",
                               "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=5", "-i", self.client_key,
                               "root@" + address, "true"])

    def _wait_ready(self):
        """Wait (30 s at most) until the first and last host answer; then show that a wrong host key is refused."""
        deadline = time.monotonic() + 30
        last = ""
        for address in (self.address(0), self.address(self.hosts - 1)):
            while True:
                if self.sshd.poll() is not None:
                    raise BenchError("sshd exited (rc %s): %s" % (self.sshd.returncode, self.sshd_log()))
                proc = subprocess.run(self.ssh_argv(address, self.known_hosts), capture_output=True, text=True,
                                      timeout=30, check=False)
                if proc.returncode == 0:
                    break
                last = proc.stderr.strip()
                if time.monotonic() > deadline:
                    raise BenchError("the fleet's sshd does not answer at %s: %s" % (address, last))
                time.sleep(0.2)
        empty = os.path.join(self.work, "empty_known_hosts")
        open(empty, "w", encoding="utf-8").close()
        proc = subprocess.run(self.ssh_argv(self.address(0), empty), capture_output=True, text=True, timeout=30,
                              check=False)
        if proc.returncode == 0 or "Host key verification failed" not in proc.stderr:
            raise BenchError("ssh accepted an unknown host key: host key checking is not in force")

    def sshd_log(self):
        return (read_text(os.path.join(self.work, "sshd.log")) or "")[-1000:]

    def inventory(self, count, path):
        """A YAML (JSON) inventory of the first `count` hosts, with the SSH settings both sides share."""
        hosts = {"fleet-%03d" % (index + 2): {"ansible_host": self.address(index)} for index in range(count)}
        group_vars = {
            "ansible_connection": "ssh",
            "ansible_user": "root",
            "ansible_ssh_private_key_file": self.client_key,
            "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o GlobalKnownHostsFile=/dev/null "
                                       "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes" % self.known_hosts,
            "ansible_python_interpreter": TARGET_PYTHON,
        }
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"all": {"children": {"fleet": {"hosts": hosts, "vars": group_vars}}}}, handle, indent=1)
        return path

    def close(self):
        """Stop every process in the namespace (all started here), then delete it. Bounded: about 15 s."""
        if self.netns_made:
            pids = subprocess.run(["ip", "netns", "pids", self.netns], capture_output=True, text=True, timeout=30,
                                  check=False).stdout.split()
            stop_pids([int(pid) for pid in pids if pid.isdigit()])
        if self.sshd is not None:
            try:
                self.sshd.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait(timeout=5)
            self.sshd = None
        if self.netns_made:
            subprocess.run(["ip", "netns", "del", self.netns], capture_output=True, timeout=30, check=False)
            self.netns_made = False


def stop_pids(pids, grace=5.0):
    """SIGTERM these processes (by id), SIGKILL what is left after `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + grace
        while pids and time.monotonic() < deadline:
            pids = [pid for pid in pids if os.path.exists("/proc/%d" % pid) and not is_zombie(pid)]
            time.sleep(0.1)
        if not pids:
            return


def is_zombie(pid):
    stat = read_text("/proc/%d/stat" % pid)
    return stat is None or stat.rpartition(")")[2].split()[:1] == ["Z"]


# ---------------------------------------------------------------- sampling

def process_table():
    """{pid: (ppid, comm, cpu ticks)} for every process now."""
    table = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = read_text("/proc/%s/stat" % name)
        if not stat:
            continue
        head, _paren, rest = stat.rpartition(")")
        fields = rest.split()
        try:
            table[int(name)] = (int(fields[1]), head.partition("(")[2], int(fields[11]) + int(fields[12]))
        except (IndexError, ValueError):
            continue
    return table


def tagged_ssh(table, tag):
    """ssh processes whose command line names `tag` (the run's ControlPath folder): the run's detached masters."""
    found = []
    for pid, (_ppid, comm, _ticks) in table.items():
        if comm == "ssh" and tag in (read_text("/proc/%d/cmdline" % pid) or ""):
            found.append(pid)
    return found


def memory_kb(pid):
    """(Rss, Pss) in kB from smaps_rollup; zeros when the process is gone."""
    rss = pss = 0
    for line in (read_text("/proc/%d/smaps_rollup" % pid) or "").splitlines():
        if line.startswith("Rss:"):
            rss = int(line.split()[1])
        elif line.startswith("Pss:"):
            pss = int(line.split()[1])
    return rss, pss


def kind(pid, table):
    """What a controller process is, for the CPU breakdown: by its name and its parent's."""
    ppid, comm, _ticks = table[pid]
    parent = table.get(ppid, (0, "", 0))[1]
    if comm == "ssh":
        return "ssh client"
    if comm.startswith("ansible-playboo"):  # comm is cut at 15 characters
        return "ansible-playbook fork" if parent.startswith("ansible-playboo") else "ansible-playbook"
    if parent.startswith("ansible-playboo") and comm.startswith("python"):
        return "ansible-playbook fork"
    if comm == "sh" or (parent == "sh" and comm.startswith("python")):
        return "local module (%s)" % comm  # a task run on the controller: delegate_to localhost
    return comm


class TreeSampler(threading.Thread):
    """Peaks of the controller tree (summed PSS, largest RSS) and of its ssh clients; CPU ticks per process."""

    def __init__(self, root, tag, limit):
        super().__init__(daemon=True)
        self.root, self.tag = root, tag
        self.deadline = time.monotonic() + limit
        self.stop = threading.Event()
        self.samples = 0
        self.peak = {"tree_pss": 0, "largest_rss": 0, "largest": "", "ssh_pss": 0, "ssh_procs": 0, "procs": 0}
        self.ticks = {}  # pid -> (kind, last ticks seen)

    def run(self):
        while not self.stop.is_set() and time.monotonic() < self.deadline:
            self.sample()
            self.stop.wait(SAMPLE_EVERY)

    def sample(self):
        table = process_table()
        children = {}
        for pid, (ppid, _comm, _ticks) in table.items():
            children.setdefault(ppid, []).append(pid)
        tree, todo = set(), [self.root]
        while todo and len(tree) < len(table):
            pid = todo.pop()
            if pid in table and pid not in tree:
                tree.add(pid)
                todo.extend(children.get(pid, ()))
        ssh = {pid for pid in tree if table[pid][1] == "ssh"} | set(tagged_ssh(table, self.tag))
        tree_pss = ssh_pss = largest = 0
        largest_kind = ""
        by_kind = {}
        for pid in tree | ssh:
            rss, pss = memory_kb(pid)
            self.ticks[pid] = (kind(pid, table), table[pid][2])
            if pid in ssh:
                ssh_pss += pss
                continue
            tree_pss += pss
            what = kind(pid, table)
            count, total = by_kind.get(what, (0, 0))
            by_kind[what] = (count + 1, total + pss)
            if rss > largest:
                largest, largest_kind = rss, kind(pid, table)
        peak = self.peak
        if tree_pss > peak["tree_pss"]:
            peak["pss_by_kind"] = by_kind
        if largest > peak["largest_rss"]:
            peak.update(largest_rss=largest, largest=largest_kind)
        peak.update(tree_pss=max(peak["tree_pss"], tree_pss), ssh_pss=max(peak["ssh_pss"], ssh_pss),
                    ssh_procs=max(peak["ssh_procs"], len(ssh)), procs=max(peak["procs"], len(tree - ssh)))
        self.samples += 1

    def cpu_by_kind(self):
        out = {}
        for what, ticks in self.ticks.values():
            out[what] = out.get(what, 0.0) + ticks / CLOCK_TICKS
        return out


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(argv, env, run_dir, timeout):
    """Run argv (stdout and stderr to files in run_dir) under the sampler; return the figures."""
    cpu_before = children_cpu()
    with open(os.path.join(run_dir, "stdout"), "wb") as out, open(os.path.join(run_dir, "stderr"), "wb") as err:
        start = time.monotonic()
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                                start_new_session=True)
        sampler = TreeSampler(proc.pid, run_dir, timeout + 30)
        sampler.start()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session, started just above
            proc.wait(timeout=30)
            rc = "timeout"
        wall = time.monotonic() - start
        sampler.stop.set()
        sampler.join(timeout=30)
    cpu = children_cpu() - cpu_before
    masters = tagged_ssh(process_table(), run_dir)
    stop_pids(masters)  # the run's ControlPersist masters: the next run starts cold
    mb = 1024.0
    return {"rc": rc, "wall": wall, "cpu": cpu, "samples": sampler.samples, "masters": len(masters),
            "tree_pss": sampler.peak["tree_pss"] / mb, "largest_rss": sampler.peak["largest_rss"] / mb,
            "largest": sampler.peak["largest"], "ssh_pss": sampler.peak["ssh_pss"] / mb,
            "ssh_procs": sampler.peak["ssh_procs"], "procs": sampler.peak["procs"],
            "cpu_by_kind": sampler.cpu_by_kind(),
            "pss_by_kind": {k: [n, pss / mb] for k, (n, pss) in sampler.peak.get("pss_by_kind", {}).items()}}


# ---------------------------------------------------------------- the two sides

def ansible_env(run_dir, profile):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PTEGUARD_", "JUNIT_"))}
    home = os.path.join(run_dir, "h")  # short: ssh's ControlPath socket name must stay under 108 bytes
    os.makedirs(os.path.join(home, "tmp"))
    env.update({
        "ANSIBLE_HOME": home,
        "ANSIBLE_LOCAL_TEMP": os.path.join(home, "tmp"),
        # ControlPersist sockets default to ~/.ansible/cp whatever ANSIBLE_HOME says: a run of its own keeps one
        # side from reusing the other's masters, and this fleet's from colliding with other 127.0.0.x hosts
        "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(run_dir, "cp"),
        "ANSIBLE_CONFIG": os.path.join(FLEET_FILES, "ansible.cfg"),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "collections"),
        # ansible-runner turns host key checking off unless the environment says otherwise
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "PATH": VENV_BIN + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C.UTF-8",
    })
    if profile:
        env.update({"ANSIBLE_CALLBACK_PLUGINS": os.path.join(FLEET_FILES, "callback_plugins"),
                    "ANSIBLE_CALLBACKS_ENABLED": "fleet_timing",
                    # ANSIBLE_-prefixed: pteguard passes only those (and a few others) to its run
                    "ANSIBLE_FLEET_TIMING_FILE": os.path.join(run_dir, "timing.json")})
    return env


def pteguard_default_forks():
    """The fork count `pteguard diagnose` picks by itself on this machine."""
    from pteguard.diagnose import default_forks

    return default_forks()


def side_argv(side, inventory, run_dir, timeout, pteguard_forks=None):
    if side == "pteguard":
        forks = ["--forks", str(pteguard_forks)] if pteguard_forks else []  # none: pteguard's own default
        argv = [os.path.join(VENV_BIN, "pteguard"), "diagnose", "-i", inventory] + forks
        return argv + ["--format", "json", "--fail-on", "never", "--timeout", str(timeout),
                       "--report-dir", os.path.join(run_dir, "reports"), "--work-dir", os.path.join(run_dir, "runs")]
    return [os.path.join(VENV_BIN, "ansible-playbook"), "-i", inventory, "--forks", str(FORKS),
            os.path.join(FLEET_FILES, "baseline.yml")]


def hosts_ok(side, run_dir):
    """Hosts that really finished, from the run's own output; (count, first problems)."""
    out = read_text(os.path.join(run_dir, "stdout")) or ""
    problems = []
    if side == "pteguard":
        try:
            rows = json.loads(out)["hosts"]
        except (ValueError, KeyError, TypeError):
            return 0, ["no JSON document on stdout"]
        problems = ["%s %s: %s" % (r["host"], r["status"], r.get("message")) for r in rows if r["status"] != "ok"]
        return len(rows) - len(problems), problems[:3]
    good = 0
    for host, ok, unreachable, failed in RECAP.findall(out):
        if int(ok) >= 4 and unreachable == "0" and failed == "0":
            good += 1
        else:
            problems.append("%s ok=%s unreachable=%s failed=%s" % (host, ok, unreachable, failed))
    return good, problems[:3]


def run_side(side, count, fleet, work, args):
    run_dir = tempfile.mkdtemp(prefix="%s%d-" % (side[0], count), dir=work)
    inventory = fleet.inventory(count, os.path.join(run_dir, "inventory.yml"))
    argv = fleet.exec_argv(side_argv(side, inventory, run_dir, args.run_timeout, args.pteguard_forks))
    res = measure(argv, ansible_env(run_dir, args.profile), run_dir, args.run_timeout + 60)
    good, problems = hosts_ok(side, run_dir)
    if good != count:
        tail = (read_text(os.path.join(run_dir, "stderr")) or "").strip()[-600:]
        raise BenchError("%s at %d hosts: %d of %d hosts finished (rc %s): %s; output kept in %s%s" % (
            side, count, good, count, res["rc"], "; ".join(problems), run_dir, "\n" + tail if tail else ""))
    if args.profile:
        try:
            with open(os.path.join(run_dir, "timing.json"), encoding="utf-8") as handle:
                res["timing"] = json.load(handle)
        except (OSError, ValueError) as exc:
            raise BenchError("%s at %d hosts: no timing from the profile callback: %s" % (side, count, exc))
    if not args.keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return res


# ---------------------------------------------------------------- report

def code_state():
    """HEAD commit and whether the code under test differs from it."""
    try:
        head = run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"]).strip()
        dirty = run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "plugins", "roles", "playbooks",
                     "bench"]).splitlines()
    except (BenchError, OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    dirty = [line[3:] for line in dirty if line.strip()]
    return "HEAD %s, %s" % (head, "uncommitted changes in: " + " ".join(dirty) if dirty else "clean")


def machine_load():
    load = (read_text("/proc/loadavg") or "?").split()[:3]
    pressure = (read_text("/proc/pressure/cpu") or "unknown").splitlines()[:1]
    return "load average %s; cpu pressure %s" % (" ".join(load), " ".join(pressure))


def med(results, key):
    return statistics.median(r[key] for r in results)


def figures_table(counts, results):
    lines = ["| hosts | pteguard | plain Ansible | ratio | controller tree PSS, pteguard / plain | "
             "largest controller process | ssh clients PSS | controller CPU |",
             "|---|---|---|---|---|---|---|---|"]
    for count in counts:
        pte, base = results[(count, "pteguard")], results[(count, "baseline")]
        lines.append("| %d | %.1f s | %.1f s | %.2fx | %.0f / %.0f MB | %.0f / %.0f MB | %.0f / %.0f MB | "
                     "%.1f / %.1f s |" % (
                         count, med(pte, "wall"), med(base, "wall"), med(pte, "wall") / med(base, "wall"),
                         med(pte, "tree_pss"), med(base, "tree_pss"), med(pte, "largest_rss"),
                         med(base, "largest_rss"), med(pte, "ssh_pss"), med(base, "ssh_pss"), med(pte, "cpu"),
                         med(base, "cpu")))
    return "\n".join(lines)


def target_lines(counts, results):
    """The issue's targets at N=100 (or the largest N measured), with PASS/FAIL markers."""
    count = 100 if 100 in counts else max(counts)
    note = "" if count == 100 else " (N=100 not measured: shown at N=%d)" % count
    pte, base = results[(count, "pteguard")], results[(count, "baseline")]
    ratio = med(pte, "wall") / med(base, "wall")
    checks = [
        (ratio <= TARGET_RATIO, "wall time at N=%d: pteguard %.2fx the baseline, target <= %.2fx%s" % (
            count, ratio, TARGET_RATIO, note)),
        (med(pte, "tree_pss") <= med(base, "tree_pss"), "controller tree PSS at N=%d: pteguard %.0f MB, baseline "
         "%.0f MB, target pteguard <= baseline%s" % (count, med(pte, "tree_pss"), med(base, "tree_pss"), note)),
        (med(pte, "largest_rss") < TARGET_LARGEST_MB, "largest controller process at N=%d: %.0f MB (%s), target "
         "< %.0f MB%s" % (count, med(pte, "largest_rss"), pte[-1]["largest"], TARGET_LARGEST_MB, note)),
    ]
    return ["%s %s" % ("PASS" if ok else "FAIL", text) for ok, text in checks]


def profile_lines(counts, results):
    lines = []
    for count in counts:
        for side in SIDES:
            runs = results[(count, side)]
            wall = med(runs, "wall")
            span = statistics.median(r["timing"]["playbook_seconds"] for r in runs)
            lines.append("")
            lines.append("profile, %s at %d hosts (medians of %d runs): wall %.1f s, of which the playbook %.1f s; "
                         "controller CPU %.1f s" % (side, count, len(runs), wall, span, med(runs, "cpu")))
            lines.append("  %-58s %8s %8s %10s" % ("task", "wall s", "share", "host-s/host"))
            for index, task in enumerate(runs[0]["timing"]["tasks"]):
                same = [r["timing"]["tasks"][index] for r in runs if len(r["timing"]["tasks"]) > index]
                task_wall = statistics.median(t["wall"] for t in same)
                per_host = statistics.median(t["host_seconds"] / max(1, t["hosts"]) for t in same)
                name = task["task"].partition(" : ")[2] or task["task"]  # without the role's name
                lines.append("  %-58s %8.2f %7.0f%% %10.2f" % (name[:58], task_wall, 100 * task_wall / wall, per_host))
            kinds = sorted({k for r in runs for k in r["cpu_by_kind"]})
            sampled = {k: statistics.median(r["cpu_by_kind"].get(k, 0.0) for r in runs) for k in kinds}
            lines.append("  CPU s by process kind (sampled every %.1f s; total exact %.1f s, ssh masters included "
                         "only here):" % (SAMPLE_EVERY, med(runs, "cpu")))
            for what in sorted(sampled, key=sampled.get, reverse=True):
                lines.append("    %-30s %7.2f" % (what, sampled[what]))
            peak = runs[0]["pss_by_kind"]
            lines.append("  PSS MB by process kind at the tree's peak (first run): " + ", ".join(
                "%s %d x %.0f" % (what, n, mb) for what, (n, mb) in sorted(peak.items(), key=lambda kv: -kv[1][1])))
    return lines


# ---------------------------------------------------------------- main

def host_counts(text):
    try:
        counts = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("expected a comma-separated list of host counts, e.g. 10,50,100")
    if not counts or counts[0] < 1 or counts[-1] > 250:
        raise argparse.ArgumentTypeError("host counts must be between 1 and 250 (127.0.0.2 .. 127.0.0.251)")
    return counts


def positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def preflight():
    if os.geteuid() != 0:
        raise BenchError("needs root: it creates a network namespace and runs sshd as root")
    for path in (SSHD, os.path.join(VENV_BIN, "pteguard"), os.path.join(VENV_BIN, "ansible-playbook"),
                 TARGET_PYTHON):
        if not os.access(path, os.X_OK):
            raise BenchError("%s is missing (run scripts/setup --test first)" % path)
    for tool in ("ip", "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            raise BenchError("%s is missing (iproute2, openssh-client)" % tool)
    if not os.path.isdir(os.path.join(ROOT, "collections", "ansible_collections", "pteguard", "remediation")):
        raise BenchError("the collection is not installed in %s/collections: run scripts/setup" % ROOT)


def measure_all(args, work):
    results = {(count, side): [] for count in args.hosts for side in SIDES}
    with Fleet(work, max(args.hosts)) as fleet:
        log("fleet: sshd in network namespace %s, hosts 127.0.0.2 .. %s; host keys checked (an unknown key is "
            "refused)" % (fleet.netns, fleet.address(max(args.hosts) - 1)))
        for _warm in range(args.warmup):
            for side in SIDES:
                res = run_side(side, min(args.hosts), fleet, work, args)
                log("warm-up %-8s N=%-3d %6.1f s (not counted)" % (side, min(args.hosts), res["wall"]))
        for round_no in range(args.rounds):
            for count in args.hosts:
                for side in SIDES if round_no % 2 == 0 else tuple(reversed(SIDES)):
                    res = run_side(side, count, fleet, work, args)
                    results[(count, side)].append(res)
                    log("round %d %-8s N=%-3d %6.1f s  tree PSS %5.0f MB  largest %5.0f MB (%s)  ssh PSS %5.0f MB "
                        "(%d procs, %d masters)  CPU %5.1f s  %d samples" % (
                            round_no + 1, side, count, res["wall"], res["tree_pss"], res["largest_rss"],
                            res["largest"], res["ssh_pss"], res["ssh_procs"], res["masters"], res["cpu"],
                            res["samples"]))
    return results


def stop_on_signal(signum, _frame):
    raise KeyboardInterrupt("stopped by signal %d" % signum)


def main(argv=None):
    parser = argparse.ArgumentParser(description="pteguard diagnose vs a plain four-task ansible-playbook on N "
                                                 "loopback hosts (a figure, not a test; needs root)")
    parser.add_argument("--hosts", type=host_counts, default=[10, 50, 100], help="host counts (default 10,50,100)")
    parser.add_argument("--rounds", type=positive, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs of each side first (default 1)")
    parser.add_argument("--run-timeout", type=positive, default=900, help="seconds one run may take (default 900)")
    parser.add_argument("--pteguard-forks", type=positive,
                        help="forks for pteguard (default: its own default, 5 per CPU up to 25); the baseline "
                             "always runs with %d" % FORKS)
    parser.add_argument("--profile", action="store_true", help="also time each task and split CPU by process kind")
    parser.add_argument("--work-dir", help="where runs write (default: a new folder under /tmp, deleted after)")
    parser.add_argument("--keep", action="store_true", help="keep every run's folder (inventory, output, reports)")
    parser.add_argument("--json", metavar="PATH", help="also write every run's figures to PATH")
    args = parser.parse_args(argv)

    # short paths: ssh's ControlPath sockets live under each run's folder
    work = os.path.abspath(args.work_dir) if args.work_dir else tempfile.mkdtemp(prefix="pgfleet-", dir="/tmp")
    os.makedirs(work, exist_ok=True)
    log("pteguard fleet benchmark: code %s; hosts %s; %d rounds; forks %d; %s" % (
        code_state(), ",".join(map(str, args.hosts)), args.rounds, FORKS, machine_load()))
    pteguard_forks = args.pteguard_forks or "default (5 per CPU, at most 25: %d here)" % pteguard_default_forks()
    log("pteguard runs with --forks %s, the baseline with %d" % (pteguard_forks, FORKS))
    signal.signal(signal.SIGTERM, stop_on_signal)  # so the fleet's namespace and sshd are removed on `kill` too
    try:
        preflight()
        results = measure_all(args, work)
    except (BenchError, OSError, subprocess.SubprocessError, KeyboardInterrupt) as exc:
        print("fleet benchmark could not run: %s (its files stay in %s)" % (exc or "interrupted", work),
              file=sys.stderr)
        return 2
    if not (args.keep or args.work_dir):
        shutil.rmtree(work, ignore_errors=True)
    log("after the rounds: %s" % machine_load())
    log("")
    log(figures_table(args.hosts, results))
    if args.profile:
        for line in profile_lines(args.hosts, results):
            log(line)
    log("")
    for line in target_lines(args.hosts, results):
        log(line)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"%d/%s" % key: runs for key, runs in results.items()}, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
