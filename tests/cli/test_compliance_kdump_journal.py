"""kdump_ready and persistent_journal read the evidence the one round trip collects (kdump_collect, journal_storage).

The host is synthetic, labelled so: procfs/sysfs values, `systemctl show` answers in the form that tool prints them,
and free space; the report is built by the real report builder from a real kernel log and validated.
"""

from __future__ import annotations

import os

from pteguard import compliance_checks, fleet_view
from pteguard.analyze import analyze_sources
from pteguard.parsers.collect_host import CollectHost
from pteguard.parsers.journal_storage import journal_storage
from pteguard.parsers.kdump_collect import collect_kdump
from pteguard.parsers.report import host_report

LOGS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fixtures", "logs")
PTE = os.path.join(LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")


class _Host(CollectHost):
    """Synthetic host: files and directories in dicts, `systemctl` answers and free space recorded."""

    def __init__(self, files, dirs, kdump_active="active"):
        self.files, self.dirs, self.kdump_active = files, set(dirs), kdump_active

    def which(self, name):
        return "/usr/bin/" + name if name == "systemctl" else None

    def run(self, argv, binary=False):
        assert argv[1:] == ["show", "--property=Id,LoadState,ActiveState,UnitFileState", "kdump-tools.service",
                            "kdump.service"], argv
        return 0, ("Id=kdump-tools.service\nLoadState=loaded\nActiveState=%s\nUnitFileState=enabled\n\n"
                   "Id=kdump.service\nLoadState=not-found\nActiveState=inactive\nUnitFileState=\n"
                   % self.kdump_active), ""

    def free_bytes(self, path):
        return 2327404544

    def read_text(self, path, limit=1 << 20):
        if path not in self.files:
            raise OSError(2, "No such file or directory", path)
        return self.files[path][:limit]

    def exists(self, path):
        return path in self.files or path in self.dirs

    def isdir(self, path):
        return path in self.dirs

    def listdir(self, path):
        if path in self.dirs:
            return []
        raise OSError(2, "No such file or directory", path)


def _ready_host(**kwargs):
    files = {"/proc/cmdline": "root=/dev/vda crashkernel=192M\n", "/sys/kernel/kexec_crash_size": "201326592\n",
             "/sys/kernel/kexec_crash_loaded": "1\n", "/proc/meminfo": "MemTotal:  786432 kB\n",
             "/etc/systemd/journald.conf": "[Journal]\n#Storage=auto\n"}
    return _Host(files, {"/var/crash", "/run/systemd/system", "/var/log/journal"}, **kwargs)


def _report(host):
    source = analyze_sources([PTE])["sources"][0]
    kernel_log = {"kernel": {"release": "6.1.0-31-amd64", "version": "#1", "machine": "x86_64"},
                  "summary": source["summary"], "findings": source["findings"],
                  "sources": [{"name": "kern_log", "path": PTE, "status": "read"}]}
    extras = {"kdump": collect_kdump(host, max_vmcores=0), "journal": journal_storage(host)}
    report = host_report("h", kernel_log, extras=extras)
    assert not fleet_view.schema_errors(report)
    return report


def test_ready_kdump_and_persistent_journal_pass():
    report = _report(_ready_host())
    kdump = compliance_checks.CHECKS["kdump_ready"](report, {}, None)
    journal = compliance_checks.CHECKS["persistent_journal"](report, {}, None)
    assert kdump["result"] == "pass" and "crashkernel crashkernel=192M" in kdump["details"][0]
    assert journal["result"] == "pass" and "Storage=auto" in journal["message"]


def test_inactive_service_and_volatile_journal_fail_with_the_reason():
    host = _ready_host(kdump_active="failed")
    host.files["/etc/systemd/journald.conf"] = "[Journal]\nStorage=volatile\n"
    report = _report(host)
    kdump = compliance_checks.CHECKS["kdump_ready"](report, {}, None)
    journal = compliance_checks.CHECKS["persistent_journal"](report, {}, None)
    assert kdump["result"] == "fail" and "kdump-tools.service is failed" in kdump["message"]
    assert journal["result"] == "fail" and "Storage=volatile" in journal["message"]


def test_no_systemd_or_a_broken_reader_is_unknown_never_pass():
    host = _ready_host()
    host.dirs.discard("/run/systemd/system")
    report = _report(host)
    assert compliance_checks.CHECKS["persistent_journal"](report, {}, None)["result"] == "unknown"
    report["kdump"] = {"collector_error": "RuntimeError: boom"}
    outcome = compliance_checks.CHECKS["kdump_ready"](report, {}, None)
    assert outcome["result"] == "unknown" and "boom" in outcome["message"]
