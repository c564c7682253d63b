"""oops_symbolize's core on ELF files with DWARF that the tests build themselves (gcc + ld, like a .ko and vmlinux).

The source is tests/fixtures/elf/ptcorrupt.c; its line numbers are asserted here. The tools run for real
(readelf, addr2line) through a CollectHost that runs argv lists on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from ansible_collections.pteguard.remediation.plugins.module_utils.collect_host import CollectError, CollectHost
from ansible_collections.pteguard.remediation.plugins.module_utils.log_scan import scan_lines
from ansible_collections.pteguard.remediation.plugins.module_utils.symbolize import (
    frames_of, notes_build_id, package_hint, symbolize,
)

SOURCE = os.path.normpath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "fixtures", "elf", "ptcorrupt.c"))
RELEASE = "6.1.0-99-test"

pytestmark = pytest.mark.skipif(not (shutil.which("gcc") and shutil.which("ld") and shutil.which("addr2line")),
                                reason="needs gcc and binutils")


class LocalHost(CollectHost):
    """This machine, with every search root except the test's own directories hidden (no real /usr/lib/debug)."""

    def __init__(self, allowed):
        self.allowed = allowed
        self.argvs = []

    def run(self, argv):
        self.argvs.append(list(argv))
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                              env=dict(os.environ, LC_ALL="C"))
        return proc.returncode, proc.stdout, proc.stderr

    def which(self, name):
        return None if name == "modinfo" else shutil.which(name)

    def _ok(self, path):
        return any(str(path).startswith(root) for root in self.allowed)

    def exists(self, path):
        return self._ok(path) and os.path.exists(path)

    def isfile(self, path):
        return self._ok(path) and os.path.isfile(path)

    def listdir(self, path):
        if not self._ok(path):
            raise OSError("hidden by the test")
        return sorted(os.listdir(path))


def _run(argv):
    subprocess.run(argv, check=True, timeout=120, capture_output=True)


def build_module(directory, variant=2, strip=False, name="ptcorrupt.ko"):
    """A relocatable object like a kernel module: one section per function, build-id note, DWARF."""
    obj = os.path.join(directory, "p%d.o" % variant)
    _run(["gcc", "-g", "-O2", "-DVARIANT=%d" % variant, "-ffunction-sections", "-c", SOURCE, "-o", obj])
    out = os.path.join(directory, name)
    _run(["ld", "-r", "--build-id=sha1", obj, "-o", out])
    if strip:
        _run(["strip", "--strip-debug", out])
    return out


def build_vmlinux(directory):
    out = os.path.join(directory, "vmlinux-" + RELEASE)
    _run(["gcc", "-g", "-O2", "-DVARIANT=2", "-DWITH_START", "-nostdlib", "-static", "-Wl,--build-id=sha1",
          SOURCE, "-o", out])
    return out


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, timeout=30, check=True).stdout
    return out.split("Build ID:")[1].split()[0]


def _sym(name, path):
    out = subprocess.run(["nm", "-S", path], capture_output=True, text=True, timeout=30, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts[-1] == name:
            return int(parts[1], 16)
    raise AssertionError(name)


def oops(module="ptcorrupt", size=None, offset=0x2, trace=True, directory=None):
    """A real-format oops record as the scanner makes it from kernel text."""
    size = size if size is not None else _sym("cmd_write", os.path.join(directory, "ptcorrupt.ko"))
    mod = " [%s]" % module if module else ""
    lines = [
        "[  100.000001] BUG: unable to handle page fault for address: ffffc90000a3d000",
        "[  100.000002] #PF: supervisor write access in kernel mode",
        "[  100.000003] Oops: 0002 [#1] PREEMPT SMP NOPTI",
        "[  100.000004] CPU: 0 PID: 4242 Comm: python3 Tainted: G           OE      6.1.0-99-test #1",
        "[  100.000005] RIP: 0010:cmd_write+0x%x/0x%x%s" % (offset, size, mod),
    ]
    if trace:
        lines += ["[  100.000006] Call Trace:", "[  100.000007]  <TASK>",
                  "[  100.000008]  cmd_read+0x0/0x6%s" % mod,
                  "[  100.000009]  vfs_write+0xc9/0x3d0",
                  "[  100.000010]  </TASK>"]
    lines.append("[  100.000011] ---[ end trace 0000000000000000 ]---")
    (finding,) = scan_lines(lines)["findings"]
    return finding


def test_module_frame_resolves_to_the_inlined_line_and_its_caller(tmp_path):
    directory = str(tmp_path)
    ko = build_module(directory)
    host = LocalHost([directory])
    result = symbolize(host, [oops(directory=directory)], RELEASE, debug_dirs=[directory],
                       build_ids={"ptcorrupt": build_id(ko)})
    (record,) = result["records"]
    rip = record["frames"][0]
    assert rip["status"] == "resolved" and rip["build_id_verified"] is True
    assert (os.path.basename(rip["file"]), rip["line"]) == ("ptcorrupt.c", 9)
    assert rip["function"] == "cmd_write" and rip["section"] == ".text.cmd_write"
    assert [(c["function"], c["line"]) for c in rip["inline_chain"]] == [("poke", 9), ("cmd_write", 16)]
    assert record["location"].endswith("ptcorrupt.c:9")
    # the call-trace frame in the same module, in its own section
    read = [f for f in record["frames"] if f["symbol"] == "cmd_read"][0]
    assert (read["status"], read["line"]) == ("resolved", 23)
    # -j: a relocatable object is resolved inside the symbol's section, as scripts/faddr2line does for modules
    assert any("-j" in argv and ".text.cmd_read" in argv for argv in host.argvs)


def test_the_frame_outside_any_module_needs_vmlinux_and_says_which_package(tmp_path):
    directory = str(tmp_path)
    build_module(directory)
    result = symbolize(LocalHost([directory]), [oops(directory=directory)], RELEASE, debug_dirs=[directory],
                       os_release_ids=["debian"])
    vfs = [f for f in result["records"][0]["frames"] if f["symbol"] == "vfs_write"][0]
    assert vfs["status"] == "no_debug_info"
    assert "linux-image-%s-dbg" % RELEASE in vfs["message"]
    assert result["missing"][0]["object"] == "vmlinux"
    assert "kernel-debuginfo" in package_hint(RELEASE, ["rhel", "fedora"])
    assert "dbgsym" in package_hint(RELEASE, ["ubuntu", "debian"])


def test_oops_with_no_module_resolves_against_vmlinux(tmp_path):
    directory = str(tmp_path)
    vmlinux = build_vmlinux(directory)
    size = _sym("cmd_write", vmlinux)
    record = {"symbol": "cmd_write", "offset": "2", "size": "%x" % size, "module_from": None}
    result = symbolize(LocalHost([directory]), [record], RELEASE, debug_dirs=[directory],
                       build_ids={"vmlinux": build_id(vmlinux)})
    frame = result["records"][0]["frames"][0]
    assert frame["elf"] == vmlinux and frame["status"] == "resolved"
    assert (frame["line"], frame["function"]) == (9, "cmd_write")
    assert "section" in frame


def test_symbols_of_another_build_are_refused_by_build_id(tmp_path):
    running = tmp_path / "running"
    delegate = tmp_path / "delegate"
    running.mkdir()
    delegate.mkdir()
    running_ko = build_module(str(running), variant=2)
    build_module(str(delegate), variant=3)  # same module, another build: other build-id
    result = symbolize(LocalHost([str(delegate)]), [oops(directory=str(running))], RELEASE,
                       debug_dirs=[str(delegate)], build_ids={"ptcorrupt": build_id(running_ko)})
    rip = result["records"][0]["frames"][0]
    assert rip["status"] == "build_id_mismatch"
    assert "another build" in rip["message"] and "line" not in rip
    assert result["records"][0].get("location") is None


def test_a_stripped_module_says_it_has_no_debug_info(tmp_path):
    directory = str(tmp_path)
    build_module(directory, strip=True)
    result = symbolize(LocalHost([directory]), [oops(directory=directory)], RELEASE, debug_dirs=[directory])
    rip = result["records"][0]["frames"][0]
    assert rip["status"] == "no_debug_info"
    assert "stripped" in rip["message"] and "out-of-tree" in rip["message"]


def test_a_size_that_differs_from_the_elf_is_another_build(tmp_path):
    directory = str(tmp_path)
    ko = build_module(directory)
    result = symbolize(LocalHost([directory]), [oops(directory=directory, size=0x400)], RELEASE,
                       debug_dirs=[directory])
    rip = result["records"][0]["frames"][0]
    assert rip["status"] == "size_mismatch" and ko in rip["message"]
    assert rip["build_id_verified"] is False  # nothing to compare with: said, not assumed


def test_a_size_with_the_padding_kallsyms_counts_still_resolves(tmp_path):
    # seen on the lab guest: pteguard_ctl_write+0x2a6/0x3d2 [pteguard_testmod] while the .ko's st_size is 0x3a2
    directory = str(tmp_path)
    ko = build_module(directory)
    size = _sym("cmd_write", ko) + 0x30
    result = symbolize(LocalHost([directory]), [oops(directory=directory, size=size)], RELEASE,
                       debug_dirs=[directory])
    rip = result["records"][0]["frames"][0]
    assert rip["status"] == "resolved" and rip["line"] == 9
    assert "padding" in rip["size_note"]


def test_a_truncated_trace_resolves_what_it_has_and_says_what_it_lacks(tmp_path):
    directory = str(tmp_path)
    build_module(directory)
    record = oops(directory=directory, trace=False)
    record.pop("offset")
    record["call_trace"] = ["cmd_read [ptcorrupt]"]
    result = symbolize(LocalHost([directory]), [record, {"message": "no frames at all"}], RELEASE,
                       debug_dirs=[directory])
    first, second = result["records"]
    assert first["frames"][0]["status"] == "no_offset"
    assert "truncated" in first["frames"][0]["message"]
    assert second["frames"] == [] and "nothing to symbolize" in second["message"]


def test_raw_oops_text_is_accepted_too(tmp_path):
    directory = str(tmp_path)
    ko = build_module(directory)
    size = _sym("cmd_write", ko)
    text = "RIP: 0010:cmd_write+0xb/0x%x [ptcorrupt]\n cmd_read+0x0/0x6 [ptcorrupt]\n" % size
    frames = frames_of({"text": text})
    assert [f["symbol"] for f in frames] == ["cmd_write", "cmd_read"]
    result = symbolize(LocalHost([directory]), [{"text": text}], RELEASE, debug_dirs=[directory])
    assert result["records"][0]["frames"][0]["line"] == 18


@pytest.mark.parametrize("release, records, words", [
    ("", [], "release"),
    ("6.1; rm -rf /", [], "release"),
    (RELEASE, {"not": "a list"}, "list"),
    (RELEASE, ["text, not a dict"], "dict"),
])
def test_bad_input_is_one_clear_error(tmp_path, release, records, words):
    with pytest.raises(CollectError) as info:
        symbolize(LocalHost([str(tmp_path)]), records, release)
    assert words in str(info.value)


def test_missing_binutils_is_said(tmp_path):
    class NoTools(LocalHost):
        def which(self, name):
            return None
    with pytest.raises(CollectError, match="binutils"):
        symbolize(NoTools([str(tmp_path)]), [], RELEASE)


def test_sysfs_notes_blob_gives_the_build_id(tmp_path):
    ko = build_module(str(tmp_path))
    blob = str(tmp_path / "note.bin")
    _run(["objcopy", "-O", "binary", "--only-section=.note.gnu.build-id", ko, blob])
    with open(blob, "rb") as handle:
        assert notes_build_id(handle.read()) == build_id(ko)
    assert notes_build_id(b"") is None
