# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""`dkms status` output: which out-of-tree modules are built and installed for a kernel (pure, no Ansible import).

dkms 3.x prints `name/version, kernel, arch: state`, dkms 2.x `name, version, kernel, arch: state`; a module
added but never built for any kernel is `name/version: added` (2.x: `name, version: added`). A trailing
parenthesis carries warnings ("(WARNING! Diff between built and installed module!)", "(original_module exists)").
A module is ready for a kernel only when its line for that kernel says `installed`.
"""

from __future__ import annotations

import re

_LINE = re.compile(
    r"^(?P<name>[^\s,/:]+)(?:/|,\s*)(?P<version>[^\s,:]+)"
    r"(?:,\s*(?P<kernel>[^\s,:]+),\s*(?P<arch>[^\s,:]+))?"
    r":\s*(?P<state>[A-Za-z-]+)\s*(?:\((?P<note>.*)\))?\s*$")


def parse_dkms_status(text):
    """[{name, version, kernel, arch, state, note}] from `dkms status` (kernel and arch None for `added`)."""
    modules = []
    for line in (text or "").splitlines():
        m = _LINE.match(line.strip())
        if m:
            modules.append(dict((k, m.group(k)) for k in ("name", "version", "kernel", "arch", "state", "note")))
    return modules


def dkms_readiness(modules, kernel):
    """Per module (name/version): its state for `kernel`, and the modules not installed there.

    Returns {"modules": [{module, state, note}], "not_ready": ["name/version (state)"...]}; a module that
    `dkms status` lists only as added (no line for that kernel) is `not built`.
    """
    by_module = {}
    for mod in modules:
        key = "%s/%s" % (mod["name"], mod["version"])
        entry = by_module.setdefault(key, {"module": key, "state": "not built", "note": None})
        if mod["kernel"] == kernel:
            entry["state"], entry["note"] = mod["state"], mod["note"]
    not_ready = ["%s (%s)" % (k, v["state"]) for k, v in sorted(by_module.items()) if v["state"] != "installed"]
    return {"modules": [by_module[k] for k in sorted(by_module)], "not_ready": not_ready}
