"""A log file on a failing disk, with a real kernel: the readable part is analysed, the read error is reported for
that source with its byte offset, and the other sources are unaffected.

In a lab VM: ext4 on a loop device, a kern.log (a real fixture, SYNTHETIC benign filler, the fixture again) and a
good.log; then a device-mapper table of linear + error + linear segments puts an `error` target under the file's
blocks from 1 MiB on, the filesystem is mounted read-only from it and the page cache dropped, so reading the file
returns EIO at that point, from the guest's real kernel. Both kernel_log_info (through ansible, over SSH) and the
analyze code path (the CLI's own files run by the guest's python3) read it.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest

from pteguard_lab.cli import inventory
from pteguard_lab.vm import boot_vms, stop_all

pytestmark = pytest.mark.lab

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURE = os.path.join(REPO, "tests", "fixtures", "logs", "corpus-045.log")  # SCSI medium error: 3 findings
BAD_FROM = 1 << 20  # file offset where the error segment starts
BAD_BLOCKS = 64  # 4 KiB blocks of the file made unreadable
ANSIBLE = os.path.join(os.path.dirname(sys.executable), "ansible")

SETUP = r"""
set -eu
modprobe loop 2>/dev/null || true
modprobe dm-mod 2>/dev/null || true
truncate -s 64M /root/eio.img
mkfs.ext4 -q -F -b 4096 /root/eio.img
loop=$(losetup -f --show /root/eio.img)
mkdir -p /mnt/eio-src /mnt/eio
mount "$loop" /mnt/eio-src
cat > /mnt/eio-src/kern.log
cp /mnt/eio-src/kern.log /mnt/eio-src/good.log
# keep good.log's blocks away from the bad range: it is read whole
sync
filefrag -e -b4096 /mnt/eio-src/kern.log > /root/kern.log.frag
umount /mnt/eio-src
# the file's physical block at file offset BAD_FROM, from its extent map
# ("   0:        0..    1057:      34816..     35873:   1058:   last,eof")
phys=$(awk -F: -v want=$((BAD_FROM / 4096)) '$1 ~ /^ *[0-9]+$/ {
    split($2, l, /[.][.]/); split($3, p, /[.][.]/);
    if (want >= l[1] + 0 && want <= l[2] + 0) { print p[1] + want - l[1]; exit } }' /root/kern.log.frag)
test -n "$phys" || { echo "no extent at the offset in: $(cat /root/kern.log.frag)" >&2; exit 1; }
sectors=$(blockdev --getsz "$loop")
start=$((phys * 8))
count=$((BAD_BLOCKS * 8))
rest=$((sectors - start - count))
printf '0 %d linear %s 0\n%d %d error\n%d %d linear %s %d\n' \
    "$start" "$loop" "$start" "$count" "$((start + count))" "$rest" "$loop" "$((start + count))" | dmsetup create pteguard-eio
mount -o ro /dev/mapper/pteguard-eio /mnt/eio
echo 3 > /proc/sys/vm/drop_caches
if cat /mnt/eio/kern.log > /dev/null 2>/root/cat.err; then echo "no read error" >&2; exit 1; fi
grep -q "Input/output error" /root/cat.err
echo 3 > /proc/sys/vm/drop_caches
""".replace("BAD_FROM", str(BAD_FROM)).replace("BAD_BLOCKS", str(BAD_BLOCKS))

ANALYZE = r"""
import argparse, sys
sys.path.insert(0, "/root/pg")
from pteguard import analyze
parser = argparse.ArgumentParser()
analyze.add_parser(parser.add_subparsers())
args = parser.parse_args(sys.argv[1:])
sys.exit(args.func(args))
"""


def _log_bytes():
    with open(FIXTURE, "rb") as handle:
        fixture = handle.read()
    filler = b"".join(b"Nov  3 10:%02d:%02d host kernel: [%6d.%06d] synthetic benign line %08d\n"
                      % (i // 60 % 60, i % 60, i, i * 7919 % 1000000, i) for i in range(50000))
    assert len(fixture) + len(filler) > BAD_FROM + BAD_BLOCKS * 4096
    return fixture + filler + fixture


def _code_tar():
    """src/pteguard (what analyze needs) and module_utils as pteguard/parsers, as the wheel maps them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name in ("__init__.py", "analyze.py", "scan_io.py", "exit_codes.py"):
            tar.add(os.path.join(REPO, "src", "pteguard", name), arcname="pteguard/" + name)
        tar.add(os.path.join(REPO, "plugins", "module_utils"), arcname="pteguard/parsers",
                filter=lambda info: None if "__pycache__" in info.name else info)
    return buf.getvalue()


@pytest.fixture(scope="module")
def eio_vm(lab_image, lab_accel, lab_workdir):
    vms = boot_vms(lab_image, ["eio"], lab_workdir, accel=lab_accel)
    try:
        (vm,) = vms
        vm.close_master()  # plain connections: a control master that stalls under load refused the setup once
        proc = subprocess.run(vm.ssh_argv(SETUP), input=_log_bytes(), capture_output=True, timeout=300, check=False)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        proc = subprocess.run(vm.ssh_argv("rm -rf /root/pg && mkdir -p /root/pg && tar -C /root/pg -xf -"),
                              input=_code_tar(), capture_output=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        yield vm
    finally:
        errors = stop_all(vms)
        assert not errors, errors


def _expected_first_copy():
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "pteguard"), "analyze", "--format", "json",
                           "--engine", "python", FIXTURE], capture_output=True, timeout=120, check=False)
    (source,) = json.loads(proc.stdout)["sources"]
    return [(f["category"], f["line"]) for f in source["findings"]]


@pytest.mark.parametrize("engine", ["grep", "python"])
def test_analyze_keeps_the_readable_part_and_names_the_offset(eio_vm, engine):
    eio_vm.ssh("echo 3 > /proc/sys/vm/drop_caches")
    proc = subprocess.run(eio_vm.ssh_argv("python3 -c '%s' analyze --format json --engine %s /mnt/eio/kern.log "
                                          "/mnt/eio/good.log" % (ANALYZE, engine)),
                          capture_output=True, timeout=300, check=False)
    assert proc.returncode == 4, proc.stderr  # INCOMPLETE: findings exist, but a source was read only in part
    bad, good = json.loads(proc.stdout)["sources"]
    assert bad["status"] == "partial", bad
    assert "Input/output error" in bad["reason"]
    assert 0 < bad["offset"] <= BAD_FROM and bad["offset"] % 4096 == 0, bad
    assert [(f["category"], f["line"]) for f in bad["findings"]] == _expected_first_copy()
    assert good["status"] == "read" and good["summary"]["findings"] == 2 * len(_expected_first_copy())
    assert b"read in part" in proc.stderr and b"Traceback" not in proc.stderr


@pytest.mark.parametrize("engine", ["auto", "python"])
def test_kernel_log_info_marks_the_source_partial(eio_vm, lab_workdir, engine):
    eio_vm.ssh("echo 3 > /proc/sys/vm/drop_caches")
    inv = lab_workdir / "eio-inventory.json"
    inv.write_text(json.dumps(inventory({"vms": [eio_vm.to_dict()], "containers": []})))
    args = {"sources": ["kern_log"], "kern_log_paths": ["/mnt/eio/kern.log", "/mnt/eio/good.log"], "engine": engine}
    env = dict(os.environ, ANSIBLE_HOME=str(lab_workdir / "ansible-home"),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, "collections"))
    proc = subprocess.run([ANSIBLE, "-i", str(inv), "lab-eio", "-m", "pteguard.remediation.kernel_log_info",
                           "-a", json.dumps(args)], capture_output=True, text=True, timeout=600, env=env, cwd=REPO,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    # the default ad-hoc output: "lab-eio | SUCCESS => {...}"
    assert proc.stdout.startswith("lab-eio | SUCCESS => "), proc.stdout[-3000:]
    result, _end = json.JSONDecoder().raw_decode(proc.stdout, proc.stdout.index("=> ") + 3)
    by_path = {s["path"]: s for s in result["sources"]}
    bad, good = by_path["/mnt/eio/kern.log"], by_path["/mnt/eio/good.log"]
    assert bad["status"] == "partial" and "Input/output error" in bad["reason"], bad
    assert 0 < bad["offset"] <= BAD_FROM and bad["offset"] % 4096 == 0, bad
    expected = _expected_first_copy()
    assert bad["findings"] == len(expected)
    assert sorted((f["category"], f["line"]) for f in result["findings"] if f["source"] == "/mnt/eio/kern.log") \
        == sorted(expected)
    assert good["status"] == "read" and good["findings"] == 2 * len(expected)
