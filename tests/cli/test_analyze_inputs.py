"""Every input a user hands `pteguard analyze`: compressed and UTF-16 files made by the real tools, pipes, FIFOs,
`<(cmd)`, devices, damaged archives, NUL runs, hostile text, a closed stdin or stdout. Real console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import pathlib
import sys
import tempfile
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOGS = os.path.join(ROOT, "tests", "fixtures", "logs")
PTEGUARD = os.path.join(os.path.dirname(sys.executable), "pteguard")
FIXTURE = os.path.join(LOGS, "corpus-045.log")  # SCSI medium error on sdb: 3 findings
ENGINES = ["grep", "python"]


def run(*args, stdin=None, env=None):
    return subprocess.run([PTEGUARD] + list(args), input=stdin, capture_output=True, timeout=120, check=False,
                          env=env)


def sources_of(proc):
    assert b"Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)["sources"]


def plain_findings():
    (source,) = sources_of(run("analyze", "--format", "json", "--engine", "python", FIXTURE))
    assert len(source["findings"]) == 3
    return source["findings"]


def tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip("%s is not installed" % name)
    return path


def pack(tmp_path, argv, name, data=None):
    """Compress the fixture (or data) with the real tool; the file name says nothing about the format."""
    if data is None:
        with open(FIXTURE, "rb") as handle:
            data = handle.read()
    out = tmp_path / name
    out.write_bytes(subprocess.run(argv, input=data, capture_output=True, check=True, timeout=60).stdout)
    return out


COMPRESSORS = {
    "gzip": ["gzip", "-c"],
    "xz": ["xz", "-c"],
    "bzip2": ["bzip2", "-c"],
    "zstd": ["zstd", "-q", "-c"],
    "utf-16-le": ["iconv", "-f", "UTF-8", "-t", "UTF-16"],  # glibc writes a BOM, little-endian here
    "utf-32-le": ["iconv", "-f", "UTF-8", "-t", "UTF-32"],
}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fmt", sorted(COMPRESSORS))
def test_each_format_is_read_by_its_magic_bytes(tmp_path, fmt, engine):
    argv = COMPRESSORS[fmt]
    tool(argv[0])
    packed = pack(tmp_path, argv, "kern.log")  # no telling suffix
    (source,) = sources_of(run("analyze", "--format", "json", "--engine", engine, str(packed)))
    assert source["format"] == fmt and source["status"] == "read"
    assert source["findings"] == plain_findings()


def test_utf16_big_endian_by_bom(tmp_path):
    with open(FIXTURE, "rb") as handle:
        text = handle.read().decode("utf-8")
    path = tmp_path / "console.txt"
    path.write_bytes(b"\xfe\xff" + text.encode("utf-16-be"))
    (source,) = sources_of(run("analyze", "--format", "json", str(path)))
    assert source["format"] == "utf-16-be" and source["findings"] == plain_findings()


@pytest.mark.parametrize("fmt", ["gzip", "xz", "zstd"])
def test_compressed_data_piped_to_stdin(tmp_path, fmt):
    packed = pack(tmp_path, [tool(COMPRESSORS[fmt][0])] + COMPRESSORS[fmt][1:], "x")
    proc = run("analyze", "--format", "json", "-", stdin=packed.read_bytes())
    assert proc.returncode == 1, proc.stderr
    (source,) = sources_of(proc)
    assert source["format"] == fmt and source["findings"] == plain_findings()


def test_dev_stdin_is_our_stdin(tmp_path):
    packed = pack(tmp_path, [tool("gzip"), "-c"], "x")
    with open(packed, "rb") as handle:
        proc = subprocess.run([PTEGUARD, "analyze", "--format", "json", "/dev/stdin"], stdin=handle,
                              capture_output=True, timeout=120, check=False)
    assert proc.returncode == 1, proc.stderr
    assert sources_of(proc)[0]["findings"] == plain_findings()


def test_process_substitution_pipe(tmp_path):
    packed = pack(tmp_path, [tool("xz"), "-c"], "kern.log.xz")
    script = '"$1" analyze --format json <(cat "$2")'
    proc = subprocess.run(["bash", "-c", script, "bash", PTEGUARD, str(packed)], capture_output=True, timeout=120,
                          check=False)
    assert proc.returncode == 1, proc.stderr
    (source,) = sources_of(proc)
    assert source["path"].startswith("/dev/fd/") and source["findings"] == plain_findings()


def test_fifo_is_opened_once_and_streamed(tmp_path):
    fifo = tmp_path / "kern.fifo"
    os.mkfifo(fifo)
    with open(FIXTURE, "rb") as handle:
        data = handle.read()

    def writer():
        # a FIFO opened a second time would find no writer left: the scan would hang or miss the data
        with open(fifo, "wb") as out:
            out.write(data)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    proc = run("analyze", "--format", "json", str(fifo))
    thread.join(timeout=10)
    assert proc.returncode == 1, proc.stderr
    assert sources_of(proc)[0]["findings"] == plain_findings()


@pytest.mark.parametrize("device", ["/dev/kmsg", "/dev/zero", "/dev/urandom"])
def test_character_devices_are_refused_with_advice(device):
    if not os.path.exists(device):
        pytest.skip("%s does not exist here" % device)
    proc = run("analyze", device)
    assert proc.returncode == 2
    message = proc.stderr.decode()
    assert message.count("\n") == 1 and "character device" in message and "dmesg" in message, message


def test_character_device_on_stdin_is_refused():
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.run([PTEGUARD, "analyze", "-"], stdin=zero, capture_output=True, timeout=60, check=False)
    assert proc.returncode == 2 and b"character device" in proc.stderr


def test_proc_kmsg_is_refused():
    if not os.path.exists("/proc/kmsg"):
        pytest.skip("no /proc/kmsg")
    proc = run("analyze", "/proc/kmsg")
    assert proc.returncode == 2 and b"dmesg" in proc.stderr


def test_unsupported_compression_is_refused_by_name(tmp_path):
    packed = pack(tmp_path, [tool("lz4"), "-c"], "kern.log")
    proc = run("analyze", str(packed))
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        "pteguard analyze: %s: lz4-compressed data is not supported; decompress it and pipe it to "
        "`pteguard analyze -`" % packed)


def test_zstd_without_the_zstd_program_is_refused_by_name(tmp_path):
    packed = pack(tmp_path, [tool("zstd"), "-q", "-c"], "kern.log")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(shutil.which("grep"), bindir / "grep")
    proc = run("analyze", str(packed), env=dict(os.environ, PATH=str(bindir)))
    assert proc.returncode == 2
    assert b"zstd-compressed, and the zstd program is not installed" in proc.stderr


def _log_with_findings_then_filler():
    """The fixture, then ~2 MB of SYNTHETIC benign lines, then the fixture again."""
    with open(FIXTURE, "rb") as handle:
        fixture = handle.read()
    filler = b"".join(b"Nov  3 10:%02d:%02d host kernel: [%6d.%06d] synthetic benign line %d\n"
                      % (i // 60 % 60, i % 60, i, i * 7919 % 1000000, i * 2654435761 % 4294967296)
                      for i in range(30000))
    return fixture + filler + fixture


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("fmt", ["gzip", "xz", "bzip2", "zstd"])
def test_truncated_archive_keeps_the_findings_before_the_damage(tmp_path, fmt, engine):
    argv = COMPRESSORS[fmt]
    tool(argv[0])
    packed = pack(tmp_path, argv, "kern.log.1", data=_log_with_findings_then_filler()).read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes(packed[: len(packed) * 3 // 4])
    proc = run("analyze", "--format", "json", "--engine", engine, str(cut))
    assert proc.returncode == 4, proc.stderr  # INCOMPLETE outranks findings
    (source,) = sources_of(proc)
    assert source["status"] == "partial" and source["offset"] > 0
    assert "truncated" in source["reason"] or "premature end" in source["reason"], source["reason"]
    assert source["findings"] == plain_findings()  # the first copy; the second was past the cut
    assert b"read in part" in proc.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_gzip_with_trailing_garbage_keeps_everything_before(tmp_path, engine):
    packed = pack(tmp_path, [tool("gzip"), "-c"], "kern.log.2.gz")
    packed.write_bytes(packed.read_bytes() + b"\x00garbage after the archive\n")
    proc = run("analyze", "--format", "json", "--engine", engine, str(packed))
    assert proc.returncode == 4
    (source,) = sources_of(proc)
    assert source["status"] == "partial" and "not gzip" in source["reason"]
    assert source["findings"] == plain_findings()


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("run_length", [4096, 70000])
def test_line_after_a_nul_run_is_found(tmp_path, engine, run_length):
    # SYNTHETIC layout of what an unclean shutdown leaves in /var/log/syslog: preallocated blocks of NULs, then the
    # next boot's lines glued to them
    with open(FIXTURE, "rb") as handle:
        lines = handle.read().splitlines(keepends=True)
    path = tmp_path / "syslog"
    path.write_bytes(b"".join(lines[:4]) + b"\x00" * run_length + b"".join(lines[4:]))
    (source,) = sources_of(run("analyze", "--format", "json", "--engine", engine, str(path)))
    assert [(f["category"], f["line"]) for f in source["findings"]] == [
        (f["category"], f["line"]) for f in plain_findings()]


def test_escape_sequences_never_reach_the_terminal(tmp_path):
    path = tmp_path / "hostile.log"
    path.write_bytes(b"[   1.000000] Buffer I/O error on dev sda\x1b]0;owned\x07\x1b[2J\xe2\x80\xae, logical block 1, "
                     b"async page read\n")
    proc = run("analyze", str(path))
    assert proc.returncode == 1
    assert b"\x1b" not in proc.stdout and b"\x07" not in proc.stdout and "\u202e".encode() not in proc.stdout
    assert b"\\x1b]0;owned\\x07\\x1b[2J\\u202e" in proc.stdout


def test_closed_stdin_is_a_clear_error():
    proc = subprocess.run(["bash", "-c", 'exec "$1" analyze - <&-', "bash", PTEGUARD], capture_output=True,
                          timeout=60, check=False)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "pteguard analyze: -: standard input is closed"


def test_broken_pipe_keeps_the_findings_exit_code(tmp_path):
    with open(FIXTURE, "rb") as handle:
        big = tmp_path / "big.log"
        big.write_bytes(handle.read() * 3000)  # far more JSON than a pipe buffer holds
    proc = subprocess.Popen([PTEGUARD, "analyze", "--format", "json", "--max-findings", "100000", str(big)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.read(10)
    proc.stdout.close()  # what `| head -c 10` does
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert b"Traceback" not in err and b"Exception ignored" not in err, err


def test_symlink_loop_is_not_called_missing(tmp_path):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    proc = run("analyze", str(loop))
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == "pteguard analyze: %s: cannot read: Too many levels of symbolic links" % loop


def test_permission_denied_is_not_called_missing():
    # Root reads everything, so the check runs as nobody, with the system's python3 (the venv's interpreter lives
    # under root's home): the same open_error() the CLI's scan_path raises, imported from the collection's files.
    setpriv = tool("setpriv")
    if os.geteuid() != 0 or not os.access("/usr/bin/python3", os.X_OK):
        pytest.skip("needs root (to become nobody) and /usr/bin/python3")
    with tempfile.TemporaryDirectory(prefix="pteguard-perm-") as top:  # pytest's tmp_path is private to root
        os.chmod(top, 0o755)
        _check_permission_denied(setpriv, pathlib.Path(top))


def _check_permission_denied(setpriv, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "kern.log").write_bytes(b"x\n")
    os.chmod(locked, 0o700)
    os.chmod(tmp_path, 0o755)
    package = tmp_path / "pkg"
    package.mkdir()
    os.symlink(os.path.join(ROOT, "plugins", "module_utils"), package / "parsers")
    os.chmod(package, 0o755)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from parsers.log_scan import LogSourceError, log_format\n"
            "try:\n    log_format(sys.argv[2])\nexcept LogSourceError as exc:\n    print(exc)")
    proc = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c",
                           code, str(package), str(locked / "kern.log")], capture_output=True, timeout=60, check=False)
    if proc.returncode != 0 and b"ModuleNotFoundError" in proc.stderr:
        pytest.skip("the checkout is not readable by nobody")
    assert proc.stdout.decode().strip() == "%s: cannot read: Permission denied" % (locked / "kern.log"), proc.stderr
