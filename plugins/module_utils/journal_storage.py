# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether the systemd journal survives a reboot: the Storage= setting journald uses and /var/log/journal.

journald reads journald.conf, then the drop-ins of /usr/lib, /run and /etc journald.conf.d in file-name order (a
later one wins, /etc over /run over /usr/lib for the same name). Storage=persistent keeps the journal on disk,
volatile and none never do, auto (journald's default) keeps it only when /var/log/journal
exists. Without systemd there is no journal to judge: ``persistent`` is None and ``reason`` says so.

Pure Python, no Ansible import; 3.6-compatible syntax.
"""

from __future__ import annotations

import os

MAIN_CONF = "/etc/systemd/journald.conf"
DROPIN_DIRS = ("/usr/lib/systemd/journald.conf.d", "/run/systemd/journald.conf.d", "/etc/systemd/journald.conf.d")
JOURNAL_DIR = "/var/log/journal"
DEFAULT_STORAGE = "auto"


def storage_setting(text):
    """The last Storage= of the [Journal] section of one config text, or None."""
    value = None
    section = None
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
            continue
        key, sep, val = line.partition("=")
        if sep and section == "Journal" and key.strip() == "Storage":
            value = val.strip().lower() or None
    return value


def _config_files(host):
    """journald.conf then its drop-ins, in the order journald applies them."""
    dropins = {}
    for directory in DROPIN_DIRS:
        try:
            names = host.listdir(directory)
        except (IOError, OSError):
            continue
        for name in names:
            if name.endswith(".conf"):
                dropins[name] = os.path.join(directory, name)
    return [MAIN_CONF] + [dropins[name] for name in sorted(dropins)]


def journal_storage(host):
    """{persistent, storage, storage_from, journal_dir_exists, reason}."""
    systemd = host.isdir("/run/systemd/system")
    storage, origin = None, None
    for path in _config_files(host):
        try:
            text = host.read_text(path, limit=65536)
        except (IOError, OSError):
            continue
        value = storage_setting(text)
        if value:
            storage, origin = value, path
    exists = host.isdir(JOURNAL_DIR)
    effective = storage or DEFAULT_STORAGE
    out = {"storage": effective, "storage_from": origin or "default", "journal_dir_exists": exists,
           "persistent": None, "reason": None}
    if not systemd:
        out["reason"] = "systemd is not running on this host: no journal"
    elif effective == "persistent":
        out.update(persistent=True, reason="Storage=persistent")
    elif effective in ("volatile", "none"):
        out.update(persistent=False, reason="Storage=%s: the journal is lost at reboot" % effective)
    elif effective == "auto":
        out.update(persistent=exists, reason="Storage=auto and %s %s" % (
            JOURNAL_DIR, "exists" if exists else "does not exist: the journal is kept in /run only"))
    else:
        out["reason"] = "Storage=%s is not a value journald knows" % effective
    return out
