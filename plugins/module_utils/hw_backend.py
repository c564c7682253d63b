# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Choose the hardware-error monitoring backend for a host (pure functions, no Ansible import).

Inputs are what a probe read on the host (CPU vendor/family, /dev/mcelog, kernel config, tracefs,
kernel lockdown, packages). decide_backend() returns the backend (rasdaemon, mcelog or none), the
reason in one sentence, notes, and whether rasdaemon's buffer_percent fix is needed.

Decision table (first rule that matches wins; "auto" preference):

  1. rasdaemon usable                      -> rasdaemon
  2. mcelog usable                         -> mcelog
  3. otherwise                             -> none (reason lists why each was rejected)

rasdaemon is usable when: the kernel has tracing (tracefs mounted, or its mount point exists, or
CONFIG_TRACING/CONFIG_FTRACE set), the kernel is not in lockdown "confidentiality" (which closes
tracefs), CONFIG_RAS is not explicitly unset, and a rasdaemon package is installed or installable
(unknown availability is accepted with a note).

mcelog is usable when: /dev/mcelog exists (legacy device, CONFIG_X86_MCELOG_LEGACY), the CPU is x86,
not AMD family >= 0x17 (mcelog refuses Zen and later), and an mcelog package is installed or
installable.

A preference of "rasdaemon" or "mcelog" picks that backend only when usable (else none, with the
reason); "none" always picks none.

rasdaemon buffer_percent fix: kernels with the ring-buffer watermark change (6.1-rc6, backported to
some stable series) make poll() on trace_pipe_raw wait until buffer_percent (default 50) of the
buffer is full, so rasdaemon before 0.8.0 records (almost) nothing. Upstream 0.8.0 writes 0 to its
instance's buffer_percent itself. So the fix is needed when the rasdaemon upstream version is below
0.8.0 (epoch and distro revision ignored); it is harmless on kernels without the change.
"""

from __future__ import annotations

import re

BACKENDS = ("rasdaemon", "mcelog", "none")
PREFERENCES = ("auto",) + BACKENDS
AMD_MCELOG_LAST_FAMILY = 0x16
BUFFER_FIX_FIXED_IN = (0, 8, 0)
KERNEL_CONFIG_KEYS = ("X86_MCELOG_LEGACY", "RAS", "EDAC", "TRACING", "FTRACE", "X86_MCE")
TRACEFS_STATES = ("mounted", "not_mounted", "absent")
LOCKDOWN_MODES = ("none", "integrity", "confidentiality")


class ProbeError(ValueError):
    """A probe value the decision cannot use (message says which)."""


def parse_cpuinfo(text):
    """Vendor, family and model of the first CPU in /proc/cpuinfo text.

    Returns {'vendor': str or None, 'family': int or None, 'model': int or None, 'arch_x86': bool}.
    Non-x86 cpuinfo (no vendor_id) gives vendor None and arch_x86 False.
    """
    vendor = family = model = None
    for line in (text or "").splitlines():
        if ":" not in line:
            if vendor is not None and not line.strip():
                break  # end of the first CPU's block
            continue
        key, _sep, value = line.partition(":")
        key = key.strip().lower()
        value = value.strip()
        if key == "vendor_id" and vendor is None:
            vendor = value
        elif key == "cpu family" and family is None:
            family = _int_or_none(value)
        elif key == "model" and model is None:
            model = _int_or_none(value)
    return {"vendor": vendor, "family": family, "model": model, "arch_x86": vendor is not None}


def _int_or_none(value):
    try:
        return int(value, 0) if value.lower().startswith("0x") else int(value)
    except (ValueError, AttributeError):
        return None


_CONFIG_SET = re.compile(r"^CONFIG_([A-Za-z0-9_]+)=(.*)$")
_CONFIG_UNSET = re.compile(r"^# CONFIG_([A-Za-z0-9_]+) is not set$")


def parse_kernel_config(text, keys=KERNEL_CONFIG_KEYS):
    """Values of the given CONFIG_ keys ('y', 'm', 'n' or the raw value); a missing key is None."""
    wanted = set(keys)
    found = dict((k, None) for k in keys)
    for line in (text or "").splitlines():
        line = line.strip()
        m = _CONFIG_SET.match(line)
        if m and m.group(1) in wanted:
            found[m.group(1)] = m.group(2).strip().strip('"')
            continue
        m = _CONFIG_UNSET.match(line)
        if m and m.group(1) in wanted:
            found[m.group(1)] = "n"
    return found


def parse_lockdown(text):
    """The active mode from /sys/kernel/security/lockdown ('none [integrity] confidentiality').

    None when the text is empty or has no bracketed mode.
    """
    m = re.search(r"\[(\w+)\]", text or "")
    return m.group(1) if m else None


def parse_apt_policy(text):
    """{package: {'installed': version or None, 'candidate': version or None}} from `apt-cache policy`."""
    result = {}
    current = None
    for line in (text or "").splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            current = line.rstrip()[:-1].split(":")[0].strip()
            result[current] = {"installed": None, "candidate": None}
            continue
        if current is None:
            continue
        stripped = line.strip()
        for field in ("installed", "candidate"):
            prefix = field.capitalize() + ":"
            if stripped.startswith(prefix):
                value = stripped[len(prefix):].strip()
                result[current][field] = None if value in ("", "(none)") else value
    return result


def upstream_version(version):
    """Tuple of the numeric upstream part of a package version: '1:0.6.8-1.1' -> (0, 6, 8).

    None when no version or no leading number.
    """
    if not version:
        return None
    text = str(version).strip()
    if ":" in text:
        text = text.split(":", 1)[1]
    if "-" in text:
        text = text.rsplit("-", 1)[0]
    m = re.match(r"^(\d+(?:\.\d+)*)", text)
    if not m:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def needs_buffer_percent_fix(version):
    """True/False for a rasdaemon version; None when the version is unknown."""
    parsed = upstream_version(version)
    if parsed is None:
        return None
    padded = parsed + (0,) * (3 - len(parsed))
    return padded < BUFFER_FIX_FIXED_IN


_TRACEFS_TEXT = {
    "mounted": "tracefs mounted",
    "not_mounted": "tracefs supported, not mounted here",
    "absent": "tracing in the kernel config",
}


def _fmt_family(family):
    return "0x%x" % family if isinstance(family, int) else "unknown"


def _package_ok(name, pkg):
    """(usable, note) for a package probe {'installed':..., 'candidate':..., 'known': bool}."""
    pkg = pkg or {}
    if pkg.get("installed"):
        return True, "%s %s is installed" % (name, pkg["installed"])
    if pkg.get("candidate"):
        return True, "%s %s is installable" % (name, pkg["candidate"])
    if pkg.get("known", True):
        return False, "no %s package for this distribution" % name
    return True, "%s availability unknown (package lists not readable)" % name


def _rasdaemon_check(probe):
    """(usable, reasons_against, notes)."""
    against = []
    notes = []
    cfg = probe.get("kernel_config") or {}
    tracefs = probe.get("tracefs") or "absent"
    if tracefs not in TRACEFS_STATES:
        raise ProbeError("tracefs must be one of %s, not %r" % (", ".join(TRACEFS_STATES), tracefs))
    tracing_cfg = [cfg.get("TRACING"), cfg.get("FTRACE")]
    if tracefs == "absent" and not any(v in ("y", "m") for v in tracing_cfg):
        against.append("the kernel has no tracefs (no /sys/kernel/tracing, CONFIG_TRACING/FTRACE not set)")
    elif tracefs == "not_mounted":
        notes.append("tracefs is supported but not mounted here; rasdaemon needs it mounted when it starts")
    if probe.get("lockdown") == "confidentiality":
        against.append("kernel lockdown 'confidentiality' closes tracefs")
    elif probe.get("lockdown") == "integrity":
        notes.append("kernel lockdown 'integrity' restricts debugfs; tracefs (/sys/kernel/tracing) still works")
    if cfg.get("RAS") == "n":
        against.append("the kernel is built without CONFIG_RAS (no RAS trace events)")
    if cfg.get("X86_MCE") == "n" and (probe.get("cpu") or {}).get("vendor"):
        notes.append("CONFIG_X86_MCE is not set: this kernel reports no machine checks")
    if cfg.get("EDAC") == "n":
        notes.append("CONFIG_EDAC is not set: no memory-controller (DIMM) decoding")
    ok, pkg_note = _package_ok("rasdaemon", (probe.get("packages") or {}).get("rasdaemon"))
    if ok:
        notes.append(pkg_note)
    else:
        against.append(pkg_note)
    return not against, against, notes


def _mcelog_check(probe):
    against = []
    notes = []
    cpu = probe.get("cpu") or {}
    vendor = cpu.get("vendor")
    family = cpu.get("family")
    if not probe.get("mcelog_device"):
        cfg = (probe.get("kernel_config") or {}).get("X86_MCELOG_LEGACY")
        if cfg == "n":
            against.append("no /dev/mcelog (kernel built without CONFIG_X86_MCELOG_LEGACY)")
        else:
            against.append("no /dev/mcelog on this host")
    if vendor is None:
        against.append("not an x86 CPU (mcelog is x86-only)")
    elif vendor == "AuthenticAMD" and (family is None or family > AMD_MCELOG_LAST_FAMILY):
        against.append("AMD family %s: mcelog refuses family 0x17 (Zen) and later" % _fmt_family(family))
    elif vendor not in ("GenuineIntel", "AuthenticAMD"):
        notes.append("CPU vendor %s is not one mcelog decodes well" % vendor)
    ok, pkg_note = _package_ok("mcelog", (probe.get("packages") or {}).get("mcelog"))
    if ok:
        notes.append(pkg_note)
    else:
        against.append(pkg_note)
    return not against, against, notes


def decide_backend(probe, preference="auto"):
    """Pick the backend for one host.

    probe keys: cpu {vendor, family}, mcelog_device bool, kernel_config {KEY: y|m|n|None},
    tracefs mounted|not_mounted|absent, lockdown none|integrity|confidentiality|None,
    packages {rasdaemon|mcelog: {installed, candidate, known}}.

    Returns {'backend', 'reason', 'notes', 'rejected': {backend: [reasons]}, 'buffer_percent_fix'}.
    buffer_percent_fix is True/False/None (unknown version) for rasdaemon, None otherwise.
    """
    if not isinstance(probe, dict):
        raise ProbeError("probe must be a mapping, not %s" % type(probe).__name__)
    if preference not in PREFERENCES:
        raise ProbeError("preference must be one of %s, not %r" % (", ".join(PREFERENCES), preference))
    cpu = probe.get("cpu") or {}
    cpu_text = "%s family %s" % (cpu.get("vendor") or "unknown CPU", _fmt_family(cpu.get("family")))
    ras_ok, ras_against, ras_notes = _rasdaemon_check(probe)
    mce_ok, mce_against, mce_notes = _mcelog_check(probe)
    rejected = {}
    if not ras_ok:
        rejected["rasdaemon"] = ras_against
    if not mce_ok:
        rejected["mcelog"] = mce_against

    def result(backend, reason, notes):
        fix = None
        if backend == "rasdaemon":
            pkg = (probe.get("packages") or {}).get("rasdaemon") or {}
            fix = needs_buffer_percent_fix(pkg.get("installed") or pkg.get("candidate"))
        return {"backend": backend, "reason": reason, "notes": notes, "rejected": rejected,
                "buffer_percent_fix": fix}

    def why_not(name):
        return "; ".join(rejected.get(name, [])) or "usable"

    if preference == "none":
        return result("none", "hardware-error monitoring disabled by preference 'none'", [])
    if preference in ("auto", "rasdaemon") and ras_ok:
        reason = "rasdaemon: %s; kernel tracing available (%s)" % (cpu_text, _TRACEFS_TEXT[probe.get("tracefs")])
        if preference == "auto":
            reason += "; rasdaemon is preferred where it works"
        return result("rasdaemon", reason, ras_notes)
    if preference in ("auto", "mcelog") and mce_ok:
        reason = "mcelog: /dev/mcelog exists and %s is supported by mcelog" % cpu_text
        if preference == "auto":
            reason += "; rasdaemon not usable: %s" % why_not("rasdaemon")
        return result("mcelog", reason, mce_notes)
    if preference == "auto":
        reason = "none: rasdaemon not usable: %s; mcelog not usable: %s" % (why_not("rasdaemon"), why_not("mcelog"))
    else:
        reason = "none: requested %s is not usable here: %s" % (preference, why_not(preference))
    return result("none", reason, [])


def tracefs_state(mounted_dirs, existing_dirs):
    """'mounted' if any tracing dir has an instances/ subdir, 'not_mounted' if a mount point exists."""
    if mounted_dirs:
        return "mounted"
    if existing_dirs:
        return "not_mounted"
    return "absent"


def start_blocker(backend, tracefs, container, lockdown):
    """Why the chosen backend's service cannot start on this host now (None when nothing blocks it)."""
    if backend != "rasdaemon":
        return None
    if tracefs == "mounted":
        return None
    if container:
        return ("tracefs is not mounted inside this %s container, which shares the host's kernel and "
                "cannot mount it: rasdaemon cannot trace here (it will on a real host or VM)" % container)
    if lockdown == "confidentiality":
        return "kernel lockdown 'confidentiality' closes tracefs"
    if tracefs == "absent":
        return "the kernel has no tracefs"
    return None


# --- host probe ----------------------------------------------------------------------------------------------
# Read-only; the hw_backend_info module runs it on the target with run_command as the runner. Package lookups use
# local caches only (apt-cache, dpkg-query, rpm, dnf -C): no network.

TRACING_DIRS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


def _read(path, limit=4 * 1024 * 1024):
    import gzip

    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rt", errors="replace") as fh:
                return fh.read(limit)
        with open(path, "r", errors="replace") as fh:
            return fh.read(limit)
    except (OSError, EOFError):
        return None


def _which(name):
    import shutil

    return shutil.which(name, path="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")


def _probe_container():
    text = _read("/run/systemd/container")
    if text and text.strip():
        return text.strip()
    env = _read("/proc/1/environ")
    for item in (env or "").split("\0"):
        if item.startswith("container="):
            return item.split("=", 1)[1] or "container"
    return ""


def _probe_debian_packages(names, run):
    import os

    pkgs = dict((n, {"installed": None, "candidate": None, "known": False}) for n in names)
    lists = "/var/lib/apt/lists"
    have_lists = os.path.isdir(lists) and any("_Packages" in f for f in os.listdir(lists))
    if _which("apt-cache"):
        rc, out = run([_which("apt-cache"), "policy"] + list(names))
        if rc == 0:
            parsed = parse_apt_policy(out)
            for n in names:
                pkgs[n]["known"] = have_lists
                if n in parsed:
                    pkgs[n]["candidate"] = parsed[n]["candidate"]
    dpkg = _which("dpkg-query")
    can_simulate = False
    if dpkg:
        for n in list(names) + ["python3-apt"]:
            rc, out = run([dpkg, "-W", "-f", "${db:Status-Abbrev} ${Version}", n])
            parts = out.split()
            installed = parts[1] if rc == 0 and len(parts) >= 2 and parts[0].startswith("ii") else None
            if n in pkgs:
                pkgs[n]["installed"] = installed
            else:
                can_simulate = installed is not None
    return pkgs, can_simulate


def _probe_redhat_packages(names, run):
    pkgs = dict((n, {"installed": None, "candidate": None, "known": False}) for n in names)
    rpm = _which("rpm")
    if rpm:
        for n in names:
            rc, out = run([rpm, "-q", "--qf", "%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n", n])
            if rc == 0 and out.strip():
                pkgs[n]["installed"] = out.strip().splitlines()[0]
    dnf = _which("dnf") or _which("yum")
    if dnf:
        rc, out = run([dnf, "-q", "-C", "list", "--available"] + list(names))
        if rc in (0, 1):  # 1: none of them available in the (present) cache
            for n in names:
                pkgs[n]["known"] = True
            for line in out.splitlines():
                fields = line.split()
                if len(fields) >= 2 and "." in fields[0]:
                    name = fields[0].rsplit(".", 1)[0]
                    if name in pkgs and pkgs[name]["candidate"] is None:
                        pkgs[name]["candidate"] = fields[1]
    return pkgs, True


def probe_host(pkg_family, run, rasdaemon_package="rasdaemon", mcelog_package="mcelog"):
    """Read this host's facts for decide_backend() (read-only).

    `run(argv)` runs a read-only command and returns (rc, stdout), rc None
    when it cannot run: the module passes AnsibleModule.run_command, tests
    pass their own.
    """
    import os

    if pkg_family not in ("debian", "redhat"):
        raise ProbeError("pkg_family must be debian or redhat, not %r" % pkg_family)
    names = [rasdaemon_package, mcelog_package]
    if pkg_family == "debian":
        by_name, can_simulate = _probe_debian_packages(names, run)
    else:
        by_name, can_simulate = _probe_redhat_packages(names, run)
    release = os.uname()[2]
    config_path, config = None, dict((k, None) for k in KERNEL_CONFIG_KEYS)
    for path in ("/boot/config-%s" % release, "/proc/config.gz"):
        text = _read(path)
        if text:
            config_path, config = path, parse_kernel_config(text)
            break
    mounted = [d for d in TRACING_DIRS if os.path.isdir(os.path.join(d, "instances"))]
    existing = [d for d in TRACING_DIRS if os.path.isdir(d)]
    lockdown_text = _read("/sys/kernel/security/lockdown")
    return {
        "cpu": parse_cpuinfo(_read("/proc/cpuinfo", 256 * 1024) or ""),
        "mcelog_device": os.path.exists("/dev/mcelog"),
        "kernel_release": release,
        "kernel_config_path": config_path,
        "kernel_config": config,
        "tracefs": tracefs_state(mounted, existing),
        "tracing_dir": (mounted or existing or [None])[0],
        "lockdown": parse_lockdown(lockdown_text) if lockdown_text is not None else None,
        "container": _probe_container(),
        "packages": {"rasdaemon": by_name[rasdaemon_package], "mcelog": by_name[mcelog_package]},
        "package_manager_can_simulate": can_simulate,
    }


def probe_and_decide(pkg_family, run, preference="auto", rasdaemon_package="rasdaemon", mcelog_package="mcelog"):
    """Probe this host and decide: the decision, what blocks starting it, and the probe itself."""
    probe = probe_host(pkg_family, run, rasdaemon_package, mcelog_package)
    decision = decide_backend(probe, preference)
    decision["start_blocker"] = start_blocker(decision["backend"], probe["tracefs"], probe["container"],
                                              probe["lockdown"])
    decision["probe"] = probe
    return decision
