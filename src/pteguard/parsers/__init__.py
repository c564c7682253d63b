"""The collection's parsers (plugins/module_utils) for the CLI, under their one module name.

The CLI and the collection's filters share the same parser files. Loaded under two names
(pteguard.parsers.X and ansible_collections.pteguard.remediation.plugins.module_utils.X) they would be two copies of
every module in one process, with two distinct classes for each exception, so an error raised by one copy is missed
by an ``except`` naming the other. Here ``pteguard.parsers.X`` *is* the collection's module: importing it imports
the real module (from the collection installed with this CLI) and binds it under this name as well. Lazily, so the
CLI loads only the parsers it uses.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

REAL = "ansible_collections.pteguard.remediation.plugins.module_utils"


class _AliasFinder:
    """Meta-path finder and loader: pteguard.parsers.X -> the module REAL.X itself, never a second copy."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith(__name__ + "."):
            return None
        real = importlib.import_module(REAL + fullname[len(__name__):])
        spec = importlib.util.spec_from_loader(fullname, self, is_package=hasattr(real, "__path__"))
        spec.loader_state = (real, real.__spec__)
        return spec

    def create_module(self, spec):
        return spec.loader_state[0]

    def exec_module(self, module):
        # the import system has just pointed __spec__ at the alias: give the module its own back (reload, pickling)
        module.__spec__ = module.__spec__.loader_state[1]


try:
    importlib.import_module(REAL)
except ImportError as exc:
    raise ImportError("pteguard: the collection's parsers (%s) are not importable: %s; reinstall pteguard "
                      "(pip install pteguard, or scripts/setup in a checkout)" % (REAL, exc)) from exc

if not any(type(f).__name__ == "_AliasFinder" for f in sys.meta_path):
    sys.meta_path.insert(0, _AliasFinder())
