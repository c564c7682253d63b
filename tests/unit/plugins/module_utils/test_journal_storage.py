"""Journal persistence (journal_storage) and the extra sections of the one round trip (host_evidence_collect).

The journald.conf texts are synthetic in the shape Debian 12's systemd 252 ships (every default commented out under
[Journal]); the drop-in precedence is journald.conf(5)'s. The directories are real ones made in tmp_path.
"""

from __future__ import annotations

from ansible_collections.pteguard.remediation.plugins.module_utils.host_evidence_collect import (
    collect_host_evidence, collector_gaps)
from ansible_collections.pteguard.remediation.plugins.module_utils.journal_storage import (
    journal_storage, storage_setting)
from ansible_collections.pteguard.remediation.plugins.module_utils.report import evidence_report

from .recorded_host import RecordedHost
from .test_kernel_log_collect import journal_host, nothing_else

DEBIAN_DEFAULT = "[Journal]\n#Storage=auto\n#Compress=yes\n#SystemMaxUse=\n"


class _Host(RecordedHost):
    """Synthetic: a host whose directories are a set (systemd running, /var/log/journal present or not)."""

    def __init__(self, dirs, files, dropins=None):
        super().__init__(files=files)
        self.dirs = set(dirs)
        self.dropins = dropins or {}

    def isdir(self, path):
        return path in self.dirs

    def listdir(self, path):
        if path in self.dropins:
            return sorted(self.dropins[path])
        raise OSError(2, "No such file or directory")


def test_storage_setting_reads_the_journal_section_only():
    assert storage_setting(DEBIAN_DEFAULT) is None
    assert storage_setting("[Journal]\nStorage=volatile\n[Other]\nStorage=persistent\n") == "volatile"
    assert storage_setting("[Journal]\n Storage = Persistent \n") == "persistent"


def test_auto_follows_var_log_journal():
    files = {"/etc/systemd/journald.conf": DEBIAN_DEFAULT}
    out = journal_storage(_Host({"/run/systemd/system", "/var/log/journal"}, files))
    assert out["persistent"] is True and out["storage"] == "auto" and out["storage_from"] == "default"
    out = journal_storage(_Host({"/run/systemd/system"}, files))
    assert out["persistent"] is False and "kept in /run only" in out["reason"]


def test_a_later_dropin_wins_and_etc_overrides_usr_lib():
    files = {"/etc/systemd/journald.conf": "[Journal]\nStorage=persistent\n",
             "/usr/lib/systemd/journald.conf.d/10-volatile.conf": "[Journal]\nStorage=volatile\n",
             "/etc/systemd/journald.conf.d/10-volatile.conf": "[Journal]\nStorage=persistent\n",
             "/run/systemd/journald.conf.d/50-none.conf": "[Journal]\nStorage=none\n"}
    dropins = {"/usr/lib/systemd/journald.conf.d": ["10-volatile.conf"],
               "/etc/systemd/journald.conf.d": ["10-volatile.conf"], "/run/systemd/journald.conf.d": ["50-none.conf"]}
    out = journal_storage(_Host({"/run/systemd/system", "/var/log/journal"}, files, dropins))
    assert out["persistent"] is False and out["storage"] == "none"
    assert out["storage_from"] == "/run/systemd/journald.conf.d/50-none.conf"


def test_without_systemd_persistence_is_unknown_not_false():
    out = journal_storage(_Host(set(), {}))
    assert out["persistent"] is None and "systemd is not running" in out["reason"]


def test_the_round_trip_carries_inventory_journal_and_kdump_into_the_report(tmp_path):
    out = collect_host_evidence(journal_host(), **nothing_else(tmp_path))
    assert set(out["inventory"]) == {"modules", "firmware", "dimms", "dimm_slots", "notes"}
    assert "DIMMs: dmidecode is not installed" in out["inventory"]["notes"]
    assert "persistent" in out["journal"] and out["kdump"]["ready"] is False  # no systemctl on the recorded host
    report = evidence_report("web1", out)
    assert report["inventory"] == out["inventory"] and report["kdump"] == out["kdump"]
    assert report["journal"] == out["journal"]


class _BrokenInventory(RecordedHost):
    """Synthetic: dmidecode's lookup raises an error no reader expects (stands for a bug in an extra reader)."""

    def which(self, name):
        if name == "dmidecode":
            raise RuntimeError("which exploded")
        return super().which(name)


def test_a_broken_extra_reader_loses_only_its_section(tmp_path):
    host = _BrokenInventory(bins=("journalctl",), outputs=journal_host().outputs)
    out = collect_host_evidence(host, **nothing_else(tmp_path))
    assert out["inventory"] == {"collector_error": "RuntimeError: which exploded"}
    assert out["kernel_log"]["summary"]["findings"] > 0 and collector_gaps(out) == []
