"""`pteguard plan`: diagnose (read-only), then write what would run where and why, as a sealed JSON plan.

Each host's steps come from its diagnosis (host_states.warranted_steps); each step says whether its playbook is
installed, which opt-ins it still lacks on that host, and the evidence behind it. Nothing changes on any host.
"""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
import os
import sys

from pteguard import (
    atomic_file, compliance_cmd, diagnose, exit_codes, fleet_view, host_states, inventory_vars, plan_file,
    remediation_steps, run_dirs, runner, terminal,
)
from pteguard.output import printable

# diagnose options a plan records, so apply re-diagnoses the same way
DIAGNOSE_OPTIONS = ("limit", "boots", "since", "forks", "connect_timeout", "host_timeout", "timeout",
                    "insecure_skip_host_key_check", "collections_path", "report_dir", "work_dir", "keep_runs")
_NOT_EVALUATED_CODES = {"unreachable": exit_codes.ERROR, "failed": exit_codes.ERROR, "timeout": exit_codes.TIMEOUT,
                        "interrupted": exit_codes.TIMEOUT, "incomplete": exit_codes.INCOMPLETE}


def step_list(text):
    """The step names of --steps; ValueError naming the unknown ones (checked before anything runs)."""
    if text is None or isinstance(text, list):
        return text
    names = [name.strip() for name in text.split(",") if name.strip()]
    bad = remediation_steps.unknown(names)
    if bad or not names:
        raise ValueError("--steps: unknown step %s (steps: %s)" % (
            ", ".join(repr(b) for b in bad) or "''", ", ".join(remediation_steps.BY_NAME)))
    return names


def add_diagnose_options(parser):
    """The diagnose options (inventory, limit, timeouts, host keys...) on `parser`, without the severity gate."""
    diagnose.add_parser(compliance_cmd.DiagnoseOptions(parser))
    for action in parser._actions:
        if action.dest in ("fail_on", "format", "report_formats"):
            action.help = argparse.SUPPRESS
    parser.add_argument("--steps", metavar="STEP,...",
                        help="only these steps (%s)" % ", ".join(remediation_steps.BY_NAME))


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "plan", help="diagnose, then write which steps would run on which host and why (changes nothing)",
        description="Runs the diagnose collection (read-only) and writes a plan: each host's steps from its "
                    "diagnosis, the opt-ins each step still lacks, and the evidence, sealed with a sha256 digest.")
    add_diagnose_options(parser)
    parser.add_argument("--output", required=True, metavar="PLAN.json", help="where to write the plan")
    parser.set_defaults(func=run, fail_on="never")
    return parser


def _opt_in_names():
    return sorted({name for step in remediation_steps.STEPS for name in step.opt_ins})


def host_entry(row, report, hostvars, collections, requested):
    parts = plan_file.evidence_parts(row, report)
    diagnosis = (report or {}).get("diagnosis") if row["status"] == "ok" else None
    warranted = host_states.warranted_steps(row["status"], diagnosis, requested)
    findings = ((report or {}).get("kernel_log") or {}).get("findings") if diagnosis else None
    steps = []
    for name, reasons in warranted["steps"]:
        step = remediation_steps.BY_NAME[name]
        missing = remediation_steps.missing_opt_ins(step, hostvars)
        available = remediation_steps.available(step, collections)
        causes_here = [c for c in (diagnosis or {}).get("causes") or []
                       if c["cause"] in remediation_steps.causes_for(step)]
        steps.append({
            "step": name, "number": step.number, "playbook": step.playbook, "title": step.title,
            "available": available, "reboots": step.reboots, "writes": step.writes, "loads": step.loads,
            "opt_ins": list(step.opt_ins), "missing_opt_ins": missing, "why": reasons,
            # what the diagnosis named, passed to the step's role on this host (apply writes it as host vars)
            "vars": remediation_steps.step_vars(step, causes_here, findings, hostvars, row.get("report")),
            "will": ("skip: not available in this version" if not available else
                     "skip: missing opt-in %s" % ", ".join(missing) if missing else "run"),
        })
    causes = [{"cause": c["cause"], "confidence": c.get("confidence"), "subject": c.get("subject"),
               "evidence": (c.get("evidence") or [])[:5]} for c in (diagnosis or {}).get("causes") or []]
    return {
        "host": row["host"], "status": row["status"], "message": row.get("message"),
        "report": row.get("report"), "evidence": plan_file.evidence_digests(parts), "causes": causes,
        "state": host_states.initial_state(steps) if row["status"] == "ok" else "not_evaluated",
        "steps": steps, "held_back": warranted["held_back"],
        # the opt-ins as the inventory set them when the plan was made (apply checks the inventory is unchanged)
        "opt_in_values": {name: remediation_steps.true_value((hostvars or {}).get(name)) for name in _opt_in_names()},
        "vars_from_inventory": sorted(set(hostvars or {}) & set(remediation_steps.diagnosis_var_names())),
    }


def make_plan(args):
    """(exit code, plan or None): diagnose, then the plan of every host. Errors are printed."""
    inventories = args.inventory or [diagnose._default_inventory()]
    args.inventory = inventories
    try:
        args.steps = step_list(args.steps)
        collections = runner.collections_path(args.collections_path)
    except (runner.RunnerError, ValueError) as exc:
        return fail("plan", str(exc)), None
    code, document = compliance_cmd.collect(args)
    if document is None:
        return code, None  # diagnose said why on stderr (bad inventory, no host, ...)
    record, rows = document["run"], document["hosts"]
    try:
        env = runner.run_environment(collections, run_dirs.run_id())
        hostvars = inventory_vars.host_vars(inventories, env,
                                            _opt_in_names() + remediation_steps.diagnosis_var_names())
        reports = {row["host"]: fleet_view.read_json(row["report"]) for row in rows
                   if row["status"] == "ok" and row.get("report")}
        inventory = plan_file.inventory_record(inventories, [row["host"] for row in rows], args.limit)
    except (runner.RunnerError, fleet_view.ViewError, OSError) as exc:
        return fail("plan", str(exc)), None
    hosts = [host_entry(row, reports.get(row["host"]), hostvars.get(row["host"]), collections, args.steps)
             for row in rows]
    plan = plan_file.seal({
        "schema": plan_file.SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created_by": getpass.getuser(),
        "diagnosis_run": {"id": record["id"], "report_dir": record["report_dir"]},
        "inventory": inventory, "steps_requested": args.steps,
        "diagnose_options": _diagnose_options(args),
        "collections": collections,
        "state_machine": {"states": host_states.STATES, "transitions": host_states.transitions()},
        "hosts": hosts,
    })
    code = exit_codes.worst(_NOT_EVALUATED_CODES.get(h["status"], exit_codes.CLEAN) for h in hosts)
    return code, plan


def _diagnose_options(args):
    """The diagnose options as apply must repeat them, folders made absolute (apply may run elsewhere)."""
    options = {name: getattr(args, name) for name in DIAGNOSE_OPTIONS}
    for name in ("report_dir", "work_dir", "collections_path"):
        if options[name]:
            options[name] = os.path.abspath(options[name])
    return options


def fail(command, message):
    print("pteguard %s: %s" % (command, printable(message)), file=sys.stderr)
    return exit_codes.ERROR


def format_plan(plan):
    rows = []
    for host in plan["hosts"]:
        if not host["steps"]:
            why = host.get("message") or host_states.STATES.get(host["state"], "")
            rows.append((host["host"], host["state"], "-", "-", why))
        for step in host["steps"]:
            rows.append((host["host"], host["state"], step["step"], step["will"], step["why"][0]))
        for held in host["held_back"]:
            rows.append((host["host"], host["state"], held["step"], "held back", held["why"]))
    return terminal.table(("HOST", "STATE", "STEP", "WILL", "WHY"), rows, coloured=(1, 3))


def write_plan(path, plan):
    atomic_file.write(path, json.dumps(plan, indent=1, sort_keys=True) + "\n", mode=0o600)


def run(args):
    code, plan = make_plan(args)
    if plan is None:
        return code
    try:
        write_plan(args.output, plan)
    except OSError as exc:
        return fail("plan", "plan not written to %s: %s" % (args.output, exc))
    if args.format == "json":
        terminal.emit(json.dumps(plan, indent=1, sort_keys=True))
    else:
        terminal.emit("%s\nplan: %s (sha256 %s)" % (format_plan(plan), printable(os.path.abspath(args.output)),
                                                    plan["digest"]))
    return code
