"""The steps the runner can take on a host, as data: one row per step.

A step that lands later (its role and playbook) is one row here; until its playbook is installed with the
collection, plans show it as "not available in this version" and apply skips it with that reason.

Each row says:
- `number`: the step's number in the six-step resolution (diagnosis.STEPS; 7 is disk health);
- `playbook`: the FQCN ansible-runner runs, limited to the hosts at that step;
- `opt_ins`: host variables (host or group vars) that must all be true on a host before the step runs there;
- `reboots` / `writes` / `loads`: what the step may do to a host (any makes it disruptive: the maintenance window
  applies);
- the evidence that sends a host to it is the diagnosis' own table (diagnosis.NEXT_STEPS, by step number):
  `causes_for(step)`;
- `outcomes`: what the step's result means for the next state (host_states.TRANSITIONS reads it);
- `diagnosis_vars`: the role variables the runner fills from the host's diagnosis (variable -> what it takes: a
  cause subject kind such as `module` or `device`, `oopses` for the oops findings, `device_findings` for the findings
  that name a device); step_vars() computes them.

A step reports its result with the fact `pteguard_step_result: {outcome: WORD, evidence: [...]}` (set_fact in its
role); a step that sets none and finishes counts as outcome `ok`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from pteguard.parsers.diagnosis import NEXT_STEPS


@dataclass(frozen=True)
class Step:
    name: str
    number: int
    playbook: str
    title: str
    opt_ins: tuple = ()
    reboots: bool = False
    writes: bool = False
    loads: bool = False
    outcomes: dict = field(default_factory=dict)
    diagnosis_vars: dict = field(default_factory=dict)

    @property
    def disruptive(self):
        return self.reboots or self.writes or self.loads

    def playbook_file(self, collections):
        """Where the installed collection keeps this step's playbook."""
        short = self.playbook.rsplit(".", 1)[-1]
        return os.path.join(collections, "ansible_collections", "pteguard", "remediation", "playbooks",
                            short + ".yml")


# Run order on a host: read-only steps that use the evidence already on the host first (symbolize an oops, read
# disk health), then the offline memory test, the kernel update, the controlled reproduction, and monitoring last.
STEPS = (
    Step("debug", 6, "pteguard.remediation.debug", "symbolize oopses, kdump readiness",
         outcomes={"symbolized": "next", "ok": "next", "nothing_to_symbolize": "next"},
         diagnosis_vars={"debug_oopses": "oopses", "debug_report_dir": "report_dir"}),
    # a self-test and a read-only badblocks scan write nothing, but they load the disk: the window applies
    Step("disk_health", 7, "pteguard.remediation.disk_health", "SMART long self-test and read-only badblocks",
         opt_ins=("disk_health_self_test_ok",), loads=True,
         outcomes={"failing": "replace_disk", "healthy": "next", "ok": "next"},
         diagnosis_vars={"disk_health_devices": "device"}),
    Step("memory_test", 2, "pteguard.remediation.memory_test", "memtest86+ on the next boot, or memtester online",
         opt_ins=("memory_test_reboot_ok",), reboots=True, writes=True,
         outcomes={"errors": "replace_dimm", "clean": "next", "ok": "next"}),
    Step("kernel_update", 3, "pteguard.remediation.kernel_update", "kernel, driver and microcode update",
         # installing is the runner's opt-in; the role itself reboots only with kernel_update_reboot_ok
         opt_ins=("pteguard_allow_kernel_update",), reboots=True, writes=True,
         outcomes={"updated": "next", "current": "next", "ok": "next"},
         diagnosis_vars={"kernel_update_blamed_module": "module"}),
    Step("stress", 5, "pteguard.remediation.stress", "controlled reproduction (read-only I/O and memory load)",
         opt_ins=("stress_ok",), loads=True,
         outcomes={"reproduced": "next", "not_reproduced": "hw_monitor", "ok": "next"},
         diagnosis_vars={"stress_target": "device", "stress_findings": "device_findings",
                         "stress_report_dir": "report_dir"}),
    Step("hw_monitor", 4, "pteguard.remediation.hw_monitor", "install and enable rasdaemon or mcelog",
         opt_ins=("pteguard_allow_hw_monitor",), writes=True,
         outcomes={"ok": "next"}),
)

BY_NAME = {step.name: step for step in STEPS}
ORDER = {step.name: index for index, step in enumerate(STEPS)}


BY_NUMBER = {step.number: step for step in STEPS}


def causes_for(step):
    """The probable causes whose next steps (diagnosis.NEXT_STEPS) include this step."""
    return tuple(cause for cause, steps in NEXT_STEPS.items() if any(number == step.number for number, _t in steps))


def unknown(names):
    """The names among `names` that are no step (for a clear error on --steps)."""
    return [name for name in names if name not in BY_NAME]


def available(step, collections):
    return os.path.isfile(step.playbook_file(collections))


def true_value(value):
    """An opt-in is on only when plainly true (INI inventories give strings)."""
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "on")


def missing_opt_ins(step, hostvars):
    return [name for name in step.opt_ins if not true_value((hostvars or {}).get(name))]


# oops records passed to a step (the symbolizer reads each one whole; the first few are the telling ones)
MAX_OOPSES = 5
MAX_FINDINGS = 20


def diagnosis_var_names():
    return sorted({name for step in STEPS for name in step.diagnosis_vars})


def _oopses(findings):
    return [f for f in findings or [] if isinstance(f, dict) and (
        f.get("category") == "kernel_oops" or "kernel_oops" in (f.get("also_categories") or []))][:MAX_OOPSES]


# a device the diagnosis names is passed on only when it is a block device (an ATA link such as ata1, or an NVMe
# controller without its namespace, is not something a step can read)
_BLOCK_DEVICE = re.compile(r"^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+|nvme\d+n\d+|mmcblk\d+|sr\d+|dm-\d+|md\d+)$")


def _device_findings(findings):
    return [f for f in findings or [] if isinstance(f, dict) and f.get("device")][:MAX_FINDINGS]


def _subject_value(kind, causes):
    for cause in causes:
        value = str((cause.get("subject") or {}).get(kind) or "")
        if kind == "device":
            value = value[len("/dev/"):] if value.startswith("/dev/") else value
            if _BLOCK_DEVICE.match(value):
                return "/dev/" + value
        elif value:
            return value
    return None


def step_vars(step, causes, findings, hostvars, report=None):
    """The variables the runner passes to `step` on a host: what its diagnosis named (the subject of the causes that
    sent it there, its oops records), except a variable the inventory already sets for the host (the user's value
    wins). `causes`: the diagnosis' causes in rank order; `findings`: the kernel-log findings of its report;
    `report`: the path of that report, whose folder the step adds its result to (report_section)."""
    out = {}
    for name, source in step.diagnosis_vars.items():
        if name in (hostvars or {}):
            continue
        if source == "report_dir":
            value = os.path.dirname(os.path.abspath(report)) if report else None
        elif source == "oopses":
            value = _oopses(findings)
        elif source == "device_findings":
            value = _device_findings(findings)
        else:
            value = _subject_value(source, causes)
        if value:
            out[name] = value
    return out
