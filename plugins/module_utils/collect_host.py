# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host a collector reads: run a command, find a binary, read a file.

Every collector core (``<evidence kind>_collect.py``) takes one of these and nothing else from its caller, so the
same code runs inside a module (ModuleHost: AnsibleModule.run_command, LC_ALL=C), on the controller, and in tests
that feed recorded tool outputs (a subclass overriding ``run``/``which``/``read_text``). File access goes through
the same object so a test can serve recorded procfs/sysfs text; the defaults read the real files.

Pure Python, no Ansible import (module_utils rule); 3.6-compatible syntax (runs on the target's python3).
"""

from __future__ import annotations

import glob
import os

ENV = {"LC_ALL": "C"}
MAX_READ = 8 * 1024 * 1024


class CollectError(Exception):
    """Bad collector arguments: the caller reports ``str(exc)`` (and ``details``) and stops."""

    def __init__(self, msg, **details):
        super(CollectError, self).__init__(msg)
        self.details = details


class CollectHost(object):
    """The interface. ``run`` and ``which`` must be provided; file access defaults to this machine's files."""

    def run(self, argv, binary=False):
        """Run an argv list (never a shell string) with LC_ALL=C: (rc, stdout, stderr).

        With ``binary`` stdout is bytes (logs: a stray byte must not stop the parse) and stderr still text.
        """
        raise NotImplementedError

    def which(self, name):
        """Absolute path of a binary, or None."""
        raise NotImplementedError

    def read_text(self, path, limit=MAX_READ):
        """A file's text (UTF-8, undecodable bytes replaced), at most ``limit`` bytes; raises OSError."""
        # Small reads: procfs sysctl files refuse one huge read() (ENOMEM for /proc/sys/kernel/tainted).
        chunks = []
        size = 0
        with open(path, "rb") as handle:
            while size < limit:
                chunk = handle.read(min(65536, limit - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        return b"".join(chunks).decode("utf-8", "replace")

    def exists(self, path):
        return os.path.exists(path)

    def isfile(self, path):
        return os.path.isfile(path)

    def listdir(self, path):
        """Sorted entries; raises OSError."""
        return sorted(os.listdir(path))

    def realpath(self, path):
        return os.path.realpath(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def glob(self, pattern):
        """Sorted paths matching a glob pattern."""
        return sorted(glob.glob(pattern))

    def uname(self):
        """(sysname, nodename, release, version, machine) of the host."""
        return tuple(os.uname())

    def free_bytes(self, path):
        """Bytes an unprivileged writer may still use on path's filesystem (df's Available); raises OSError."""
        stat = os.statvfs(path)
        return stat.f_bavail * stat.f_frsize


class ModuleHost(CollectHost):
    """A module's target: AnsibleModule.run_command with an argv list and LC_ALL=C (duck-typed: no import)."""

    def __init__(self, module):
        self.module = module

    def run(self, argv, binary=False):
        if not binary:
            return self.module.run_command(argv, environ_update=dict(ENV))
        rc, out, err = self.module.run_command(argv, environ_update=dict(ENV), encoding=None)
        return rc, out, (err or b"").decode("utf-8", "replace")

    def which(self, name):
        return self.module.get_bin_path(name)
