"""SYNTHETIC kernel log for the pteguard benchmark - not real data.

Writes a kern.log-shaped file of a requested size (default 1 GiB), streaming
in ~1 MiB chunks so memory stays small whatever the size:

- benign lines: shapes taken from the "none" fixtures and the benign lines of
  tests/fixtures/logs/ (device attach, mounts, RPC/NFS, USB, NICs, firewall
  drops, systemd-in-kmsg, tsc/clocksource...), with varied device names and
  numbers, and timestamps that only move forward. These lines are generated
  from templates: they are synthetic.
- error records: about one line in 2,000 comes from a real error excerpt, a
  whole tests/fixtures/logs/*.log file (its sidecar has "synthetic": false and
  labels other than "none"), inserted verbatim, multi-line records intact.
  Those lines keep their own (real) stamps and formats, so they do not follow
  the synthetic clock; that also exercises mixed formats in one file.
- reboots: about every 250,000 lines a boot banner (uptime restarts at 0, the
  wall clock keeps going), with the benign anchor look-alike "EDAC MC: Ver".

Deterministic: the same --size, --seed and --style give the same bytes. A
sidecar PATH.meta.json records what was written (sizes, seed, counts of
inserted excerpts per fixture); run_bench.py uses it to reuse the file.

Usage: generate_log.py [--size 1G] [--seed 1] [--style syslog|dmesg] PATH
The default output name carries the word "synthetic".
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

GENERATOR_VERSION = 1
ERROR_LINE_RATE = 2000  # about one error-record line per this many lines
BOOT_EVERY_LINES = 250000  # a reboot's banner (uptime back to 0) about this often
CHUNK_BYTES = 1 << 20
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "logs")
DEFAULT_NAME = "synthetic-kern-%s-seed%d-%s.log"

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
HOSTS = ("k8snode-45", "worker-02", "db-primary", "argon", "edge-7", "build-13")


def parse_size(text, allow_zero=False):
    """'1G', '200M', '4096', '1.5G' -> bytes."""
    text = text.strip().upper().rstrip("B").rstrip("I")
    scale = 1
    for suffix, mult in (("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30), ("T", 1 << 40)):
        if text.endswith(suffix):
            text, scale = text[:-1], mult
            break
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a size: %r (use e.g. 1G, 200M, 4096)" % text)
    if value < 0 or (value == 0 and not allow_zero):
        raise argparse.ArgumentTypeError("size must be positive")
    return int(value * scale)


def error_excerpts(fixtures=FIXTURES):
    """[(name, bytes)] of every real (non-synthetic) fixture that carries an error label."""
    out = []
    for name in sorted(os.listdir(fixtures)):
        if not name.endswith(".log"):
            continue
        sidecar = os.path.join(fixtures, name[:-4] + ".json")
        try:
            with open(sidecar, encoding="utf-8") as handle:
                meta = json.load(handle)
        except (OSError, ValueError):
            continue
        if meta.get("synthetic", True) or meta.get("labels", ["none"]) == ["none"]:
            continue
        with open(os.path.join(fixtures, name), "rb") as handle:
            data = handle.read()
        if not data.endswith(b"\n"):
            data += b"\n"
        out.append((name[:-4], data))
    return out


class Benign:
    """Benign kernel messages, shapes from the fixtures, values drawn from a seeded RNG."""

    def __init__(self, rng):
        self.rng = rng
        r = rng
        disks = ["sd%s" % c for c in "abcdefgh"] + ["nvme%dn1" % i for i in range(4)] + ["vda", "vdb", "mmcblk0"]
        nics = ["eth0", "eth1", "ens3", "enp3s0", "eno1", "wlan0", "bond0", "veth%x" % 0x3a1f]

        def uuid():
            return "%08x-%04x-%04x-%04x-%012x" % (r.getrandbits(32), r.getrandbits(16), r.getrandbits(16),
                                                  r.getrandbits(16), r.getrandbits(48))

        def ip():
            return "10.%d.%d.%d" % (r.randrange(256), r.randrange(256), r.randrange(1, 255))

        def mac():
            return ":".join("%02x" % r.randrange(256) for _byte in range(14))

        def disk():
            return r.choice(disks)

        def nic():
            return r.choice(nics)

        # (weight, maker): the firewall/audit/systemd lines dominate real kern.logs, boot-style lines are rarer.
        self.makers = [
            (30, lambda: "[UFW BLOCK] IN=%s OUT= MAC=%s SRC=%s DST=%s LEN=%d TOS=0x00 PREC=0x00 TTL=%d ID=%d "
                         "PROTO=TCP SPT=%d DPT=%d WINDOW=%d RES=0x00 SYN URGP=0"
                         % (nic(), mac(), ip(), ip(), r.randrange(40, 1500), r.randrange(32, 129),
                            r.randrange(65536), r.randrange(1024, 65536), r.choice((22, 80, 443, 3306, 5432, 8080)),
                            r.randrange(1024, 65536))),
            (10, lambda: "DROP_I last: IN=%s OUT= MAC=%s SRC=%s DST=224.0.0.1 LEN=32 TOS=0x00 PREC=0xC0 TTL=1 ID=0 "
                         "DF PROTO=2" % (nic(), mac(), ip())),
            (12, lambda: 'audit: type=1400 audit(%d.%03d:%d): apparmor="DENIED" operation="open" profile="snap.%s" '
                         'name="/proc/%d/mounts" pid=%d comm="%s" requested_mask="r" denied_mask="r" fsuid=0 ouid=0'
                         % (1700000000 + r.randrange(10 ** 7), r.randrange(1000), r.randrange(10 ** 5),
                            r.choice(("lxd.daemon", "core.hook", "firefox.firefox")), r.randrange(1, 99999),
                            r.randrange(1, 99999), r.choice(("snapd", "lxd", "firefox", "node")))),
            (8, lambda: "systemd[%d]: %s.service: Deactivated successfully."
                        % (r.choice((1, 1, r.randrange(200, 9000))),
                           r.choice(("fwupd", "packagekit", "apt-daily", "man-db", "logrotate", "sysstat-collect")))),
            (4, lambda: "systemd[%d]: memfd_create() called without MFD_EXEC or MFD_NOEXEC_SEAL set"
                        % r.randrange(200, 30000)),
            (5, lambda: "sd %d:0:0:%d: [%s] Attached SCSI disk" % (r.randrange(8), r.randrange(4), r.choice(disks[:8]))),
            (5, lambda: "sd %d:0:0:%d: [%s] %d 512-byte logical blocks: (%d GB/%d GiB)"
                        % (r.randrange(8), r.randrange(4), r.choice(disks[:8]), r.randrange(10 ** 8, 10 ** 10),
                           r.randrange(16, 4000), r.randrange(16, 4000))),
            (5, lambda: "EXT4-fs (%s): mounted filesystem %s r/w with ordered data mode. Quota mode: none."
                        % (disk(), uuid())),
            (3, lambda: "EXT4-fs (%s): recovery complete" % disk()),
            (2, lambda: "NILFS (dm-%d): segctord starting. Construction interval = %d seconds, CP frequency < %d seconds"
                        % (r.randrange(16), r.choice((5, 10)), r.choice((30, 60)))),
            (2, lambda: "XFS (%s): Mounting V5 Filesystem %s" % (disk(), uuid())),
            (2, lambda: "XFS (%s): Ending clean mount" % disk()),
            (3, lambda: "RPC: Registered %s transport module." % r.choice(("named UNIX socket", "udp", "tcp",
                                                                          "tcp-with-tls", "tcp NFSv4.1 backchannel"))),
            (6, lambda: "usb %d-%d: new high-speed USB device number %d using xhci_hcd"
                        % (r.randrange(1, 5), r.randrange(1, 9), r.randrange(2, 128))),
            (4, lambda: "usb %d-%d: USB disconnect, device number %d" % (r.randrange(1, 5), r.randrange(1, 9),
                                                                         r.randrange(2, 128))),
            (3, lambda: "mmcblk%dboot%d: mmc%d:0001 BJTD4R partition %d 4.00 MiB"
                        % (r.randrange(3), r.randrange(2), r.randrange(3), r.randrange(1, 4))),
            (6, lambda: "%s: Link is Up - %s/Full - flow control rx/tx" % (nic(), r.choice(("1Gbps", "10Gbps", "25Gbps")))),
            (3, lambda: "IPv6: ADDRCONF(NETDEV_CHANGE): %s: link becomes ready" % nic()),
            (4, lambda: "br-%012x: port %d(%s) entered %s state"
                        % (r.getrandbits(48), r.randrange(1, 9), nic(), r.choice(("blocking", "forwarding", "disabled")))),
            (3, lambda: "nvme %04x:%02x:00.0: enabling device (0000 -> 0002)" % (0, r.randrange(1, 9))),
            (2, lambda: "perf: interrupt took too long (%d > %d), lowering kernel.perf_event_max_sample_rate to %d"
                        % (r.randrange(2500, 9000), r.randrange(2500, 9000), r.randrange(20000, 80000))),
            (2, lambda: "Clocksource tsc unstable (delta = -%d ns)" % r.randrange(10 ** 6, 10 ** 10)),
            (2, lambda: "tsc: Refined TSC clocksource calibration: %d.%03d MHz"
                        % (r.randrange(1800, 3600), r.randrange(1000))),
            (2, lambda: "Dentry cache hash table entries: %d (order: %d, %d bytes)"
                        % (1 << r.randrange(16, 22), r.randrange(6, 13), 1 << r.randrange(20, 25))),
            (2, lambda: "TCP: request_sock_TCP: Possible SYN flooding on port %d. Sending cookies.  "
                        "Check SNMP counters." % r.choice((80, 443, 8443))),
            (2, lambda: "%s: renamed from veth%07x" % (nic(), r.getrandbits(28))),
            (1, lambda: "CPU%d: Thermal monitoring enabled (TM1)" % r.randrange(64)),
            (1, lambda: "Failed to connect to bus: No such file or directory"),
        ]
        total = sum(weight for weight, _maker in self.makers)
        self.cum = []
        acc = 0
        for weight, maker in self.makers:
            acc += weight
            self.cum.append((acc / total, maker))

    def boot(self):
        """A reboot's first messages (shapes of corpus-073/corpus-070), incl. the benign anchor look-alike 'EDAC MC:'."""
        r = self.rng
        mhz = r.randrange(1800, 3600) + r.randrange(1000) / 1000.0
        return [
            "Linux version %d.%d.%d-%d-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP"
            % (r.choice((5, 6)), r.randrange(20), r.randrange(200), r.randrange(1, 30)),
            "tsc: Fast TSC calibration using PIT",
            "tsc: Detected %.3f MHz processor" % mhz,
            "Calibrating delay loop (skipped), value calculated using timer frequency.. %.2f BogoMIPS (lpj=%d)"
            % (mhz * 2, int(mhz * 1000)),
            "pid_max: default: %d minimum: 301" % r.choice((32768, 65536, 4194304)),
            "Dentry cache hash table entries: %d (order: %d, %d bytes)" % (1 << 21, 12, 1 << 24),
            "mce: CPU supports %d MCE banks" % r.choice((7, 9, 22, 23)),
            "smpboot: Max logical packages: %d" % r.choice((1, 2)),
            "MCE: In-kernel MCE decoding enabled.",
            "EDAC MC: Ver: 3.0.0",
        ]

    def message(self):
        x = self.rng.random()
        for bound, maker in self.cum:
            if x < bound:
                return maker()
        return self.cum[-1][1]()


class Clock:
    """A forward-moving clock, rendered as a classic syslog date plus a dmesg stamp."""

    def __init__(self, rng):
        self.rng = rng
        self.uptime = 0.0
        self.wall = 0.0  # seconds since Jan 1 00:00:00

    def reboot(self):
        self.uptime = 0.0
        self.wall += self.rng.randrange(30, 600)

    def tick(self):
        step = self.rng.expovariate(40.0)  # ~40 lines a second
        self.uptime += step
        self.wall += step

    def syslog(self):
        day = int(self.wall // 86400) % 365
        month = min(day // 31, 11)
        sec = int(self.wall) % 86400
        return "%s %2d %02d:%02d:%02d" % (MONTHS[month], day % 31 + 1, sec // 3600, sec // 60 % 60, sec % 60)

    def dmesg(self):
        return "[%12.6f]" % self.uptime


def _render(style, clock, host, message):
    if style == "dmesg":
        return "%s %s\n" % (clock.dmesg(), message)
    return "%s %s kernel: %s %s\n" % (clock.syslog(), host, clock.dmesg(), message)


def generate(path, size, seed=1, style="syslog", fixtures=FIXTURES):
    """Write about `size` bytes (ends at a line boundary, never before `size`). Returns the metadata dict."""
    rng = random.Random(seed)
    excerpts = error_excerpts(fixtures)
    if not excerpts:
        raise SystemExit("no real error excerpts found under %s" % fixtures)
    benign = Benign(rng)
    clock = Clock(rng)
    host = rng.choice(HOSTS)
    inserted = {}
    lines = error_lines = 0
    written = 0
    buf = []
    buf_bytes = 0
    next_error_at = rng.randrange(ERROR_LINE_RATE * 5, ERROR_LINE_RATE * 20)
    next_boot_at = rng.randrange(BOOT_EVERY_LINES // 2, BOOT_EVERY_LINES * 3 // 2)
    boots = 0
    tmp = path + ".part"
    with open(tmp, "wb") as out:
        while written + buf_bytes < size:
            if lines >= next_error_at:
                name, data = excerpts[rng.randrange(len(excerpts))]
                count = data.count(b"\n")
                buf.append(data.decode("latin-1"))
                buf_bytes += len(data)
                lines += count
                error_lines += count
                inserted[name] = inserted.get(name, 0) + 1
                next_error_at = lines + int(count * ERROR_LINE_RATE * rng.uniform(0.5, 1.5))
                continue
            if lines >= next_boot_at:
                clock.reboot()
                boots += 1
                for message in benign.boot():
                    clock.uptime += rng.uniform(0.0, 0.002)
                    clock.wall += 0.001
                    line = _render(style, clock, host, message)
                    buf.append(line)
                    buf_bytes += len(line)
                    lines += 1
                next_boot_at = lines + rng.randrange(BOOT_EVERY_LINES // 2, BOOT_EVERY_LINES * 3 // 2)
                continue
            clock.tick()
            line = _render(style, clock, host, benign.message())
            buf.append(line)
            buf_bytes += len(line)
            lines += 1
            if buf_bytes >= CHUNK_BYTES:
                chunk = "".join(buf).encode("latin-1")
                out.write(chunk)
                written += len(chunk)
                buf, buf_bytes = [], 0
        if buf:
            chunk = "".join(buf).encode("latin-1")
            out.write(chunk)
            written += len(chunk)
    os.replace(tmp, path)
    meta = {
        "synthetic": True,
        "why": "benchmark input: generated benign lines plus verbatim real error excerpts from tests/fixtures/logs",
        "generator_version": GENERATOR_VERSION,
        "requested_size": size,
        "seed": seed,
        "style": style,
        "bytes": written,
        "lines": lines,
        "error_lines": error_lines,
        "error_line_rate": "1 in %d" % (lines // error_lines if error_lines else 0),
        "boots": boots,
        "excerpts_inserted": sum(inserted.values()),
        "excerpts_by_fixture": inserted,
    }
    with open(path + ".meta.json", "w", encoding="utf-8") as handle:
        json.dump(meta, handle, indent=1, sort_keys=True)
    return meta


def default_name(size, seed, style):
    return DEFAULT_NAME % (style, seed, ("%dM" % (size >> 20)) if size >= 1 << 20 else str(size))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a SYNTHETIC kernel log for the pteguard benchmark.")
    parser.add_argument("path", nargs="?", help="output file or directory (default: build/bench/)")
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="approximate size, e.g. 1G, 200M (default 1G)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--style", choices=("syslog", "dmesg"), default="syslog",
                        help="benign line shape: kern.log with dmesg stamps (default) or plain dmesg")
    args = parser.parse_args(argv)
    path = args.path or os.path.join(os.path.dirname(HERE), "build", "bench")
    if os.path.isdir(path) or path.endswith(os.sep):
        path = os.path.join(path, default_name(args.size, args.seed, args.style))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    meta = generate(path, args.size, args.seed, args.style)
    print("%s: %d bytes, %d lines, %d error-record lines (%s), %d excerpts"
          % (path, meta["bytes"], meta["lines"], meta["error_lines"], meta["error_line_rate"], meta["excerpts_inserted"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
