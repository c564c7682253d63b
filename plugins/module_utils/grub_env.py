# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse what decides GRUB's next boot: the environment block, /etc/default/grub and grub.cfg entries
(the Secure Boot state is secure_boot.py's).

- grubenv (``/boot/grub/grubenv``, written by grub-editenv/grub-set-default/grub-reboot): a 1024-byte
  block starting ``# GRUB Environment Block``, ``name=value`` lines, padded with ``#``.
  ``saved_entry`` is the default when GRUB_DEFAULT=saved; ``next_entry`` is the one-shot entry
  grub-reboot sets and GRUB's 00_header clears on the next boot. next_entry is honoured only by a
  grub.cfg made with GRUB_DEFAULT=saved (00_header emits the ``if [ "${next_entry}" ]`` block then).
- /etc/default/grub: shell assignments; only simple ``KEY=value`` / quoted values are read.
- grub.cfg: ``menuentry 'Title' ... {`` and ``submenu 'Title' ... {``; entries inside a submenu are
  addressed as ``Submenu>Entry`` by grub-reboot.

Pure Python, no Ansible import; 3.6-compatible syntax.
"""

from __future__ import annotations

import re
import shlex

GRUBENV_HEADER = "# GRUB Environment Block"
GRUBENV_SIZE = 1024


class GrubParseError(ValueError):
    """The input is not what the parser expects (not a grubenv block, not a grub.cfg)."""


def parse_grubenv(text):
    """grubenv content -> {name: value}. An empty or missing block is {}; anything else raises."""
    if not text:
        return {}
    if not text.startswith(GRUBENV_HEADER):
        raise GrubParseError("not a GRUB environment block (no %r header)" % GRUBENV_HEADER)
    env = {}
    for line in text.split("\n")[1:]:
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if sep:
            env[name] = value.replace("\\\n", "\n")
    return env


def parse_default_grub(text):
    """/etc/default/grub -> {KEY: value} for plain assignments (the last one wins, like the shell)."""
    values = {}
    for line in (text or "").splitlines():
        stripped = line.strip()
        m = re.match(r"^(?:export\s+)?([A-Z_][A-Z0-9_]*)=(.*)$", stripped)
        if not m:
            continue
        raw = m.group(2)
        try:
            parts = shlex.split(raw, comments=True)
        except ValueError:
            parts = [raw]
        values[m.group(1)] = " ".join(parts) if parts else ""
    return values


_ENTRY_RE = re.compile(r"^\s*(menuentry|submenu)\s+(?:'([^']*)'|\"([^\"]*)\"|(\S+))")


def parse_grub_cfg(text):
    """grub.cfg -> list of {title, path, kind, linux} in menu order (path is the grub-reboot name)."""
    entries = []
    stack = []  # (kind, title, depth at open)
    depth = 0
    current = None
    for line in (text or "").splitlines():
        m = _ENTRY_RE.match(line)
        if m:
            title = m.group(2) if m.group(2) is not None else (m.group(3) if m.group(3) is not None else m.group(4))
            parents = [t for k, t, _d in stack if k == "submenu"]
            kind = m.group(1)
            entry = {"title": title, "path": ">".join(parents + [title]), "kind": kind, "linux": None}
            if kind == "menuentry":
                entries.append(entry)
                current = entry
            stack.append((kind, title, depth))
        elif current is not None:
            lm = re.match(r"^\s*(linux|linux16|linuxefi)\s+(\S+)(.*)$", line)
            if lm and current["linux"] is None:
                current["linux"] = (lm.group(2) + lm.group(3)).strip()
        depth += line.count("{") - line.count("}")
        while stack and depth <= stack[-1][2]:
            kind, _t, _d = stack.pop()
            if kind == "menuentry":
                current = None
    return entries


def memtest_entries(entries):
    """The memtest86+ entries of a parsed grub.cfg: {'plain': entry or None, 'serial': entry or None}."""
    plain = serial = None
    for entry in entries:
        linux = entry.get("linux") or ""
        if "memtest" not in linux.lower() and "memtest" not in entry["title"].lower():
            continue
        if "console=" in linux or "serial" in entry["title"].lower():
            serial = serial or entry
        else:
            plain = plain or entry
    return {"plain": plain, "serial": serial}


def find_entry(entries, name):
    """The entry grub-reboot would pick for name (title, Submenu>Title path or index), else None."""
    for entry in entries:
        if name in (entry["title"], entry["path"]):
            return entry
    if str(name).isdigit() and int(name) < len(entries):
        return entries[int(name)]
    return None


def next_boot(default_grub, grubenv, entries):
    """What GRUB boots next: {entry, why, one_shot, default_is_saved} from the three parsed inputs."""
    default = default_grub.get("GRUB_DEFAULT", "0")
    saved_mode = default == "saved"
    nxt = grubenv.get("next_entry")
    if nxt and saved_mode:
        return {"entry": nxt, "why": "next_entry (one-shot, set by grub-reboot)", "one_shot": True,
                "default_is_saved": True}
    if saved_mode:
        return {"entry": grubenv.get("saved_entry", "0"), "why": "saved_entry (GRUB_DEFAULT=saved)",
                "one_shot": False, "default_is_saved": True}
    entry = find_entry(entries, default)
    return {"entry": entry["path"] if entry else default, "why": "GRUB_DEFAULT=%s" % default, "one_shot": False,
            "default_is_saved": False}
