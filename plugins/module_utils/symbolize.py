# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Oops frames to source file and line, the way the kernel's scripts/faddr2line does it.

A frame is ``symbol+0xOFF/0xSIZE [module]``. Load addresses (KASLR, module placement) differ per boot, so the
frame is resolved against the symbol's own start in the ELF that holds the debug information: the symbol's value
and size come from the ELF's symbol table (``readelf -sW``), the printed size must equal the ELF's (otherwise the
ELF is another build), and ``addr2line -f -i -e ELF [-j SECTION] VALUE+OFF`` gives the function, file:line and
the inline chain. Relocatable objects (a module's .ko) keep each function in its own section's offset space, so
the section is passed, as faddr2line does for modules.

Debug information is looked for where distributions put it: the module's own .ko (``modinfo -n``), the
/usr/lib/debug tree (Debian ``linux-image-<abi>-dbg``, Ubuntu ``-dbgsym``: .ko files; RHEL ``kernel-debuginfo``:
.ko.debug files), vmlinux under /usr/lib/debug/boot or /usr/lib/debug/lib/modules/<release>, and the directories
the caller names (a delegate host holding symbols). The build-id of the ELF used is compared with the running
one's (/sys/module/<m>/notes, /sys/kernel/notes, or the ids the caller collected on the target): a mismatch is
said, and its lines are not reported as the answer.

Everything goes through a CollectHost (run/which/exists/isfile/listdir), so the same code runs in the module, on
the controller and in tests. Pure Python, no Ansible import; 3.6-compatible syntax.
"""

from __future__ import annotations

import os
import re
import struct

from .collect_host import CollectError

FRAME = re.compile(r"(?P<symbol>[A-Za-z_.$][\w.$]*)\+0x(?P<offset>[0-9a-f]+)/0x(?P<size>[0-9a-f]+)"
                   r"(?: \[(?P<module>[\w-]+)\])?")
MAX_FRAMES = 24
MAX_RECORDS = 64
MAX_WALK_FILES = 20000
# How much larger than the ELF's st_size the printed size may be (alignment padding before the next symbol).
KALLSYMS_PADDING = 0x100
KERNEL = "vmlinux"

# What provides kernel debug information, by os-release ID (and ID_LIKE).
PACKAGE_HINTS = (
    (("ubuntu",), "linux-image-unsigned-{release}-dbgsym (or linux-image-{release}-dbgsym) from the ddebs archive"),
    (("debian",), "linux-image-{release}-dbg"),
    (("rhel", "centos", "fedora", "rocky", "almalinux", "ol"), "kernel-debuginfo-{release} (debuginfo-install kernel)"),
    (("sles", "suse", "opensuse"), "kernel-default-debuginfo"),
)


def package_hint(release, os_ids=()):
    """The package that would carry vmlinux and in-tree module debug info, for a distribution."""
    ids = [str(i).lower() for i in os_ids or ()]
    for names, hint in PACKAGE_HINTS:
        if any(name in ids for name in names):
            return hint.format(release=release or "<release>")
    return ("the kernel's debug-symbol package (Debian linux-image-{r}-dbg, Ubuntu linux-image-{r}-dbgsym, "
            "RHEL kernel-debuginfo-{r})".format(r=release or "<release>"))


def os_ids(text):
    """ID and ID_LIKE values of an os-release text."""
    ids = []
    for line in (text or "").splitlines():
        key, _sep, value = line.partition("=")
        if key in ("ID", "ID_LIKE"):
            ids.extend(value.strip().strip('"').split())
    return ids


# -- frames ---------------------------------------------------------------------------------------

def frames_of(record):
    """The frames of one oops record: its RIP/PC first, then the located call-trace frames (deduplicated)."""
    if not isinstance(record, dict):
        raise CollectError("an oops record must be a dict (a finding), got %s" % type(record).__name__)
    frames = []
    symbol = record.get("symbol")
    if symbol:
        frames.append({"symbol": symbol, "offset": record.get("offset"), "size": record.get("size"),
                       "module": record.get("module") if record.get("module_from") in (None, "rip") else None,
                       "from": "rip"})
    texts = list(record.get("call_trace_at") or [])
    if isinstance(record.get("text"), str):
        texts.extend(record["text"].splitlines())
    for text in texts:
        for match in FRAME.finditer(str(text)):
            frame = {"symbol": match.group("symbol"), "offset": match.group("offset"), "size": match.group("size"),
                     "module": match.group("module"), "from": "call_trace"}
            if not any(_same(frame, seen) for seen in frames):
                frames.append(frame)
    if not frames:
        for name in record.get("call_trace") or ():
            parts = str(name).split()
            frames.append({"symbol": parts[0], "offset": None, "size": None,
                           "module": parts[1].strip("[]") if len(parts) > 1 else None, "from": "call_trace"})
    return frames[:MAX_FRAMES]


def _same(a, b):
    return all(a[k] == b[k] for k in ("symbol", "offset", "size", "module"))


def _int16(value):
    if value is None or value == "":
        return None
    text = str(value).lower()
    return int(text[2:] if text.startswith("0x") else text, 16)


# -- ELF reading through readelf ----------------------------------------------------------------------

class ElfInfo(object):
    """What readelf says about one ELF: type, sections, function symbols, build-id, whether it has DWARF."""

    def __init__(self, path, kind, sections, symbols, build_id):
        self.path = path
        self.kind = kind
        self.sections = sections
        self.symbols = symbols
        self.build_id = build_id
        self.has_debug = ".debug_info" in sections.values() or ".zdebug_info" in sections.values()


_SECTION = re.compile(r"^\s*\[\s*(\d+)\]\s+(\S+)")
_SYMBOL = re.compile(r"^\s*\d+:\s+([0-9a-f]+)\s+(\d+|0x[0-9a-f]+)\s+(FUNC|NOTYPE)\s+\w+\s+\w+\s+(\w+)\s+(\S+)")
_BUILD_ID = re.compile(r"Build ID:\s*([0-9a-f]+)")


def read_elf(host, readelf, path):
    """Parse ``readelf -hSsnW``; raises CollectError with readelf's message when it is not an ELF."""
    rc, out, err = host.run([readelf, "-h", "-S", "-s", "-n", "-W", path])
    if rc != 0 or "ELF Header" not in out:
        raise CollectError("%s: not a readable ELF file (%s)" % (path, (err or out).strip().splitlines()[-1:]))
    kind = "REL" if re.search(r"Type:\s+REL\b", out) else "EXEC"
    sections = {}
    symbols = {}
    for line in out.splitlines():
        match = _SECTION.match(line)
        if match is not None and not line.lstrip().startswith("[Nr]"):
            sections[match.group(1)] = match.group(2)
            continue
        match = _SYMBOL.match(line)
        if match is not None:
            value, size, _type, ndx, name = match.groups()
            size = int(size, 16) if size.startswith("0x") else int(size)
            symbols.setdefault(name.split("@", 1)[0], []).append((int(value, 16), size, ndx))
    build = _BUILD_ID.search(out)
    return ElfInfo(path, kind, sections, symbols, build.group(1) if build else None)


def notes_build_id(data):
    """The GNU build-id in a raw ELF notes blob (/sys/module/<m>/notes/.note.gnu.build-id, /sys/kernel/notes)."""
    pos = 0
    while pos + 12 <= len(data):
        namesz, descsz, ntype = struct.unpack_from("<III", data, pos)
        pos += 12
        name = data[pos:pos + namesz]
        pos += (namesz + 3) & ~3
        desc = data[pos:pos + descsz]
        pos += (descsz + 3) & ~3
        if ntype == 3 and name.rstrip(b"\0") == b"GNU":
            return "".join("%02x" % (b if isinstance(b, int) else ord(b)) for b in desc)
    return None


def loaded_build_ids(host, modules):
    """Build-ids of the running kernel and the loaded modules named, read from sysfs on this host."""
    ids = {}
    wanted = [(KERNEL, "/sys/kernel/notes")]
    wanted += [(m, "/sys/module/%s/notes/.note.gnu.build-id" % m.replace("-", "_")) for m in modules if m]
    for name, path in wanted:
        try:
            data = host.read_bytes(path) if hasattr(host, "read_bytes") else _read_bytes(path)
        except (OSError, IOError):
            continue
        found = notes_build_id(data)
        if found:
            ids[name] = found
    return ids


def _read_bytes(path, limit=65536):
    with open(path, "rb") as handle:
        return handle.read(limit)


# -- finding debug information ----------------------------------------------------------------------

def _module_names(module):
    base = module.replace("-", "_")
    names = []
    for stem in (module, base, base.replace("_", "-")):
        for suffix in (".ko", ".ko.debug"):
            if stem + suffix not in names:
                names.append(stem + suffix)
    return names


def _walk(host, root, names, limit=MAX_WALK_FILES):
    """Files under root whose base name is in names (bounded walk through the CollectHost)."""
    found = []
    stack = [root]
    seen = 0
    while stack and seen < limit:
        top = stack.pop()
        try:
            entries = host.listdir(top)
        except (OSError, IOError):
            continue
        for entry in entries:
            seen += 1
            path = os.path.join(top, entry)
            if entry in names and host.isfile(path):
                found.append(path)
            elif not host.isfile(path) and host.exists(path) and not os.path.islink(path):
                stack.append(path)
    return sorted(found)


def candidates(host, module, release, debug_dirs):
    """Paths that may hold the debug info of a module (or of vmlinux when module is None), best first."""
    paths = []
    if module is None:
        names = ["vmlinux-%s" % release, "vmlinux", "vmlinux-%s.debug" % release]
        fixed = ["/usr/lib/debug/boot/vmlinux-%s" % release, "/usr/lib/debug/lib/modules/%s/vmlinux" % release,
                 "/boot/vmlinux-%s" % release, "/lib/modules/%s/build/vmlinux" % release]
        for directory in debug_dirs:
            paths += [os.path.join(directory, name) for name in names]
        paths += fixed
        return [p for p in _unique(paths) if host.isfile(p)]
    names = _module_names(module)
    for directory in debug_dirs:
        paths += _walk(host, directory, names)
    paths += _walk(host, "/usr/lib/debug/lib/modules/%s" % release, names)
    modinfo = host.which("modinfo")
    if modinfo:
        rc, out, _err = host.run([modinfo, "-k", release, "-n", module])
        if rc == 0 and out.strip():
            paths.append(out.strip().splitlines()[0])
    paths += _walk(host, "/lib/modules/%s" % release, names)
    return [p for p in _unique(paths) if host.isfile(p)]


def _unique(items):
    out = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


# -- resolving ------------------------------------------------------------------------------------

def _addr2line(host, tool, elf, section, address):
    argv = [tool, "-f", "-i", "-e", elf.path]
    if elf.kind == "REL" and section:
        argv += ["-j", section]
    argv.append("0x%x" % address)
    rc, out, err = host.run(argv)
    if rc != 0:
        raise CollectError("addr2line failed on %s: %s" % (elf.path, err.strip()[:200]))
    lines = out.strip().splitlines()
    chain = []
    for function, where in zip(lines[0::2], lines[1::2]):
        filename, _sep, line = where.rpartition(":")
        line = line.split(" ", 1)[0]
        chain.append({"function": function, "file": filename if filename != "??" else None,
                      "line": int(line) if line.isdigit() and line != "0" else None})
    return chain


def resolve_frame(host, tools, elf, frame):
    """One frame against one ELF: the symbol's own start + offset, checked against the printed size."""
    result = {}
    offset = _int16(frame.get("offset"))
    size = _int16(frame.get("size"))
    if offset is None or size is None:
        result.update(status="no_offset", message="the trace gives no offset/size for %s (truncated or old "
                                                  "format): no line can be resolved" % frame["symbol"])
        return result
    entries = elf.symbols.get(frame["symbol"]) or []
    if not entries:
        result.update(status="symbol_not_found", message="%s is not in the symbol table of %s"
                      % (frame["symbol"], elf.path))
        return result
    if offset >= size:
        result.update(status="bad_offset",
                      message="offset 0x%x is beyond %s's size 0x%x" % (offset, frame["symbol"], size))
        return result
    sized = [e for e in entries if e[1] == size]
    if not sized:
        # kallsyms prints the distance to the next symbol in memory, padding included: a module function followed
        # by alignment (or by another section) prints a little more than its ELF size, never less
        sized = [e for e in entries if e[1] < size <= e[1] + KALLSYMS_PADDING and offset < e[1]]
        if sized:
            result["size_note"] = ("the trace's size 0x%x is the ELF's 0x%x plus padding up to the next symbol "
                                   "(kallsyms counts it)" % (size, sized[0][1]))
    if not sized:
        result.update(status="size_mismatch", message="%s is 0x%x bytes in %s but 0x%x in the trace: the ELF is "
                      "another build" % (frame["symbol"], entries[0][1], elf.path, size))
        return result
    value, _size, ndx = sized[0]
    section = elf.sections.get(ndx)
    chain = _addr2line(host, tools["addr2line"], elf, section, value + offset)
    if not chain or chain[0]["file"] is None:
        result.update(status="no_line_info",
                      message="%s has no line information for %s" % (elf.path, frame["symbol"]))
        return result
    # addr2line -i prints the innermost (possibly inlined) function first, the symbol's own function last
    result.update(status="resolved", file=chain[0]["file"], line=chain[0]["line"], function=chain[-1]["function"],
                  section=section)
    if len(chain) > 1:
        result["inline_chain"] = chain
    return result


def _elf_for(host, tools, module, release, debug_dirs, cache):
    """(ElfInfo with debug info, [notes]) for a module or vmlinux; ElfInfo None when none was found."""
    key = module or KERNEL
    if key in cache:
        return cache[key]
    notes = []
    best = None
    for path in candidates(host, module, release, debug_dirs):
        if path.endswith((".xz", ".zst", ".gz")):
            notes.append("%s is compressed; its debug info cannot be read in place" % path)
            continue
        try:
            elf = read_elf(host, tools["readelf"], path)
        except CollectError as exc:
            notes.append(str(exc))
            continue
        if elf.has_debug:
            best = elf
            break
        notes.append("%s has no debug info (stripped)" % path)
    cache[key] = (best, notes)
    return cache[key]


def symbolize(host, records, release, debug_dirs=(), build_ids=None, os_release_ids=()):
    """Resolve every frame of every oops record. Returns {"records": [...], "missing": [...], "summary": {...}}."""
    if not release or not re.match(r"^[\w.+~-]+$", str(release)):
        raise CollectError("release must be a kernel release such as 6.1.0-50-amd64, got %r" % (release,))
    if not isinstance(records, (list, tuple)):
        raise CollectError("oopses must be a list of oops records (findings)")
    tools = {"readelf": host.which("readelf") or host.which("eu-readelf"), "addr2line": host.which("addr2line")}
    if not tools["readelf"] or not tools["addr2line"]:
        raise CollectError("readelf and addr2line (binutils) are needed on the host that symbolizes; install "
                           "binutils there or symbolize on a delegate host that has it")
    build_ids = dict(build_ids or {})
    cache = {}
    out_records = []
    missing = {}
    counts = {}
    for index, record in enumerate(records[:MAX_RECORDS]):
        frames = []
        for frame in frames_of(record):
            resolved = dict(frame)
            elf, notes = _elf_for(host, tools, frame["module"], release, list(debug_dirs), cache)
            owner = frame["module"] or KERNEL
            if elf is None:
                resolved.update(status="no_debug_info", message=_missing_message(owner, release, os_release_ids,
                                                                                 notes))
                missing[owner] = resolved["message"]
            else:
                resolved["elf"] = elf.path
                resolved["build_id"] = elf.build_id
                expected = build_ids.get(owner) or build_ids.get(owner.replace("-", "_"))
                if expected and elf.build_id and expected.lower() != elf.build_id.lower():
                    resolved.update(status="build_id_mismatch", running_build_id=expected,
                                    message="%s has build-id %s but the running %s has %s: symbols for another "
                                            "build, not used" % (elf.path, elf.build_id, owner, expected))
                else:
                    resolved["build_id_verified"] = bool(expected and elf.build_id)
                    resolved.update(resolve_frame(host, tools, elf, frame))
            counts[resolved["status"]] = counts.get(resolved["status"], 0) + 1
            frames.append(resolved)
        entry = {"index": index, "frames": frames}
        for key in ("line", "signature", "message", "time"):
            if isinstance(record, dict) and record.get(key) is not None:
                entry["oops_" + key] = record[key]
        if not frames:
            entry["message"] = "the record names no symbol+offset/size frame: nothing to symbolize"
        first = next((f for f in frames if f["status"] == "resolved"), None)
        if first is not None:
            entry["location"] = "%s:%s" % (first["file"], first["line"])
            entry["function"] = first.get("function")
        out_records.append(entry)
    return {"records": out_records, "release": release,
            "missing": [{"object": k, "message": v} for k, v in sorted(missing.items())],
            "summary": dict(sorted(counts.items()))}


def _missing_message(owner, release, ids, notes):
    if owner == KERNEL:
        text = "no vmlinux with debug info for %s; install %s, or symbolize on a delegate host that has it" % (
            release, package_hint(release, ids))
    else:
        text = ("no debug info for module %s (%s): in-tree modules come with %s; an out-of-tree module needs its own "
                "unstripped .ko (pass its directory in debug_dirs)" % (owner, release, package_hint(release, ids)))
    if notes:
        text += "; looked at: " + "; ".join(notes[:4])
    return text
