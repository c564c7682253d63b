"""Backend decision for the hw_monitor role: rasdaemon, mcelog or none, with the reason."""

from __future__ import annotations

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.hw_backend import (
    ProbeError, decide_backend, needs_buffer_percent_fix, parse_apt_policy, parse_cpuinfo, parse_kernel_config,
    parse_lockdown, start_blocker, tracefs_state, upstream_version,
)

# First lines of /proc/cpuinfo on the lab machine these tests were written on (AMD EPYC, Zen 3).
CPUINFO_AMD_ZEN3 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC
stepping\t: 1
microcode\t: 0x1000065

processor\t: 1
vendor_id\t: GenuineIntel
cpu family\t: 6
"""

# Lines of Debian 12's /boot/config-6.1.0-50-amd64 (linux-image-amd64 in the lab image).
DEBIAN12_CONFIG = """CONFIG_X86_MCE=y
# CONFIG_X86_MCELOG_LEGACY is not set
CONFIG_EDAC=y
CONFIG_RAS=y
CONFIG_TRACING=y
CONFIG_FTRACE=y
"""

# `apt-cache policy rasdaemon mcelog` in the Debian 12 lab container (mcelog: no such package, so no stanza).
APT_POLICY_BOOKWORM = """rasdaemon:
  Installed: 0.6.8-1.1
  Candidate: 0.6.8-1.1
  Version table:
 *** 0.6.8-1.1 500
        500 http://deb.debian.org/debian bookworm/main amd64 Packages
        100 /var/lib/dpkg/status
"""


def probe(vendor="GenuineIntel", family=6, mcelog_device=False, tracefs="mounted", lockdown="none",
          config=None, rasdaemon=("0.6.8-1.1", "0.6.8-1.1"), mcelog=(None, "191-1"), known=True):
    cfg = parse_kernel_config(DEBIAN12_CONFIG)
    cfg.update(config or {})
    return {
        "cpu": {"vendor": vendor, "family": family},
        "mcelog_device": mcelog_device,
        "kernel_config": cfg,
        "tracefs": tracefs,
        "lockdown": lockdown,
        "packages": {
            "rasdaemon": {"installed": rasdaemon[0], "candidate": rasdaemon[1], "known": known},
            "mcelog": {"installed": mcelog[0], "candidate": mcelog[1], "known": known},
        },
    }


# --- parsers -----------------------------------------------------------------------------------------------

def test_cpuinfo_takes_the_first_cpu():
    cpu = parse_cpuinfo(CPUINFO_AMD_ZEN3)
    assert cpu == {"vendor": "AuthenticAMD", "family": 25, "model": 17, "arch_x86": True}


def test_cpuinfo_without_vendor_is_not_x86():
    cpu = parse_cpuinfo("processor\t: 0\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x41\n")
    assert cpu["vendor"] is None and cpu["arch_x86"] is False


def test_kernel_config_set_unset_and_missing():
    cfg = parse_kernel_config(DEBIAN12_CONFIG + "# CONFIG_FOO is not set\n")
    assert cfg["X86_MCELOG_LEGACY"] == "n"
    assert cfg["RAS"] == "y" and cfg["EDAC"] == "y" and cfg["TRACING"] == "y"
    assert parse_kernel_config("")["RAS"] is None


def test_lockdown_modes():
    assert parse_lockdown("[none] integrity confidentiality\n") == "none"
    assert parse_lockdown("none integrity [confidentiality]\n") == "confidentiality"
    assert parse_lockdown("") is None


def test_apt_policy():
    parsed = parse_apt_policy(APT_POLICY_BOOKWORM + "mcelog:\n  Installed: (none)\n  Candidate: 191-1\n")
    assert parsed["rasdaemon"] == {"installed": "0.6.8-1.1", "candidate": "0.6.8-1.1"}
    assert parsed["mcelog"] == {"installed": None, "candidate": "191-1"}


@pytest.mark.parametrize("version,expected", [
    ("0.6.8-1.1", (0, 6, 8)), ("1:0.8.0-2.el9", (0, 8, 0)), ("0.8.3", (0, 8, 3)), ("", None), ("abc", None),
])
def test_upstream_version(version, expected):
    assert upstream_version(version) == expected


@pytest.mark.parametrize("version,expected", [
    ("0.6.8-1.1", True),       # Debian 12
    ("0.6.7-4.el9", True),     # RHEL 9 era
    ("0.7.0-1", True),
    ("0.8.0-1", False),        # upstream writes buffer_percent itself from 0.8.0
    ("0.8.0.1", False),
    ("0.8", False),
    ("1:0.8.4-1", False),
    (None, None),
])
def test_buffer_percent_fix_by_version(version, expected):
    assert needs_buffer_percent_fix(version) is expected


# --- decisions ---------------------------------------------------------------------------------------------

def test_intel_with_tracefs_gets_rasdaemon_with_the_fix():
    d = decide_backend(probe())
    assert d["backend"] == "rasdaemon"
    assert "GenuineIntel family 0x6" in d["reason"]
    assert d["buffer_percent_fix"] is True


def test_intel_newer_rasdaemon_needs_no_fix():
    d = decide_backend(probe(rasdaemon=(None, "0.8.0-4")))
    assert d["backend"] == "rasdaemon" and d["buffer_percent_fix"] is False


@pytest.mark.parametrize("family", [0x17, 0x19])
def test_amd_zen_never_gets_mcelog_even_with_the_device(family):
    d = decide_backend(probe(vendor="AuthenticAMD", family=family, mcelog_device=True, tracefs="absent",
                             config={"TRACING": "n", "FTRACE": "n"}))
    assert d["backend"] == "none"
    assert "mcelog refuses family 0x17" in " ".join(d["rejected"]["mcelog"])
    assert "AMD family 0x%x" % family in d["reason"]


@pytest.mark.parametrize("family", [0x17, 0x19])
def test_amd_zen_with_tracefs_gets_rasdaemon(family):
    d = decide_backend(probe(vendor="AuthenticAMD", family=family, mcelog_device=True))
    assert d["backend"] == "rasdaemon"


def test_forced_mcelog_on_zen_is_refused():
    d = decide_backend(probe(vendor="AuthenticAMD", family=0x19, mcelog_device=True), preference="mcelog")
    assert d["backend"] == "none"
    assert d["reason"].startswith("none: requested mcelog is not usable here")


def test_older_amd_with_device_and_no_tracefs_gets_mcelog():
    d = decide_backend(probe(vendor="AuthenticAMD", family=0x15, mcelog_device=True, tracefs="absent",
                             config={"TRACING": "n", "FTRACE": "n"}))
    assert d["backend"] == "mcelog"
    assert "no tracefs" in d["reason"]


def test_intel_no_tracefs_with_mcelog_device_gets_mcelog():
    d = decide_backend(probe(mcelog_device=True, tracefs="absent", config={"TRACING": "n", "FTRACE": "n"}))
    assert d["backend"] == "mcelog"
    assert d["buffer_percent_fix"] is None


def test_intel_no_tracefs_no_device_gets_none_with_both_reasons():
    d = decide_backend(probe(mcelog_device=False, tracefs="absent", config={"TRACING": "n", "FTRACE": "n"}))
    assert d["backend"] == "none"
    assert "no tracefs" in d["reason"] and "no /dev/mcelog" in d["reason"]
    assert "CONFIG_X86_MCELOG_LEGACY" in d["reason"]  # Debian 12: the legacy device is not built


def test_mcelog_device_present_but_rasdaemon_still_preferred():
    d = decide_backend(probe(mcelog_device=True))
    assert d["backend"] == "rasdaemon"
    assert "mcelog" not in d["rejected"]


def test_tracefs_not_mounted_but_supported_is_rasdaemon_with_a_note():
    d = decide_backend(probe(tracefs="not_mounted"))
    assert d["backend"] == "rasdaemon"
    assert any("not mounted" in n for n in d["notes"])


def test_no_tracefs_dir_but_config_has_tracing_still_rasdaemon():
    d = decide_backend(probe(tracefs="absent"))
    assert d["backend"] == "rasdaemon"


def test_lockdown_confidentiality_rejects_rasdaemon():
    d = decide_backend(probe(lockdown="confidentiality", mcelog_device=True))
    assert d["backend"] == "mcelog"
    assert "confidentiality" in d["reason"]


def test_lockdown_integrity_is_only_a_note():
    d = decide_backend(probe(lockdown="integrity"))
    assert d["backend"] == "rasdaemon"
    assert any("integrity" in n for n in d["notes"])


def test_kernel_without_config_ras_rejects_rasdaemon():
    d = decide_backend(probe(config={"RAS": "n"}))
    assert d["backend"] == "none"
    assert "CONFIG_RAS" in d["reason"]


def test_no_rasdaemon_package_rejects_it():
    d = decide_backend(probe(rasdaemon=(None, None), mcelog=(None, None)))
    assert d["backend"] == "none"
    assert "no rasdaemon package" in d["reason"]


def test_unknown_package_availability_is_accepted_with_a_note():
    d = decide_backend(probe(rasdaemon=(None, None), known=False))
    assert d["backend"] == "rasdaemon"
    assert d["buffer_percent_fix"] is None
    assert any("availability unknown" in n for n in d["notes"])


def test_non_x86_never_gets_mcelog():
    d = decide_backend(probe(vendor=None, family=None, mcelog_device=True, tracefs="absent",
                             config={"TRACING": "n", "FTRACE": "n"}))
    assert d["backend"] == "none"
    assert "not an x86 CPU" in d["reason"]


def test_preference_none():
    assert decide_backend(probe(), preference="none")["backend"] == "none"


def test_bad_input_is_a_clear_error():
    with pytest.raises(ProbeError, match="preference"):
        decide_backend(probe(), preference="syslog")
    with pytest.raises(ProbeError, match="tracefs"):
        decide_backend(probe(tracefs="maybe"))
    with pytest.raises(ProbeError, match="mapping"):
        decide_backend(None)


def test_tracefs_state_and_start_blocker():
    assert tracefs_state(["/sys/kernel/tracing"], ["/sys/kernel/tracing"]) == "mounted"
    assert tracefs_state([], ["/sys/kernel/tracing"]) == "not_mounted"
    assert tracefs_state([], []) == "absent"
    assert start_blocker("rasdaemon", "mounted", "systemd-nspawn", "none") is None
    assert "container" in start_blocker("rasdaemon", "not_mounted", "systemd-nspawn", None)
    assert start_blocker("rasdaemon", "not_mounted", "", None) is None
    assert start_blocker("mcelog", "absent", "", None) is None


# --- the probe on this machine, with a real command runner ------------------------------------------------

def _run(argv):
    import subprocess

    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except OSError:
        return None, ""
    return proc.returncode, proc.stdout


def test_probe_on_this_machine_is_complete_and_decidable():
    from ansible_collections.pteguard.remediation.plugins.module_utils import hw_backend

    out = hw_backend.probe_and_decide("debian", _run)
    assert out["backend"] in ("rasdaemon", "mcelog", "none")
    assert out["reason"].startswith(out["backend"] + ":")
    probe = out["probe"]
    assert set(probe) >= {"cpu", "mcelog_device", "kernel_config", "tracefs", "lockdown", "container", "packages"}
    assert probe["tracefs"] in ("mounted", "not_mounted", "absent")
    assert set(probe["packages"]) == {"rasdaemon", "mcelog"}
    with pytest.raises(ProbeError, match="pkg_family"):
        hw_backend.probe_host("slackware", _run)
