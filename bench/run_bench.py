"""pteguard throughput and memory benchmark (not a test: nothing here runs in the test suite).

From one run on one SYNTHETIC log (bench/generate_log.py, default ~1 GiB,
reused when its size/seed/style match), with the page cache warmed first:

- over --repeat interleaved rounds (default 3, medians compared):
  MB/s of `pteguard analyze --format json --fail-on never FILE` (wall clock,
  output to a file) and its peak RSS;
- MB/s of `grep -c -F` and `grep -c -E` with the same anchor patterns as the
  prefilter (taken from pteguard.parsers.log_scan.grep_argv), output to a
  file (GNU grep stops at the first match when its output is /dev/null);
- the ratios pteguard / grep;
- for reference, the pure-Python engine (`--engine python`) on the first
  --slice-size bytes, and both engines' findings on that slice;
- peak RSS on pathological inputs: --junk-size of random bytes with no
  newline at all, and --dense-size of nothing but real error excerpts.

Targets (from issue 2): pteguard >= 0.5 x grep -E's MB/s; peak RSS < 200 MB
on every input. Prints PASS/FAIL lines; exits 1 when a target fails, 2 when
the benchmark itself could not run.

Peak RSS: /usr/bin/time -v when present, else getrusage(RUSAGE_CHILDREN) in a
small wrapper process. Either way it is the largest single process of the
tree (pteguard's Python or its grep child, whichever is bigger), not a sum;
a /proc sampler (every 20 ms) also reports the largest sum over the tree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import generate_log  # noqa: E402  (bench/ is not a package)

TARGET_RATIO = 0.5
# issue 8: an independent baseline, 30 expressions a person would grep a kernel log with (not pteguard's anchors)
TARGET_RATIO_PATTERNS = 0.8
PATTERNS_ENV = "PTEGUARD_BENCH_PATTERNS"
DEFAULT_PATTERNS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "bench",
                                "grep-patterns.txt")
TARGET_RSS_MB = 200.0
RUN_TIMEOUT = 3600
MB = 1e6  # throughput in decimal megabytes per second, like most tools print
ERE_SPECIAL = re.compile(r"([\\.\[\]()*+?{}|^$])")
RUSAGE_WRAPPER = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "with open(sys.argv[1], 'w') as f:\n"
    "    u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    f.write('Maximum resident set size (kbytes): %d\\n' % u.ru_maxrss)\n"
    "    f.write('User time (seconds): %f\\nSystem time (seconds): %f\\n' % (u.ru_utime, u.ru_stime))\n"
    "sys.exit(rc)\n"
)


def log(msg):
    print(msg, flush=True)


def import_pteguard():
    try:
        from pteguard.parsers.log_scan import ANCHORS, grep_argv
    except ImportError:
        sys.path.insert(0, os.path.join(ROOT, "src"))
        from pteguard.parsers.log_scan import ANCHORS, grep_argv  # noqa: F811
    return ANCHORS, grep_argv


def baselines(anchors, grep_argv):
    """The grep baselines: {"-F": [anchors...], "-E": [expr...]}, plus pteguard's own prefilter mode.

    -E uses exactly the expression(s) of pteguard's prefilter command line when
    that is an extended regex; otherwise the anchors, escaped, as one
    alternation (GNU grep's fastest -E form).
    """
    argv = grep_argv("grep", "FILE")
    exprs = [argv[i + 1] for i, arg in enumerate(argv) if arg == "-e"]
    mode = "-E" if "-E" in argv else "-F" if "-F" in argv else "-G"
    ere = exprs if mode == "-E" else ["|".join(ere_escape(a) for a in anchors)]
    return {"-F": list(anchors), "-E": ere}, mode


def ere_escape(text):
    return ERE_SPECIAL.sub(r"\\\1", text)


def count_argv(grep, mode, patterns, path):
    argv = [grep, "-a", "-c", mode]
    for pattern in patterns:
        argv.extend(["-e", pattern])
    argv.extend(["--", path])
    return argv


# ---------------------------------------------------------------- inputs

def ensure_log(work, size, seed, style):
    path = os.path.join(work, generate_log.default_name(size, seed, style))
    meta_path = path + ".meta.json"
    try:
        with open(meta_path, encoding="utf-8") as handle:
            meta = json.load(handle)
        if (meta.get("requested_size") == size and meta.get("seed") == seed and meta.get("style") == style
                and meta.get("generator_version") == generate_log.GENERATOR_VERSION
                and os.path.getsize(path) == meta.get("bytes")):
            log("reusing %s (%d bytes)" % (path, meta["bytes"]))
            return path, meta
    except (OSError, ValueError):
        pass
    log("generating %s (%d bytes requested, seed %d) ..." % (path, size, seed))
    start = time.monotonic()
    meta = generate_log.generate(path, size, seed, style)
    log("  done in %.1f s: %d lines, %d error-record lines (%s), %d excerpts, %d boots"
        % (time.monotonic() - start, meta["lines"], meta["error_lines"], meta["error_line_rate"],
           meta["excerpts_inserted"], meta.get("boots", 0)))
    return path, meta


def ensure_slice(work, src, size):
    """The first `size` bytes of src, cut back to the last newline."""
    path = os.path.join(work, "slice-%dM-of-%s" % (size >> 20, os.path.basename(src)))
    if os.path.exists(path) and os.path.getmtime(path) >= os.path.getmtime(src) and 0 < os.path.getsize(path) <= size:
        return path
    with open(src, "rb") as handle:
        data = handle.read(size)
    cut = data.rfind(b"\n")
    data = data[:cut + 1] if cut >= 0 else data
    with open(path, "wb") as out:
        out.write(data)
    return path


def ensure_junk(work, size, seed):
    """Random bytes with no newline at all: one enormous 'line' (SYNTHETIC, pathological)."""
    path = os.path.join(work, "synthetic-junk-nonewline-seed%d-%dM.bin" % (seed, size >> 20))
    if os.path.exists(path) and os.path.getsize(path) == size:
        return path
    rng = random.Random(seed)
    left = size
    with open(path + ".part", "wb") as out:
        while left > 0:
            n = min(left, 1 << 20)
            out.write(rng.randbytes(n).replace(b"\n", b"\0"))
            left -= n
    os.replace(path + ".part", path)
    return path


def ensure_dense(work, size, seed):
    """Nothing but real error excerpts back to back (SYNTHETIC arrangement): every line is Python's work."""
    path = os.path.join(work, "synthetic-dense-errors-seed%d-%dM.log" % (seed, size >> 20))
    if os.path.exists(path) and size <= os.path.getsize(path) < size + (1 << 20):
        return path
    excerpts = [data for _name, data in generate_log.error_excerpts()]
    rng = random.Random(seed)
    written = 0
    with open(path + ".part", "wb") as out:
        while written < size:
            data = excerpts[rng.randrange(len(excerpts))]
            out.write(data)
            written += len(data)
    os.replace(path + ".part", path)
    return path


def warm(path):
    with open(os.devnull, "wb") as null:
        subprocess.run(["cat", path], stdout=null, check=True, timeout=RUN_TIMEOUT)


# ---------------------------------------------------------------- measuring

class TreeSampler(threading.Thread):
    """Largest sum of VmRSS over a process and its descendants, sampled every 20 ms (bounded by RUN_TIMEOUT)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_kb = 0
        self.stop = threading.Event()

    @staticmethod
    def _children(pid):
        out = []
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/children" % (pid, tid)) as handle:
                    out.extend(int(x) for x in handle.read().split())
        except OSError:
            pass
        return out

    @staticmethod
    def _rss_kb(pid):
        try:
            with open("/proc/%d/status" % pid) as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            pass
        return 0

    def run(self):
        deadline = time.monotonic() + RUN_TIMEOUT
        while not self.stop.is_set() and time.monotonic() < deadline:
            total, todo, seen = 0, [self.pid], 0
            while todo and seen < 64:
                pid = todo.pop()
                seen += 1
                total += self._rss_kb(pid)
                todo.extend(self._children(pid))
            self.peak_kb = max(self.peak_kb, total)
            self.stop.wait(0.02)


def timed(argv, out_path, work, env=None):
    """Run argv with stdout to out_path. Returns dict(seconds, rc, rss_mb, tree_mb, stderr)."""
    fd, rss_file = tempfile.mkstemp(prefix="rss-", dir=work)
    os.close(fd)
    if os.access("/usr/bin/time", os.X_OK):
        full = ["/usr/bin/time", "-v", "-o", rss_file] + argv
    else:
        full = [sys.executable, "-c", RUSAGE_WRAPPER, rss_file] + argv
    with open(out_path, "wb") as out, tempfile.TemporaryFile(dir=work) as err:
        start = time.monotonic()
        proc = subprocess.Popen(full, stdout=out, stderr=err, env=env)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            rc = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            rc = -9
        seconds = time.monotonic() - start
        sampler.stop.set()
        sampler.join(timeout=5)
        err.seek(0)
        stderr = err.read(65536).decode("utf-8", "replace")
    rss_kb = None
    cpu = 0.0
    try:
        with open(rss_file, encoding="utf-8") as handle:
            for line in handle:
                if "Maximum resident set size" in line:
                    rss_kb = int(line.rsplit(":", 1)[1])
                elif "User time (seconds)" in line or "System time (seconds)" in line:
                    cpu += float(line.rsplit(":", 1)[1])
    except (OSError, ValueError):
        pass
    os.unlink(rss_file)
    # the sampler also sees /usr/bin/time or the wrapper itself; both are tiny next to the figures that matter
    return {"seconds": seconds, "cpu": cpu, "rc": rc, "rss_mb": rss_kb / 1024.0 if rss_kb else None,
            "tree_mb": sampler.peak_kb / 1024.0, "stderr": stderr}


def analyze(pteguard, path, out, work, engine=None):
    argv = [pteguard, "analyze", "--format", "json", "--fail-on", "never"]
    if engine:
        argv.extend(["--engine", engine])
    argv.append(path)
    res = timed(argv, out, work)
    res["summary"] = None
    try:
        with open(out, encoding="utf-8") as handle:
            doc = json.load(handle)
        res["summary"] = doc["sources"][0]["summary"]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        pass
    return res


def size_or_zero(text):
    return generate_log.parse_size(text, allow_zero=True)


def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2.0


def load_average():
    try:
        with open("/proc/loadavg") as handle:
            return " ".join(handle.read().split()[:3])
    except OSError:
        return "unknown"


def code_state():
    """HEAD commit and whether the engine's sources differ from it, so a figure can be tied to code."""
    try:
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=30, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--", "src", "plugins/module_utils"],
                               capture_output=True, text=True, timeout=30, check=False).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    dirty = [line[3:] for line in dirty if line.strip()]
    return "HEAD %s%s" % (head, ", uncommitted changes in: " + " ".join(dirty) if dirty else ", clean")


def cpu_pressure():
    try:
        with open("/proc/pressure/cpu") as handle:
            return handle.readline().strip()
    except OSError:
        return "unknown"


def mbps(size, seconds):
    return size / MB / seconds if seconds > 0 else float("inf")


# ---------------------------------------------------------------- main

def main(argv=None):
    parser = argparse.ArgumentParser(description="pteguard vs grep throughput and peak-RSS benchmark (SYNTHETIC input)")
    parser.add_argument("--size", type=generate_log.parse_size, default=1 << 30, help="main log size (default 1G)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--style", choices=("syslog", "dmesg"), default="syslog")
    parser.add_argument("--work-dir", default=os.path.join(ROOT, "build", "bench"))
    parser.add_argument("--pteguard", default=os.path.join(ROOT, ".venv", "bin", "pteguard"))
    parser.add_argument("--slice-size", type=generate_log.parse_size, default=100 << 20,
                        help="slice for the pure-Python engine (default 100M)")
    parser.add_argument("--junk-size", type=size_or_zero, default=200 << 20,
                        help="newline-free random bytes for the RSS check (default 200M; 0 skips)")
    parser.add_argument("--dense-size", type=size_or_zero, default=50 << 20,
                        help="back-to-back error excerpts for the RSS check (default 50M; 0 skips)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved rounds of grep -F, grep -E, pteguard on the main log; medians are compared")
    parser.add_argument("--clean", action="store_true", help="delete the generated inputs when done")
    parser.add_argument("--patterns-file", default=os.environ.get(PATTERNS_ENV, DEFAULT_PATTERNS),
                        help="expressions of the independent `grep -c -E -f` baseline (default ../shared/bench/"
                             "grep-patterns.txt from the repository root, or $%s)" % PATTERNS_ENV)
    args = parser.parse_args(argv)
    if not 1 <= args.repeat <= 20:
        parser.error("--repeat must be between 1 and 20")

    if not os.access(args.pteguard, os.X_OK):
        log("error: %s is not executable (run scripts/setup first, or pass --pteguard)" % args.pteguard)
        return 2
    grep = shutil.which("grep")
    if grep is None:
        log("error: grep is not installed")
        return 2
    patterns_file = os.path.abspath(args.patterns_file)
    if not os.path.isfile(patterns_file):
        log("error: %s does not exist (set %s or --patterns-file)" % (patterns_file, PATTERNS_ENV))
        return 2
    anchors, grep_argv = import_pteguard()
    patterns, pt_mode = baselines(anchors, grep_argv)
    work = os.path.abspath(args.work_dir)
    os.makedirs(work, exist_ok=True)
    made = []

    path, meta = ensure_log(work, args.size, args.seed, args.style)
    made += [path, path + ".meta.json"]
    size = os.path.getsize(path)
    grep_version = subprocess.run([grep, "--version"], capture_output=True, text=True, check=False).stdout.splitlines()[0]
    log("input: %s, %.1f MB, %d lines, %s error-record lines; %d anchors (pteguard's prefilter: grep %s); %s; %d CPUs"
        % (os.path.basename(path), size / MB, meta["lines"], meta["error_line_rate"], len(anchors), pt_mode,
           grep_version, os.cpu_count() or 0))
    log("pteguard code: %s" % code_state())
    log("warming the page cache (cat > /dev/null) ...")
    warm(path)

    env_c = dict(os.environ, LC_ALL="C")  # what pteguard gives its own grep
    runs = {"-F": [], "-E": [], "-f": [], "pteguard": []}
    log("load average before: %s; CPU pressure: %s" % (load_average(), cpu_pressure()))
    for round_no in range(1, args.repeat + 1):
        # interleaved rounds, so a burst of load elsewhere hits grep and pteguard alike
        for mode in ("-F", "-E", "-f"):
            out = os.path.join(work, "grep%s.out" % mode)
            argv = ([grep, "-c", "-E", "-f", patterns_file, "--", path] if mode == "-f"
                    else count_argv(grep, mode, patterns[mode], path))
            res = timed(argv, out, work, env=env_c)
            if res["rc"] not in (0, 1):
                log("error: grep %s failed (rc %d): %s" % (mode, res["rc"], res["stderr"].strip()[-300:]))
                return 2
            with open(out) as handle:
                res["count"] = handle.read().strip()
            runs[mode].append(res)
            log("round %d  grep -c %s: %6.2f s  %7.1f MB/s  cpu %6.2f s  (%s matching lines)"
                % (round_no, mode, res["seconds"], mbps(size, res["seconds"]), res["cpu"], res["count"]))
        res = analyze(args.pteguard, path, os.path.join(work, "pteguard.json"), work)
        if res["rc"] != 0 or res["summary"] is None:
            log("error: pteguard analyze failed (rc %d): %s" % (res["rc"], res["stderr"].strip()[-500:]))
            return 2
        runs["pteguard"].append(res)
        log("round %d  pteguard analyze: %6.2f s  %7.1f MB/s  cpu %6.2f s  peak RSS %.1f MB (tree sampled %.1f MB)"
            % (round_no, res["seconds"], mbps(size, res["seconds"]), res["cpu"], res["rss_mb"] or -1,
               res["tree_mb"]))
    log("load average after: %s; CPU pressure: %s" % (load_average(), cpu_pressure()))
    if runs["-F"][0]["count"] != runs["-E"][0]["count"]:
        log("error: grep -F and -E counts differ (%s vs %s): the ERE escaping is wrong"
            % (runs["-F"][0]["count"], runs["-E"][0]["count"]))
        return 2
    med = {name: median([r["seconds"] for r in items]) for name, items in runs.items()}
    best = {name: min(r["seconds"] for r in items) for name, items in runs.items()}
    main_run = max(runs["pteguard"], key=lambda r: max(r["rss_mb"] or 0.0, r["tree_mb"]))
    summ = runs["pteguard"][-1]["summary"]
    pt_mbps = mbps(size, med["pteguard"])
    grep_e_mbps = mbps(size, med["-E"])
    log("")
    log("median of %d:  grep -c -F %.1f MB/s   grep -c -E %.1f MB/s   pteguard analyze %.1f MB/s"
        % (args.repeat, mbps(size, med["-F"]), grep_e_mbps, pt_mbps))
    log("best of %d:    grep -c -F %.1f MB/s   grep -c -E %.1f MB/s   pteguard analyze %.1f MB/s"
        % (args.repeat, mbps(size, best["-F"]), mbps(size, best["-E"]), mbps(size, best["pteguard"])))
    cpu = {name: median([r["cpu"] for r in items]) for name, items in runs.items()}
    log("median CPU:    grep -c -F %.2f s   grep -c -E %.2f s   grep -c -E -f %.2f s   pteguard analyze %.2f s "
        "(Python + its grep)" % (cpu["-F"], cpu["-E"], cpu["-f"], cpu["pteguard"]))
    ratio_e = pt_mbps / grep_e_mbps
    ratio_f = pt_mbps / mbps(size, med["-F"])
    patterns_mbps = mbps(size, med["-f"])
    ratio_p = pt_mbps / patterns_mbps
    log("independent baseline `grep -c -E -f %s`: %.1f MB/s median; ratio pteguard / it: %.2f median, %.2f best"
        % (os.path.relpath(patterns_file, ROOT), patterns_mbps, ratio_p, best["-f"] / best["pteguard"]))
    log("ratio pteguard / grep -c -E: %.2f median, %.2f best   (pteguard / grep -c -F: %.2f median)"
        % (ratio_e, best["-E"] / best["pteguard"], ratio_f))
    log("pteguard (engine %s): peak RSS %.1f MB (tree sampled %.1f MB); %d findings %s"
        % (summ.get("engine"), main_run["rss_mb"] or -1, main_run["tree_mb"], summ["findings"],
           json.dumps(summ["by_category"], sort_keys=True)))
    log("")

    # reference: the pure-Python engine on a slice, and both engines agreeing there
    sliced = ensure_slice(work, path, args.slice_size)
    made.append(sliced)
    warm(sliced)
    ssize = os.path.getsize(sliced)
    py_run = analyze(args.pteguard, sliced, os.path.join(work, "pteguard-python-slice.json"), work, engine="python")
    gr_run = analyze(args.pteguard, sliced, os.path.join(work, "pteguard-grep-slice.json"), work, engine="grep")
    for name, res in (("python", py_run), ("grep", gr_run)):
        if res["rc"] != 0 or res["summary"] is None:
            log("error: pteguard --engine %s on the slice failed (rc %d): %s"
                % (name, res["rc"], res["stderr"].strip()[-500:]))
            return 2
    log("slice %.1f MB, --engine python: %6.2f s  %7.1f MB/s  (%.3f x grep -E) peak RSS %.1f MB; %d findings"
        % (ssize / MB, py_run["seconds"], mbps(ssize, py_run["seconds"]),
           mbps(ssize, py_run["seconds"]) / grep_e_mbps, py_run["rss_mb"] or -1,
           py_run["summary"]["findings"]))
    log("slice %.1f MB, --engine grep:   %6.2f s  %7.1f MB/s  peak RSS %.1f MB; %d findings"
        % (ssize / MB, gr_run["seconds"], mbps(ssize, gr_run["seconds"]), gr_run["rss_mb"] or -1,
           gr_run["summary"]["findings"]))
    same = (py_run["summary"]["by_category"] == gr_run["summary"]["by_category"]
            and py_run["summary"]["suppressed"] == gr_run["summary"]["suppressed"])
    log("engines agree on the slice (by_category, suppressed): %s" % ("yes" if same else "NO"))

    # pathological inputs: memory must stay bounded
    extra = []
    if args.junk_size:
        junk = ensure_junk(work, args.junk_size, args.seed)
        made.append(junk)
        extra.append(("junk, no newline", junk))
    if args.dense_size:
        dense = ensure_dense(work, args.dense_size, args.seed)
        made.append(dense)
        extra.append(("dense error excerpts", dense))
    patho = []
    for label, xpath in extra:
        warm(xpath)
        res = analyze(args.pteguard, xpath, os.path.join(work, "pteguard-patho.json"), work)
        xsize = os.path.getsize(xpath)
        clean = res["rc"] == 0 and res["summary"] is not None and "Traceback" not in res["stderr"]
        log("%s (%.1f MB): %6.2f s  %7.1f MB/s  peak RSS %.1f MB (tree sampled %.1f MB); rc %d%s"
            % (label, xsize / MB, res["seconds"], mbps(xsize, res["seconds"]), res["rss_mb"] or -1, res["tree_mb"],
               res["rc"], "" if clean else " stderr: " + res["stderr"].strip()[-300:]))
        patho.append((label, res, clean))

    # verdicts
    failed = False

    def verdict(ok, text):
        nonlocal failed
        failed = failed or not ok
        log("%s %s" % ("PASS" if ok else "FAIL", text))

    log("")
    verdict(ratio_p >= TARGET_RATIO_PATTERNS, "throughput: pteguard %.1f MB/s = %.2f x grep -c -E -f grep-patterns.txt "
            "(%.1f MB/s), target >= %.1f" % (pt_mbps, ratio_p, patterns_mbps, TARGET_RATIO_PATTERNS))
    verdict(ratio_e >= TARGET_RATIO, "throughput: pteguard %.1f MB/s = %.2f x grep -c -E (%.1f MB/s), target >= %.1f"
            % (pt_mbps, ratio_e, grep_e_mbps, TARGET_RATIO))
    for label, res in [("main log", main_run), ("python engine, slice", py_run)] + [(l, r) for l, r, _c in patho]:
        peak = max(res["rss_mb"] or 0.0, res["tree_mb"])
        verdict(peak < TARGET_RSS_MB, "peak RSS, %s: %.1f MB (largest process %.1f, tree sampled %.1f), target < %.0f"
                % (label, peak, res["rss_mb"] or -1, res["tree_mb"], TARGET_RSS_MB))
    for label, _res, clean in patho:
        verdict(clean, "%s: exit 0 with a JSON document, no traceback" % label)
    log("info: ratio vs grep -c -F %.2f; CPU-time ratio grep -c -E / pteguard %.2f; engines agree on slice: %s"
        % (ratio_f, cpu["-E"] / cpu["pteguard"] if cpu["pteguard"] else 0.0, "yes" if same else "no"))

    if args.clean:
        outputs = ("grep-F.out", "grep-E.out", "grep-f.out", "pteguard.json", "pteguard-python-slice.json",
                   "pteguard-grep-slice.json", "pteguard-patho.json")
        for item in made + [os.path.join(work, name) for name in outputs]:
            try:
                os.unlink(item)
            except OSError:
                pass
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
