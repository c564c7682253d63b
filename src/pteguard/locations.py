"""Where the CLI finds the pteguard.remediation collection and its default inventory.

The collection that runs the playbooks, first match wins:

1. ``--collections-path``;
2. ``$PTEGUARD_COLLECTIONS_PATH``;
3. where Ansible itself looks: its configured collections paths (``ansible.cfg``, ``$ANSIBLE_COLLECTIONS_PATH``,
   ``$ANSIBLE_HOME``), then ``sys.path`` unless ``collections_scan_sys_path`` is off;
4. the copy installed with this CLI. A pteguard wheel installs the collection under
   ``site-packages/ansible_collections/pteguard/remediation``, where step 3 normally finds it already.

The default inventory is ``inventories/local`` (this machine, local connection) of the copy installed with this CLI:
in a wheel the one under site-packages, in a checkout's editable install the checkout's own.

Nothing here climbs folders from this file: the installed copy is found through Python's import system.
"""

from __future__ import annotations

import importlib.util
import os
import sys

COLLECTION = "ansible_collections.pteguard.remediation"
_COLLECTION_DIR = os.path.join("ansible_collections", "pteguard", "remediation")


class LocationError(Exception):
    """The collection could not be found; the message says where it was looked for."""


def installed_copy() -> str | None:
    """The folder of the collection installed with this CLI (the checkout itself for an editable install)."""
    try:
        spec = importlib.util.find_spec(COLLECTION)
    except (ImportError, ValueError):
        return None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if os.path.isfile(os.path.join(folder, "galaxy.yml")) or os.path.isfile(os.path.join(folder, "MANIFEST.json")):
            return os.path.abspath(folder)
    return None


def ansible_search_path() -> list[str]:
    """The folders Ansible would search for collections, in its order, from its own configuration."""
    from ansible import constants

    paths = list(constants.COLLECTIONS_PATHS or [])
    if constants.COLLECTIONS_SCAN_SYS_PATH:
        paths += sys.path
    return paths


def _has_collection(path: str) -> bool:
    return bool(path) and os.path.isdir(os.path.join(path, _COLLECTION_DIR))


def collections_path(explicit: str | None = None) -> str:
    """The collections folder (the one holding ansible_collections/) to give Ansible; LocationError if none."""
    tried = []
    for label, paths in (("--collections-path", [explicit] if explicit else []),
                         ("PTEGUARD_COLLECTIONS_PATH", _env_paths("PTEGUARD_COLLECTIONS_PATH"))):
        for path in paths:
            if _has_collection(path):
                return os.path.abspath(path)
            tried.append("%s %s" % (label, path))
        if paths:  # an explicit choice that is wrong is an error, not a reason to pick another copy
            raise LocationError("pteguard.remediation is not installed in %s" % " or ".join(tried))
    for path in ansible_search_path():
        if _has_collection(path):
            return os.path.abspath(path)
    own = installed_copy()
    if own and own.endswith(os.sep + _COLLECTION_DIR):
        return os.path.dirname(os.path.dirname(os.path.dirname(own)))
    raise LocationError("the pteguard.remediation collection was not found where Ansible looks (collections_path in "
                        "ansible.cfg, ANSIBLE_COLLECTIONS_PATH, sys.path) nor installed with this CLI; run "
                        "scripts/setup in a checkout, or pass --collections-path")


def _env_paths(name: str) -> list[str]:
    return [p for p in os.environ.get(name, "").split(os.pathsep) if p]


def default_inventory() -> str:
    """inventories/local of the collection installed with this CLI (a path that may not exist when none is)."""
    own = installed_copy()
    return os.path.join(own or os.curdir, "inventories", "local")
