"""`pteguard-lab`: a disposable fleet on one machine and real faults.

    pteguard-lab build [--force] [--kind grub]  build (or reuse) the cached image (grub: boots its own GRUB)
    pteguard-lab up [--vms N] [--containers N] [--kdump]
    pteguard-lab status
    pteguard-lab kinds                        list the fault kinds
    pteguard-lab inject KIND [--vm NAME] [--json]
    pteguard-lab ssh NAME [COMMAND...]        print (or run) an SSH command for a host
    pteguard-lab inventory [--output FILE]    Ansible inventory (groups lab_vms, lab_containers)
    pteguard-lab down

State (which guests run where) lives in $PTEGUARD_LAB_STATE, default ./.lab.
The image cache is $PTEGUARD_LAB_CACHE, default /var/cache/pteguard-lab.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import injectors
from .container import Container
from .image import Image, get_image
from .util import LabError
from .vm import VM, boot_vms, probe_accel

MAX_VMS = 6
MAX_CONTAINERS = 20


def state_dir(arg: str | None = None) -> Path:
    return Path(arg or os.environ.get("PTEGUARD_LAB_STATE") or ".lab").resolve()


def _load(sdir: Path) -> dict:
    path = sdir / "state.json"
    if not path.is_file():
        return {"vms": [], "containers": []}
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise LabError("unreadable lab state %s: %s (run `pteguard-lab down --state %s`)" % (path, exc, sdir)) from None


def _save(sdir: Path, state: dict) -> None:
    sdir.mkdir(parents=True, exist_ok=True)
    tmp = sdir / "state.json.tmp"
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(sdir / "state.json")


def _say(text: str) -> None:
    print(text, flush=True)


def cmd_build(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.kind == "grub":
        from .grub_image import get_grub_image

        image = get_grub_image(force=args.force, log=_say)
    else:
        image = get_image(force=args.force, log=_say)
    _say("image %s (kernel %s) ready in %.1fs" % (image.root, image.kernel_version, time.monotonic() - started))
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    if not 0 <= args.vms <= MAX_VMS or not 0 <= args.containers <= MAX_CONTAINERS:
        raise LabError("--vms must be 0..%d and --containers 0..%d" % (MAX_VMS, MAX_CONTAINERS))
    sdir = state_dir(args.state)
    state = _load(sdir)
    if state["vms"] or state["containers"]:
        raise LabError("a lab is already up in %s: run `pteguard-lab down` first" % sdir)
    image = get_image(log=_say)
    accel = probe_accel(image) if args.vms else "tcg"
    started = time.monotonic()
    names = ["vm%d" % (i + 1) for i in range(args.vms)]
    kdump = {"memory_mb": injectors.KDUMP_MEMORY_MB, "extra_cmdline": injectors.KDUMP_CMDLINE}
    overrides = {n: kdump for n in names} if args.kdump else {}
    vms = boot_vms(image, names, sdir, accel=accel, detach=True, overrides=overrides) if names else []
    state["vms"] = [vm.to_dict() for vm in vms]
    _save(sdir, state)
    cts = []
    try:
        for i in range(args.containers):
            ct = Container.create(image, "ct%d" % (i + 1), sdir)
            ct.start(detach=True)
            cts.append(ct)
        for ct in cts:
            ct.wait_ssh()
    finally:
        state["containers"] = [ct.to_dict() for ct in cts]
        _save(sdir, state)
    _say("lab up in %.0fs (%s), state in %s" % (time.monotonic() - started, accel, sdir))
    _print_hosts(state)
    return 0


def _print_hosts(state: dict) -> None:
    for data in state["vms"]:
        vm = VM.from_dict(data)
        _say("  vm        %-6s %-8s ssh -p %d root@127.0.0.1   %s" % (
            vm.name, "running" if vm.running() else "stopped", vm.port, vm.serial_log))
    for data in state["containers"]:
        ct = Container.from_dict(data)
        _say("  container %-6s %-8s ssh -p %d root@%s  (host kernel: no faults here)" % (
            ct.name, "running" if ct.running() else "stopped", ct.port, ct.address))


def cmd_status(args: argparse.Namespace) -> int:
    state = _load(state_dir(args.state))
    if not state["vms"] and not state["containers"]:
        _say("no lab is up")
        return 0
    _print_hosts(state)
    return 0


def cmd_kinds(args: argparse.Namespace) -> int:
    for kind, func in injectors.INJECTORS.items():
        doc = (func.__doc__ or "").strip().splitlines()[0]
        note = "  [kills the guest]" if kind in injectors.DESTRUCTIVE else ""
        note += "  [needs `up --kdump`]" if kind in injectors.NEEDS_KDUMP else ""
        _say("%-22s %s%s" % (kind, doc, note))
    return 0


def _find_vm(state: dict, name: str | None) -> VM:
    vms = [VM.from_dict(d) for d in state["vms"]]
    if not vms:
        raise LabError("no lab VM is up: run `pteguard-lab up --vms 1`")
    if name is None:
        return vms[0]
    for vm in vms:
        if vm.name == name:
            return vm
    if any(c["name"] == name for c in state["containers"]):
        raise LabError("%s is a container: it shares the host's kernel, faults are injected into VMs only" % name)
    raise LabError("no lab VM named %s (have: %s)" % (name, ", ".join(v.name for v in vms)))


def cmd_inject(args: argparse.Namespace) -> int:
    func = injectors.INJECTORS.get(args.kind)
    if func is None:
        raise LabError("unknown fault kind %r; known: %s" % (args.kind, ", ".join(injectors.INJECTORS)))
    vm = _find_vm(_load(state_dir(args.state)), args.vm)
    if not vm.running():
        raise LabError("VM %s is not running (see `pteguard-lab status`)" % vm.name)
    result = func(vm)
    if args.json:
        _say(json.dumps(result.as_dict(), indent=2))
    else:
        _say("injected %s into %s in %.1fs; the guest kernel printed:" % (result.kind, vm.name, result.seconds))
        sys.stdout.write(result.kernel_log if result.kernel_log.endswith("\n") else result.kernel_log + "\n")
        if args.kind in injectors.DESTRUCTIVE:
            _say("(%s is gone now: `pteguard-lab down` and `up` again for a fresh one)" % vm.name)
    return 0


def cmd_ssh(args: argparse.Namespace) -> int:
    state = _load(state_dir(args.state))
    for data in state["containers"]:
        if data["name"] == args.name:
            argv = Container.from_dict(data).ssh_argv(" ".join(args.command) or "true")
            break
    else:
        argv = _find_vm(state, args.name)._ssh_base("none") + ["root@127.0.0.1"]
        argv += [" ".join(args.command)] if args.command else []
    if not args.command:
        _say(shlex.join(a for a in argv if a != "true"))
        return 0
    return subprocess.run(argv, timeout=args.timeout, stdin=subprocess.DEVNULL, check=False).returncode


def inventory(state: dict) -> dict:
    """An Ansible inventory (YAML-compatible JSON) for the lab's hosts: groups lab_vms, lab_containers."""
    def host_vars(img_root: str, address: str, port: int, kind: str) -> dict:
        image = Image(Path(img_root))
        return {
            "ansible_host": address, "ansible_port": port, "ansible_user": "root",
            "ansible_ssh_private_key_file": str(image.ssh_key),
            "ansible_ssh_common_args": "-o UserKnownHostsFile=%s -o HostKeyAlias=pteguard-lab "
                                       "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes" % image.known_hosts,
            "ansible_python_interpreter": "/usr/bin/python3",
            "pteguard_lab_kind": kind,
        }

    vms = {}
    for data in state["vms"]:
        vms["lab-" + data["name"]] = dict(host_vars(data["image_root"], "127.0.0.1", data["port"], "vm"),
                                          pteguard_lab_serial_log=str(Path(data["workdir"]) / "serial.log"))
    cts = {"lab-" + d["name"]: host_vars(d["image_root"], d["address"], d["port"], "container")
           for d in state["containers"]}
    return {"all": {"children": {"lab_vms": {"hosts": vms}, "lab_containers": {"hosts": cts}}}}


def cmd_inventory(args: argparse.Namespace) -> int:
    text = json.dumps(inventory(_load(state_dir(args.state))), indent=2) + "\n"
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    sdir = state_dir(args.state)
    state = _load(sdir)
    errors = []
    for data in state["containers"]:
        try:
            Container.from_dict(data).stop()
        except LabError as exc:
            errors.append(str(exc))
    for data in state["vms"]:
        try:
            VM.from_dict(data).stop()
        except LabError as exc:
            errors.append(str(exc))
    if errors:
        raise LabError("; ".join(errors))
    for data in state["vms"] + state["containers"]:
        shutil.rmtree(data["workdir"], ignore_errors=True)
    (sdir / "state.json").unlink(missing_ok=True)
    _say("lab down (%d VMs, %d containers stopped)" % (len(state["vms"]), len(state["containers"])))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pteguard-lab", description="Disposable lab guests and real faults.")
    parser.add_argument("--state", help="lab state directory (default $PTEGUARD_LAB_STATE or ./.lab)")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("build", help="build or reuse the cached Debian 12 lab image")
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--kind", choices=["direct", "grub"], default="direct",
                   help="direct: the image VMs boot with -kernel (default); grub: a partitioned disk that boots "
                        "through its own GRUB (built on the direct one)")
    p.set_defaults(func=cmd_build)
    p = sub.add_parser("up", help="boot lab VMs and containers")
    p.add_argument("--vms", type=int, default=1)
    p.add_argument("--containers", type=int, default=0)
    p.add_argument("--kdump", action="store_true", help="reserve crash kernel memory (for kdump-sysrq)")
    p.set_defaults(func=cmd_up)
    sub.add_parser("status", help="show the lab's hosts").set_defaults(func=cmd_status)
    sub.add_parser("kinds", help="list fault kinds").set_defaults(func=cmd_kinds)
    p = sub.add_parser("inject", help="inject a real fault into a lab VM")
    p.add_argument("kind")
    p.add_argument("--vm", help="VM name (default: the first)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_inject)
    p = sub.add_parser("ssh", help="print or run an SSH command for a lab host")
    p.add_argument("name")
    p.add_argument("command", nargs=argparse.REMAINDER)
    p.add_argument("--timeout", type=float, default=300.0)
    p.set_defaults(func=cmd_ssh)
    p = sub.add_parser("inventory", help="write an Ansible inventory of the lab's hosts")
    p.add_argument("--output", help="file to write (default: stdout)")
    p.set_defaults(func=cmd_inventory)
    sub.add_parser("down", help="stop every lab host").set_defaults(func=cmd_down)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point for `pteguard-lab ...`; returns an exit code, never a traceback for lab errors."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except LabError as exc:
        sys.stderr.write("pteguard-lab: error: %s\n" % exc)
        return 2
    except subprocess.TimeoutExpired as exc:
        sys.stderr.write("pteguard-lab: error: timed out: %s\n" % exc)
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("pteguard-lab: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
