"""Run directories (ansible-runner's private data dirs and the per-run report dirs): creation and retention.

Each run adds one directory under .pteguard/runs and one under reports/. Only directories pteguard made (a run-id
name and the marker file inside) are ever pruned, never the one `latest` points at, never the current run.
"""

from __future__ import annotations

import datetime
import os
import re
import shutil

MARKER_FILE = ".pteguard-run"
_RUN_NAME = re.compile(r"^\d{8}T\d{6}Z-\d+$")


def run_id():
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return "%s-%d" % (stamp, os.getpid())


def make(base, name):
    """base/name, new, with the marker that lets a later run prune it."""
    path = os.path.join(base, name)
    os.makedirs(path, mode=0o750)
    with open(os.path.join(path, MARKER_FILE), "w") as handle:
        handle.write("made by pteguard; pruned by --keep-runs\n")
    return path


def prune(base, keep, current):
    """Remove all but the newest `keep` pteguard run dirs under base (0 keeps everything); return the removed."""
    if keep <= 0 or not os.path.isdir(base):
        return []
    protected = {os.path.basename(current)}
    latest = os.path.join(base, "latest")
    if os.path.islink(latest):
        protected.add(os.path.basename(os.path.normpath(os.readlink(latest))))
    runs = sorted(name for name in os.listdir(base)
                  if _RUN_NAME.match(name) and not os.path.islink(os.path.join(base, name))
                  and os.path.isfile(os.path.join(base, name, MARKER_FILE)))
    removed = []
    for name in runs[:max(len(runs) - keep, 0)]:
        if name in protected:
            continue
        shutil.rmtree(os.path.join(base, name), ignore_errors=True)
        removed.append(name)
    return removed


def update_latest(base, target):
    """base/latest -> target (a symlink; left alone when something else already has that name)."""
    link = os.path.join(base, "latest")
    try:
        if os.path.islink(link):
            os.unlink(link)
        if not os.path.exists(link):
            os.symlink(os.path.basename(target), link)
    except OSError:
        pass
