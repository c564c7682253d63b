"""Real fault injectors for lab VMs (never containers: they share the host's kernel).

Each injector writes a marker line to the guest's /dev/kmsg, drives a real fault,
waits (bounded) until the kernel has printed the record, and returns an Injection
whose kernel_log holds the guest's kernel log from the marker on. The docstrings
name what the kernel prints; the tests assert it against the real log.

Only mce_fatal_from_monitor kills the guest (panic=1 and -no-reboot make QEMU
exit): give it a VM of its own. The page-table injectors taint the kernel and
two of them oops (the guest stays up: Debian's panic_on_oops is 0).
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .image import lab_assets
from .util import LabError
from .vm import VM

MODULE_PATH = "/opt/pteguard-lab/kmod/pteguard_testmod.ko"
VICTIM = "/usr/local/sbin/pteguard-lab-victim"
SCSI_DEBUG_SYSFS = "/sys/bus/pseudo/drivers/scsi_debug"


@dataclass
class Injection:
    """What an injector did and what the guest kernel printed after its marker."""

    kind: str
    vm: str
    marker: str
    seconds: float
    output: str = ""
    kernel_log: str = ""
    details: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"kind": self.kind, "vm": self.vm, "marker": self.marker, "seconds": round(self.seconds, 2),
                "output": self.output, "kernel_log": self.kernel_log, "details": self.details}


# --- plumbing -------------------------------------------------------------------

_pushed: set[tuple[str, float | None]] = set()


def push_helpers(vm: VM) -> None:
    """Copy lab/guest/* into the guest's /usr/local/sbin (once per boot)."""
    key = (vm.workdir, vm.started_at)
    if key in _pushed:
        return
    for path in sorted((lab_assets() / "guest").iterdir()):
        if path.is_file():
            vm.ssh("cat > /usr/local/sbin/%s && chmod 0755 /usr/local/sbin/%s" % (path.name, path.name),
                   input_text=path.read_text(), timeout=30)
    _pushed.add(key)


def mark(vm: VM, kind: str) -> str:
    """Write a unique marker line into the guest kernel log; returns it."""
    marker = "pteguard-lab: inject %s %s" % (kind, secrets.token_hex(4))
    vm.ssh("echo '%s' > /dev/kmsg" % marker, timeout=30)
    return marker


def log_since(text: str, marker: str) -> str:
    """The part of a kernel log from the line holding marker on ('' if absent)."""
    idx = text.find(marker)
    if idx < 0:
        return ""
    return text[text.rfind("\n", 0, idx) + 1:]


def wait_for_log(vm: VM, marker: str, patterns: Iterable[str], timeout: float = 60.0) -> str:
    """Poll the guest's dmesg until every regex in patterns appears after marker (bounded).

    Returns the log after the marker whether or not all appeared (the caller asserts).
    """
    pats = [re.compile(p) for p in patterns]
    deadline = time.monotonic() + timeout
    text = ""
    while True:
        text = log_since(vm.dmesg(), marker)
        if all(p.search(text) for p in pats) or time.monotonic() >= deadline:
            return text
        time.sleep(1.5)


def _injection(kind: str, vm: VM, marker: str, started: float, output: str, log: str, **details) -> Injection:
    return Injection(kind=kind, vm=vm.name, marker=marker, seconds=time.monotonic() - started,
                     output=output, kernel_log=log, details=details)


def _require_vm(vm: object) -> VM:
    if not isinstance(vm, VM):
        raise LabError("fault injectors need a lab VM (containers share the host's kernel)")
    return vm


# --- machine checks -------------------------------------------------------------

def mce_corrected_from_monitor(vm: VM, timeout: float = 60.0) -> Injection:
    """Corrected memory read error, injected from the QEMU monitor.

    Lowers check_interval to 5 s, then `mce 0 7 0x9c00004000010090 0x0 0x12345000 0x8c`
    (VAL|EN|MISCV|ADDRV, no UC). The next poll logs it: "mce: [Hardware Error]:
    Machine check events logged" and "[Hardware Error]: CPU 0: Machine Check: 0
    Bank 7: 9c00004000010090" with "TSC ... ADDR 12345000 MISC 8c".
    """
    _require_vm(vm)
    started = time.monotonic()
    vm.ssh("for f in /sys/devices/system/machinecheck/machinecheck*/check_interval; do echo 5 > $f; done")
    marker = mark(vm, "mce-corrected")
    out = vm.hmp("mce 0 7 0x9c00004000010090 0x0 0x12345000 0x8c")
    log = wait_for_log(vm, marker, [r"Machine check events logged|Hardware Error"], timeout)
    return _injection("mce-corrected", vm, marker, started, out, log, status="0x9c00004000010090",
                      address="0x12345000", bank=7)


def _hold_page(vm: VM, seconds: int = 120) -> tuple[int, int]:
    """Start a guest process that owns one dirty page; returns (pid, pfn)."""
    push_helpers(vm)
    out = vm.ssh("nohup %s hold-page %d > /run/pteguard-hold.out 2>&1 < /dev/null & echo $!"
                 % (VICTIM, seconds)).stdout.strip()
    if not out.isdigit():
        raise LabError("[%s] could not start the page-holding helper: %r" % (vm.name, out))
    pid = int(out)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        out = vm.ssh("cat /run/pteguard-hold.out", check=False).stdout
        m = re.search(r"pfn 0x([0-9a-f]+)", out)
        if m:
            return pid, int(m.group(1), 16)
        time.sleep(0.5)
    raise LabError("[%s] the page-holding helper printed no pfn" % vm.name)


def mce_uncorrected_ao_from_monitor(vm: VM, timeout: float = 60.0) -> Injection:
    """Uncorrected, action-optional (scrub) memory error, injected from the QEMU monitor.

    A guest process holds a dirty page; `mce 0 7 0xbd000000000000c0 0x5 ADDR 0x8c`
    is raised at that page's address. The kernel logs "mce: [Hardware Error]:
    Machine check events logged", prints the record ("Machine Check Exception: 5
    Bank 7: bd000000000000c0") and handles the page: "Memory failure: 0xPFN:
    recovery action for dirty LRU page: Recovered"; HardwareCorrupted grows.
    """
    _require_vm(vm)
    started = time.monotonic()
    pid, pfn = _hold_page(vm)
    marker = mark(vm, "mce-uncorrected-ao")
    try:
        out = vm.hmp("mce 0 7 0xbd000000000000c0 0x5 0x%x 0x8c" % (pfn << 12))
        log = wait_for_log(vm, marker, [r"Memory failure: 0x%x" % pfn], timeout)
    finally:
        vm.ssh("kill %d 2>/dev/null; true" % pid, check=False)
    return _injection("mce-uncorrected-ao", vm, marker, started, out, log, status="0xbd000000000000c0",
                      pfn=pfn, address="0x%x" % (pfn << 12), bank=7)


def mce_fatal_from_monitor(vm: VM, timeout: float = 90.0) -> Injection:
    """Fatal machine check (processor context corrupt): the guest panics and QEMU exits.

    `mce 0 7 0xbe00000000000090 0x5 0x12345000 0x8c` (UC|PCC). The serial console
    shows "mce: [Hardware Error]: ... Machine Check Exception: 5 Bank 7:
    be00000000000090", "Machine check: Processor context corrupt" and "Kernel panic -
    not syncing: Fatal machine check"; panic=1 reboots, -no-reboot ends QEMU.
    kernel_log is the serial console after the marker (the guest is gone).
    Use a VM of its own.
    """
    _require_vm(vm)
    started = time.monotonic()
    marker = mark(vm, "mce-fatal")
    # Give the console time to print the marker before the guest dies.
    deadline = time.monotonic() + 20
    while marker not in vm.serial_text() and time.monotonic() < deadline:
        time.sleep(0.3)
    out = vm.hmp("mce 0 7 0xbe00000000000090 0x5 0x12345000 0x8c")
    exited = vm.wait_exit(timeout)
    log = log_since(vm.serial_text(), marker)
    return _injection("mce-fatal", vm, marker, started, out, log, status="0xbe00000000000090", qemu_exited=exited)


def mce_inject_in_guest(vm: VM, timeout: float = 60.0) -> Injection:
    """Corrected memory error injected from inside the guest with mce-inject (debugfs).

    `modprobe mce-inject`; in /sys/kernel/debug/mce-inject: flags=sw,
    status=0x9c00004000010090, addr=0x12345000, misc=0x8c, then bank=7 injects at once
    through the polling path: "mce: [Hardware Error]: Machine check events logged"
    and "[Hardware Error]: CPU 0: Machine Check: 0 Bank 7: 9c00004000010090".
    """
    _require_vm(vm)
    started = time.monotonic()
    marker = mark(vm, "mce-inject-guest")
    out = vm.ssh(
        "set -e; modprobe mce-inject; cd /sys/kernel/debug/mce-inject; echo sw > flags; "
        "echo 0x9c00004000010090 > status; echo 0x12345000 > addr; echo 0x8c > misc; echo 7 > bank"
    ).stdout
    log = wait_for_log(vm, marker, [r"Machine check events logged|Hardware Error"], timeout)
    return _injection("mce-inject-guest", vm, marker, started, out, log, status="0x9c00004000010090", bank=7)


# --- hwpoison ----------------------------------------------------------------------

def hwpoison_madvise(vm: VM, timeout: float = 60.0) -> Injection:
    """Soft-injected memory failure: madvise(MADV_HWPOISON) on a dirty page of a test process.

    Prints "Memory failure: 0xPFN: recovery action for dirty LRU page: Recovered";
    when the process touches the page again: "MCE: Killing pteguard-lab-vi:PID due to
    hardware memory corruption fault at ADDR" (the process dies of SIGBUS).
    """
    _require_vm(vm)
    started = time.monotonic()
    push_helpers(vm)
    marker = mark(vm, "hwpoison-madvise")
    proc = vm.ssh("%s madvise" % VICTIM, check=False)
    m = re.search(r"pfn 0x([0-9a-f]+)", proc.stdout)
    pfn = int(m.group(1), 16) if m else None
    log = wait_for_log(vm, marker, [r"Memory failure: ", r"Killing"], timeout)
    return _injection("hwpoison-madvise", vm, marker, started, proc.stdout + proc.stderr, log,
                      pfn=pfn, rc=proc.returncode)


def hwpoison_corrupt_pfn(vm: VM, timeout: float = 60.0) -> Injection:
    """Memory failure injected with hwpoison-inject's debugfs corrupt-pfn on a test process's page.

    `modprobe hwpoison-inject`; the pfn goes to /sys/kernel/debug/hwpoison/corrupt-pfn:
    "Memory failure: 0xPFN: recovery action for dirty LRU page: Recovered", then the
    process's next touch: "MCE: Killing pteguard-lab-vi:PID due to hardware memory
    corruption fault at ADDR".
    """
    _require_vm(vm)
    started = time.monotonic()
    push_helpers(vm)
    vm.ssh("modprobe hwpoison-inject")
    marker = mark(vm, "hwpoison-corrupt-pfn")
    proc = vm.ssh("%s corrupt-pfn" % VICTIM, check=False)
    m = re.search(r"pfn 0x([0-9a-f]+)", proc.stdout)
    pfn = int(m.group(1), 16) if m else None
    log = wait_for_log(vm, marker, [r"Memory failure: "], timeout)
    return _injection("hwpoison-corrupt-pfn", vm, marker, started, proc.stdout + proc.stderr, log,
                      pfn=pfn, rc=proc.returncode)


# --- disk errors (scsi_debug) ------------------------------------------------------

_SCSI_LOAD = r"""
set -e
for i in $(seq 50); do modprobe -r scsi_debug 2>/dev/null && break || sleep 0.2; done
modprobe scsi_debug dev_size_mb=64 %(params)s
dev=
for i in $(seq 150); do
  for b in %(sysfs)s/adapter*/host*/target*/*/block/*; do [ -e "$b" ] && dev=${b##*/}; done
  [ -n "$dev" ] && break; sleep 0.2
done
[ -n "$dev" ] || { echo "no scsi_debug disk appeared" >&2; exit 3; }
udevadm settle --timeout=30 || true
echo "dev $dev"
"""

_SCSI_UNLOAD = "for i in $(seq 100); do modprobe -r scsi_debug 2>/dev/null && exit 0; sleep 0.2; done; exit 1"


def _scsi_debug(vm: VM, kind: str, params: str, reader: str, patterns: list[str], timeout: float) -> Injection:
    _require_vm(vm)
    started = time.monotonic()
    marker = mark(vm, kind)
    script = _SCSI_LOAD % {"params": params, "sysfs": SCSI_DEBUG_SYSFS} + reader
    try:
        proc = vm.ssh("bash -s", input_text=script, timeout=180, check=False)
        m = re.search(r"^dev (\w+)$", proc.stdout, re.M)
        if not m:
            raise LabError("[%s] scsi_debug setup failed:\n%s%s" % (vm.name, proc.stdout, proc.stderr))
        log = wait_for_log(vm, marker, patterns, timeout)
    finally:
        vm.ssh(_SCSI_UNLOAD, timeout=60, check=False)
    return _injection(kind, vm, marker, started, proc.stdout + proc.stderr, log, device=m.group(1),
                      rc=proc.returncode)


def load_scsi_debug(vm: VM, params: str = "") -> str:
    """Load a 64 MiB scsi_debug disk with PARAMS and leave it loaded for a test's own load; its name (sda...).

    For tests that run their own I/O against the disk (the stress role); unload_scsi_debug() removes it.
    """
    _require_vm(vm)
    proc = vm.ssh("bash -s", input_text=_SCSI_LOAD % {"params": params, "sysfs": SCSI_DEBUG_SYSFS}, timeout=180,
                  check=False)
    m = re.search(r"^dev (\w+)$", proc.stdout, re.M)
    if not m:
        raise LabError("[%s] scsi_debug setup failed:\n%s%s" % (vm.name, proc.stdout, proc.stderr))
    return m.group(1)


def unload_scsi_debug(vm: VM) -> None:
    vm.ssh(_SCSI_UNLOAD, timeout=60, check=False)


def scsi_medium_error_dd(vm: VM, timeout: float = 60.0) -> Injection:
    """Unrecovered read errors from a scsi_debug disk (medium errors at sectors 2048-2055), read by dd.

    Buffered dd over the bad range: "sd 2:0:0:0: [sda] tag#.. Sense Key : Medium
    Error [current]", "Add. Sense: Unrecovered read error", "critical medium error,
    dev sda, sector 2048 op 0x0:(READ)", "Buffer I/O error on dev sda, logical block 256".
    """
    reader = "dd if=/dev/$dev of=/dev/null bs=4096 skip=256 count=4 2>&1 || true\n"
    return _scsi_debug(vm, "scsi-medium-dd", "opts=2 medium_error_start=2048 medium_error_count=8", reader,
                       [r"critical medium error, dev sd", r"Buffer I/O error"], timeout)


def scsi_medium_error_fio(vm: VM, timeout: float = 60.0) -> Injection:
    """The same scsi_debug medium errors read by fio with direct I/O.

    fio reports EIO; the kernel prints "Sense Key : Medium Error", "Add. Sense:
    Unrecovered read error" and "critical medium error, dev sda, sector 2048".
    """
    reader = ("fio --name=pteguard-lab --filename=/dev/$dev --rw=read --bs=4k --direct=1 --ioengine=psync "
              "--offset=1M --size=64k --numjobs=1 --continue_on_error=none 2>&1 || true\n")
    return _scsi_debug(vm, "scsi-medium-fio", "opts=2 medium_error_start=2048 medium_error_count=8", reader,
                       [r"critical medium error, dev sd"], timeout)


def scsi_io_error(vm: VM, timeout: float = 90.0) -> Injection:
    """Plain I/O errors: scsi_debug with opts=0x10 (transport error) on every command.

    Loaded with statistics=1, then every_nth=1 and opts=0x10 are set, and dd reads
    with direct I/O: after the SCSI retries the block layer prints "I/O error, dev
    sda, sector N op 0x0:(READ)".
    """
    reader = ("echo 1 > %(s)s/every_nth; echo 0x10 > %(s)s/opts\n"
              "timeout 120 dd if=/dev/$dev of=/dev/null bs=4096 count=1 iflag=direct 2>&1 || true\n"
              "echo 0 > %(s)s/opts; echo 0 > %(s)s/every_nth\n") % {"s": SCSI_DEBUG_SYSFS}
    return _scsi_debug(vm, "scsi-io-error", "statistics=1", reader, [r"I/O error, dev sd"], timeout)


# --- page tables and page state (pteguard_testmod) ---------------------------------------

def _testmod(vm: VM, kind: str, op: str, patterns: list[str], timeout: float) -> Injection:
    _require_vm(vm)
    started = time.monotonic()
    push_helpers(vm)
    vm.ssh("grep -q '^pteguard_testmod ' /proc/modules || insmod %s" % MODULE_PATH)
    marker = mark(vm, kind)
    proc = vm.ssh("%s pt %s" % (VICTIM, op), check=False, timeout=60)
    log = wait_for_log(vm, marker, patterns, timeout)
    m = re.search(r"addr 0x([0-9a-f]+)", proc.stdout)
    return _injection(kind, vm, marker, started, proc.stdout + proc.stderr, log, op=op, rc=proc.returncode,
                      address=("0x" + m.group(1)) if m else None)


def pte_beyond_ram(vm: VM, timeout: float = 60.0) -> Injection:
    """A test process's PTE is pointed at a frame beyond RAM; the process then unmaps it.

    zap_pte_range finds no struct page for the frame: "BUG: Bad page map in process
    pteguard-lab-vi  pte:... pmd:...", "addr:... vm_flags:... anon_vma:... mapping:0
    index:...", a call trace, and at exit "BUG: Bad rss-counter state mm:...".
    """
    return _testmod(vm, "pte-beyond-ram", "pte_beyond_ram", [r"Bad page map in process"], timeout)


def pte_reserved_bit(vm: VM, timeout: float = 60.0) -> Injection:
    """Reserved bit 51 is set in a test process's PTE and the process touches the page.

    The CPU raises a page fault with the RSVD bit: "pteguard-lab-vi[PID]: Corrupted
    page table at address 7e0000000000", the PGD/P4D/PUD/PMD/PTE walk, "Bad
    pagetable: 000d [#N] PREEMPT SMP NOPTI" (an oops; the process is killed).
    """
    return _testmod(vm, "pte-reserved-bit", "pte_reserved_bit", [r"Corrupted page table", r"Bad pagetable"],
                    timeout)


def pmd_clear_rw(vm: VM, timeout: float = 60.0) -> Injection:
    """_PAGE_RW is cleared in the PMD over a test process's mapping; the process unmaps it.

    The PMD fails pmd_bad(): "mm/pgtable-generic.c:NN: bad pmd (ptrval)(...)", and at
    exit "BUG: non-zero pgtables_bytes on freeing mm" / "BUG: Bad rss-counter state".
    """
    return _testmod(vm, "pmd-bad", "pmd_clear_rw", [r"bad pmd"], timeout)


def bad_page_state(vm: VM, timeout: float = 60.0) -> Injection:
    """An order-4 block is freed with a nonzero mapcount.

    "BUG: Bad page state in process pteguard-lab-vi  pfn:...", the page dump with
    "page dumped because: nonzero mapcount", "Modules linked in:", a call trace
    (taints B).
    """
    return _testmod(vm, "bad-page-state", "bad_page_state", [r"Bad page state in process", r"nonzero mapcount"],
                    timeout)


def kernel_oops_in_module(vm: VM, timeout: float = 60.0) -> Injection:
    """The test module reads an unmapped kernel (vmalloc guard page) address.

    "BUG: unable to handle page fault for address: ffff...", "#PF: supervisor read
    access in kernel mode", "#PF: error_code(0x0000) - not-present page", "Oops: 0000
    [#N] PREEMPT SMP NOPTI", "RIP: 0010:pteguard_oops_read_unmapped+0x../0x..
    [pteguard_testmod]"; the writing process is killed, the guest stays up.
    """
    return _testmod(vm, "kernel-oops", "oops", [r"unable to handle page fault for address", r"RIP: "], timeout)


# --- kdump ----------------------------------------------------------------------------------

KDUMP_CMDLINE = "crashkernel=192M"
KDUMP_MEMORY_MB = 768


def kdump_sysrq_crash(vm: VM, timeout: float = 300.0) -> Injection:
    """Crash the guest with sysrq and find the dump from the crash kernel.

    Needs a VM booted with KDUMP_CMDLINE (crashkernel=) and KDUMP_MEMORY_MB. Loads the
    guest's own kernel as crash kernel (`kexec -p`), then `echo c > /proc/sysrq-trigger`:
    "sysrq: Trigger a crash", "Kernel panic - not syncing: sysrq triggered crash", and
    the crash kernel boots (same disk, same SSH port). There /proc/vmcore exists and
    `vmcore-dmesg /proc/vmcore` recovers the crashed kernel's log; kernel_log is that
    log from the marker on, details.crash_cmdline the crash kernel's command line.
    """
    _require_vm(vm)
    started = time.monotonic()
    if vm.ssh("cat /sys/kernel/kexec_crash_size").stdout.strip() in ("", "0"):
        raise LabError("[%s] no crash kernel memory reserved: boot the VM with %s and %d MB "
                       "(`pteguard-lab up --kdump`)" % (vm.name, KDUMP_CMDLINE, KDUMP_MEMORY_MB))
    vm.ssh(
        "set -e; k=$(uname -r); kexec -p /boot/vmlinuz-$k --initrd=/boot/initrd.img-$k "
        "--append='root=/dev/vda rw console=ttyS0,115200 net.ifnames=0 mitigations=off panic=1 "
        "irqpoll nr_cpus=1 reset_devices'; test \"$(cat /sys/kernel/kexec_crash_loaded)\" = 1",
        timeout=120,
    )
    marker = mark(vm, "kdump-sysrq")
    vm.ssh("echo 1 > /proc/sys/kernel/sysrq; "
           "nohup sh -c 'sleep 1; echo c > /proc/sysrq-trigger' > /dev/null 2>&1 < /dev/null &")
    vm.close_master()
    # The old kernel is gone once the serial console shows the crash kernel starting.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and "reset_devices" not in log_since(vm.serial_text(), marker):
        time.sleep(1)
    vm.wait_ssh(timeout)
    cmdline = vm.ssh("cat /proc/cmdline").stdout.strip()
    proc = vm.ssh("test -e /proc/vmcore && vmcore-dmesg /proc/vmcore", timeout=180, check=False)
    log = log_since(proc.stdout, marker)
    return _injection("kdump-sysrq", vm, marker, started, proc.stderr, log, crash_cmdline=cmdline,
                      vmcore=proc.returncode == 0)


# --- registry ----------------------------------------------------------------------------

INJECTORS: dict[str, Callable[..., Injection]] = {
    "mce-corrected": mce_corrected_from_monitor,
    "mce-uncorrected-ao": mce_uncorrected_ao_from_monitor,
    "mce-fatal": mce_fatal_from_monitor,
    "mce-inject-guest": mce_inject_in_guest,
    "hwpoison-madvise": hwpoison_madvise,
    "hwpoison-corrupt-pfn": hwpoison_corrupt_pfn,
    "scsi-medium-dd": scsi_medium_error_dd,
    "scsi-medium-fio": scsi_medium_error_fio,
    "scsi-io-error": scsi_io_error,
    "pte-beyond-ram": pte_beyond_ram,
    "pte-reserved-bit": pte_reserved_bit,
    "pmd-bad": pmd_clear_rw,
    "bad-page-state": bad_page_state,
    "kernel-oops": kernel_oops_in_module,
    "kdump-sysrq": kdump_sysrq_crash,
}

# Injectors after which the guest is gone: they need a VM of their own.
DESTRUCTIVE = frozenset({"mce-fatal"})
# Injectors that need the VM booted with KDUMP_CMDLINE and KDUMP_MEMORY_MB.
NEEDS_KDUMP = frozenset({"kdump-sysrq"})
