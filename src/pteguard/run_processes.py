"""Find and stop every process one run started, wherever it went.

ansible-playbook's workers call setsid() and ssh's ControlPersist masters detach, so neither the run's process group
nor its parent chain finds them all. Each run instead exports a marker variable (PTEGUARD_RUN=<run id>) that every
descendant inherits: /proc/<pid>/environ of a process of ours names it.
"""

from __future__ import annotations

import os
import signal
import time

MARKER = "PTEGUARD_RUN"


def marked(run_id):
    """Pids of this user's processes whose environment carries PTEGUARD_RUN=<run_id> (never this process)."""
    needle = ("%s=%s" % (MARKER, run_id)).encode()
    me = os.getpid()
    pids = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return pids
    for entry in entries:
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open("/proc/%s/environ" % entry, "rb") as handle:
                environ = handle.read()
        except OSError:  # gone, or another user's
            continue
        if needle in environ.split(b"\0"):
            pids.append(int(entry))
    return pids


def stop(run_id, grace=3.0):
    """SIGTERM every process of the run, SIGKILL what is left after `grace` seconds; return how many were found."""
    found = set()
    deadline = time.monotonic() + grace
    sig = signal.SIGTERM
    for _round in range(200):  # bounded: grace / 0.05 s rounds, then one SIGKILL round and a last look
        pids = marked(run_id)
        if not pids:
            break
        found.update(pids)
        for pid in pids:
            try:
                os.kill(pid, sig)
            except (ProcessLookupError, PermissionError):
                pass
        if sig == signal.SIGKILL:
            time.sleep(0.1)
            break
        if time.monotonic() >= deadline:
            sig = signal.SIGKILL
        time.sleep(0.05)
    return len(found)
