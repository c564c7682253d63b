"""Make the working tree importable as ansible_collections.pteguard.remediation.

ansible-test units already runs from such a tree; plain pytest runs from the
checkout, so a throwaway symlink farm gives the same import path without
testing a stale installed copy.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _link_collection() -> None:
    if os.path.basename(os.path.dirname(os.path.dirname(REPO))) == "ansible_collections":
        return
    farm = tempfile.mkdtemp(prefix="pteguard-pyroot-")
    atexit.register(shutil.rmtree, farm, True)
    ns = os.path.join(farm, "ansible_collections", "pteguard")
    os.makedirs(ns)
    os.symlink(REPO, os.path.join(ns, "remediation"))
    sys.path.insert(0, farm)


_link_collection()
