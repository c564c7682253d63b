"""A CollectHost that answers with recorded tool outputs and recorded procfs/sysfs text (tests only).

Commands are keyed by their argv with the binaries' directory dropped ("timeout 60 badblocks -sv ..."); an unrecorded
command fails the test, so every command a collector runs is one the test expected. Files not recorded are read
from disk (tmp_path trees).
"""

from __future__ import annotations

import os

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectHost

BIN_DIR = "/usr/sbin/"
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "tools")


def fixture(name):
    with open(os.path.join(FIXTURES, name), encoding="utf-8") as fh:
        return fh.read()


class RecordedHost(CollectHost):
    def __init__(self, bins=(), outputs=None, files=None, machine="x86_64", free=None):
        self.machine = machine
        self.free = dict(free or {})
        self.bins = set(bins)
        self.outputs = dict(outputs or {})
        self.files = dict(files or {})
        self.calls = []

    def which(self, name):
        return BIN_DIR + name if name in self.bins else None

    def run(self, argv, binary=False):
        assert isinstance(argv, list) and all(isinstance(a, str) for a in argv), "argv lists only"
        self.calls.append(argv)
        key = " ".join(a[len(BIN_DIR):] if a.startswith(BIN_DIR) else a for a in argv)
        assert key in self.outputs, "unrecorded command: %s" % key
        rc, out, err = self.outputs[key]
        if binary and isinstance(out, str):
            out = out.encode("utf-8", "surrogateescape")
        return rc, out, err

    def uname(self):
        return ("Linux", "recorded", "6.1.0-recorded", "#1 SMP recorded", self.machine)

    def free_bytes(self, path):
        if path in self.free:
            return self.free[path]
        return super().free_bytes(path)

    def read_text(self, path, limit=8 * 1024 * 1024):
        if path in self.files:
            return self.files[path][:limit]
        return super().read_text(path, limit)

    def exists(self, path):
        return path in self.files or super().exists(path)

    def isfile(self, path):
        return path in self.files or super().isfile(path)
