"""Flip bits in a running stress-ng vm worker's buffer through /proc/PID/mem, so that its --verify fails for real.

Usage: python3 flip_stress_ng.py SIZE_MB SECONDS. Waits (bounded) for a process named stress-ng-vm with an anonymous
read-write mapping of exactly SIZE_MB (its --vm-bytes buffer; stress-ng's own large bss is anonymous too), then
XORs one byte at a random address of it every millisecond for SECONDS: what a flaky DIMM does to a program, from
outside it. Run as root on the host (or in the container) of the worker.
Made the real stress-ng failure in tests/fixtures/tools/221.txt; the container tests push it to their guest.
"""

from __future__ import annotations

import os
import random
import sys
import time


def find_worker(size, wait):
    """(pid, start, end) of the vm worker's buffer, or None after `wait` seconds."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as handle:
                    if not handle.read().startswith(b"stress-ng-vm"):
                        continue
                with open("/proc/%s/maps" % pid) as handle:
                    for line in handle:
                        fields = line.split()
                        low, high = (int(x, 16) for x in fields[0].split("-"))
                        # anonymous: no path column
                        if fields[1].startswith("rw") and len(fields) < 6 and high - low == size:
                            return int(pid), low, high
            except (OSError, ValueError):
                continue
        time.sleep(0.05)
    return None


def flip(pid, low, high, seconds):
    flips = 0
    end = time.monotonic() + seconds
    try:
        with open("/proc/%d/mem" % pid, "r+b", buffering=0) as mem:
            while time.monotonic() < end:
                address = random.randrange(low, high)
                mem.seek(address)
                byte = mem.read(1)
                if not byte:
                    break
                mem.seek(address)
                mem.write(bytes([byte[0] ^ 0x10]))
                flips += 1
                time.sleep(0.001)
    except OSError as exc:
        # the worker exited (stress-ng aborts after 5 failures): its memory is gone
        print("stopped: %s" % exc)
    return flips


def main():
    size, seconds = int(sys.argv[1]) * 1048576, float(sys.argv[2])
    found = find_worker(size, seconds + 60)
    if found is None:
        sys.exit("no stress-ng vm worker with a %d MiB buffer appeared" % (size // 1048576))
    print("worker %d %#x-%#x" % found, flush=True)
    print("flips %d" % flip(*found, seconds=seconds))


if __name__ == "__main__":
    main()
