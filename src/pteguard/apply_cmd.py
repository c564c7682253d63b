"""`pteguard apply PLAN`, `pteguard resume RUN`, `pteguard remediate` and `pteguard runs`.

apply refuses, before anything runs: a bad change ID, window or wave setting; a plan edited by hand (digest); a plan
for another inventory or an inventory changed since; a plan whose evidence changed since (it re-diagnoses,
read-only, and names what changed). Then it records the run in the run database (under --state-dir) and runs it
(apply_engine). resume continues a run from the database; remediate makes the plan and applies it in one go.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import getpass
import json
import os
import sys

from pteguard import (
    apply_engine, audit_log, change_control, exit_codes, plan_cmd, plan_file, run_db, run_dirs, terminal,
)
from pteguard.output import printable

DEFAULT_STATE_DIR = os.path.join(".pteguard", "apply")


class Refused(Exception):
    """apply/resume cannot go on; one line says why."""


def _apply_options(parser, approve_required=False):
    parser.add_argument("--approve", metavar="CHANGE-ID", required=approve_required,
                        help="approve the plan under this change ID (recorded); without it apply asks on the terminal")
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                        help="run database and run folders (default: %s)" % DEFAULT_STATE_DIR)
    parser.add_argument("--serial", default="1,100%",
                        help="waves: host counts or percentages, the last repeats (default '1,100%%': a canary, then "
                             "the rest)")
    parser.add_argument("--max-fail-percentage", default="0", metavar="N",
                        help="stop later waves when more than N%% of a wave's hosts failed (default 0)")
    parser.add_argument("--window", metavar="WINDOW",
                        help="maintenance window: no disruptive step starts outside it (%s)"
                             % change_control.WINDOW_FORMAT.replace("%", "%%"))
    parser.add_argument("--step-timeout", type=int, default=7200, metavar="SECONDS",
                        help="longest one step may run on a wave (default 7200)")
    if not approve_required:  # remediate has them from the diagnose options
        terminal.add_options(parser)


def add_parsers(subparsers):
    apply = subparsers.add_parser(
        "apply", help="run an approved plan: each host's steps, in waves, with opt-ins, window and audit log",
        description="Runs exactly the steps of PLAN (from `pteguard plan`) after approval. Refuses a plan edited "
                    "by hand, a plan for another inventory, or one whose evidence changed since it was made.")
    apply.add_argument("plan", metavar="PLAN", help="plan file written by `pteguard plan`")
    apply.add_argument("-i", "--inventory", action="append", metavar="INVENTORY",
                       help="the inventory the plan must be for (default: the plan's own)")
    _apply_options(apply)
    apply.set_defaults(func=run_apply)

    remediate = subparsers.add_parser(
        "remediate", help="plan and apply in one go, for pipelines that approve elsewhere (--approve required)",
        description="`pteguard plan` then `pteguard apply` of that plan; the plan is kept in the run folder.")
    plan_cmd.add_diagnose_options(remediate)
    _apply_options(remediate, approve_required=True)
    remediate.set_defaults(func=run_remediate, fail_on="never")

    resume = subparsers.add_parser(
        "resume", help="continue an interrupted run where each host stopped (finished steps never run again)")
    resume.add_argument("run_id", metavar="RUN", help="run ID (see `pteguard runs`)")
    resume.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    terminal.add_options(resume)
    resume.set_defaults(func=run_resume)

    runs = subparsers.add_parser("runs", help="list the runs of apply/remediate and their state")
    runs.add_argument("--state-dir", default=DEFAULT_STATE_DIR)
    runs.add_argument("--format", choices=("text", "json"), default="text")
    runs.set_defaults(func=run_runs)


def _fail(command, message):
    print("pteguard %s: %s" % (command, printable(message)), file=sys.stderr)
    return exit_codes.ERROR


def _options(args, plan):
    """The run options, validated (ValueError with one line)."""
    if args.approve is not None:
        change_control.change_id(args.approve)
    if args.step_timeout < 1:
        raise ValueError("--step-timeout must be at least 1 second")
    diag = plan["diagnose_options"] if plan else vars(args)
    return {
        "serial": change_control.serial(args.serial),
        "max_fail_percentage": change_control.percentage(args.max_fail_percentage),
        "window": change_control.window(args.window) if args.window else None,
        "forks": diag["forks"], "step_timeout": args.step_timeout, "connect_timeout": diag["connect_timeout"],
        "host_timeout": diag["host_timeout"], "host_key_checking": not diag["insecure_skip_host_key_check"],
    }


def _rediagnose(plan):
    """A fresh plan made the way `plan` was (the same inventory, limit and options): read-only on every host."""
    parser = argparse.ArgumentParser(add_help=False)
    plan_cmd.add_diagnose_options(parser)
    ns = parser.parse_args([])
    for name, value in plan["diagnose_options"].items():
        setattr(ns, name, value)
    ns.inventory = [entry["path"] for entry in plan["inventory"]["paths"]]
    ns.steps = plan["steps_requested"]
    return plan_cmd.make_plan(ns)


def _evidence_refusal(plan, fresh):
    changes = plan_file.host_list_changes(plan["inventory"]["hosts"], fresh["inventory"]["hosts"])
    now = {host["host"]: host for host in fresh["hosts"]}
    for host in plan["hosts"]:
        if host["host"] in now:
            changes.extend(plan_file.evidence_changes(host["host"], host["evidence"], now[host["host"]]["evidence"]))
    return changes


def _approve(args, plan):
    if args.approve is not None:
        return args.approve
    if not sys.stdin.isatty():
        raise Refused("no approval: give --approve CHANGE-ID (or run on a terminal to approve interactively)")
    print(plan_cmd.format_plan(plan))
    try:
        answer = input("Change ID to approve this plan (empty cancels): ").strip()
    except EOFError:
        answer = ""
    if not answer:
        raise Refused("not approved: nothing was run")
    try:
        return change_control.change_id(answer)
    except ValueError as exc:
        raise Refused(str(exc))


def _who():
    user = getpass.getuser()
    sudo = os.environ.get("SUDO_USER")
    return "%s (sudo from %s)" % (user, sudo) if sudo and sudo != user else user


@contextlib.contextmanager
def _locked(run_dir):
    """One controller per run at a time (a resume while the apply still runs is refused)."""
    fd = os.open(os.path.join(run_dir, ".lock"), os.O_RDWR | os.O_CREAT, 0o640)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused("run %s is being run by another pteguard process" % os.path.basename(run_dir))
        yield
    finally:
        os.close(fd)


def _start(command, args, plan, options, change_id):
    state_dir = os.path.abspath(args.state_dir)
    os.makedirs(state_dir, exist_ok=True)
    run_id = run_dirs.run_id()
    run_dir = run_dirs.make(state_dir, run_id)
    db = run_db.RunDB(state_dir)
    inventories = [entry["path"] for entry in plan["inventory"]["paths"]]
    stored = dict(options, inventories=inventories, collections=plan["collections"])
    with _locked(run_dir):
        plan_cmd.write_plan(os.path.join(run_dir, "plan.json"), plan)
        db.create_run(run_id, _who(), change_id, plan, stored, run_dir)
        audit = audit_log.AuditLog(run_dir, run_id, _who(), change_id)
        audit.write("approve", result="approved", message="plan %s by %s" % (plan["digest"], command))
        return _execute(db, audit, run_id, run_dir, plan, stored, change_id)


def _execute(db, audit, run_id, run_dir, plan, stored, change_id):
    hostvars = {host["host"]: host.get("opt_in_values") or {} for host in plan["hosts"]}
    stepvars = {host["host"]: {step["step"]: step.get("vars") or {} for step in host["steps"]}
                for host in plan["hosts"]}
    run = apply_engine.Run(db=db, audit=audit, run_id=run_id, run_dir=run_dir, change_id=change_id,
                           inventories=stored["inventories"], hostvars=hostvars, collections=stored["collections"],
                           options=stored, stepvars=stepvars)
    code, _signal = apply_engine.execute(run)
    return _emit(db, run_id, run_dir, code)


def run_apply(args):
    try:
        plan = plan_file.load(args.plan)
        options = _options(args, plan)
        changes = plan_file.inventory_changes(plan["inventory"], args.inventory)
        if changes:
            raise Refused("refused: " + "; ".join(changes))
        _code_now, fresh = _rediagnose(plan)
        if fresh is None:
            raise Refused("refused: the hosts could not be diagnosed again to compare the evidence")
        changes = _evidence_refusal(plan, fresh)
        if changes:
            raise Refused("refused: the evidence changed since the plan was made: " + "; ".join(changes))
        change_id = _approve(args, plan)
        return _start("apply", args, plan, options, change_id)
    except (plan_file.PlanError, Refused, ValueError) as exc:
        return _fail("apply", str(exc))
    except OSError as exc:
        return _fail("apply", "run state not written: %s" % exc)


def run_remediate(args):
    try:
        options = _options(args, None)
        code, plan = plan_cmd.make_plan(args)
        if plan is None:
            return code
        if not terminal.quiet() and not terminal.json_output():
            print(plan_cmd.format_plan(plan))
        return _start("remediate", args, plan, options, args.approve)
    except (Refused, ValueError) as exc:
        return _fail("remediate", str(exc))
    except OSError as exc:
        return _fail("remediate", "run state not written: %s" % exc)


def run_resume(args):
    state_dir = os.path.abspath(args.state_dir)
    if not os.path.isfile(os.path.join(state_dir, run_db.FILE)):
        return _fail("resume", "no run database in %s" % state_dir)
    db = run_db.RunDB(state_dir)
    record = db.run(args.run_id)
    if record is None:
        return _fail("resume", "no run %s in %s (see `pteguard runs`)" % (args.run_id, state_dir))
    plan, stored = json.loads(record["plan"]), json.loads(record["options"])
    if record["status"] in ("finished", "stopped"):
        if not terminal.quiet() and not terminal.json_output():
            print("run %s is %s: nothing to do" % (record["id"], record["status"]))
        return _emit(db, record["id"], record["run_dir"], _code(db, record["id"]))
    try:
        with _locked(record["run_dir"]):
            changes = plan_file.inventory_changes(plan["inventory"])
            if changes:
                raise Refused("refused: " + "; ".join(changes))
            audit = audit_log.AuditLog(record["run_dir"], record["id"], _who(), record["change_id"])
            stopped = apply_engine.stop_leftovers(record["id"])
            requeued = db.requeue_running(record["id"])
            audit.write("resume", result=record["status"], message="%d left-over processes stopped; %s run again" % (
                stopped, ", ".join("%s on %s" % (s, h) for h, s in requeued) or "no interrupted step"))
            db.set_run(record["id"], "running")
            return _execute(db, audit, record["id"], record["run_dir"], plan, stored, record["change_id"])
    except Refused as exc:
        return _fail("resume", str(exc))


def _code(db, run_id):
    return exit_codes.worst(apply_engine.STATE_CODES.get(h["state"], exit_codes.CLEAN) for h in db.hosts(run_id))


def _emit(db, run_id, run_dir, code):
    hosts = [dict(host, steps=db.steps(run_id, host["host"])) for host in db.hosts(run_id)]
    if terminal.json_output():
        terminal.emit(json.dumps({"run": run_id, "run_dir": run_dir, "exit_code": code, "hosts": [
            {"host": h["host"], "state": h["state"], "detail": h["detail"],
             "steps": [{k: s[k] for k in ("step", "status", "outcome", "detail")} for s in h["steps"]]}
            for h in hosts]}, indent=1, default=str))
        return code
    rows, notes = [], []
    for host in hosts:
        steps = ", ".join("%s %s%s" % (s["step"], s["status"], " (%s)" % s["outcome"] if s["outcome"] else "")
                          for s in host["steps"]) or "-"
        rows.append((host["host"], host["state"], steps, host["detail"] or "-"))
        notes.extend(printable("note: %s: %s %s: %s" % (host["host"], s["step"], s["status"], s["detail"]))
                     for s in host["steps"] if s["status"] in ("skipped", "failed") and s["detail"])
    lines = [terminal.table(("HOST", "STATE", "STEPS", "DETAIL"), rows, coloured=(1,))] + notes
    lines.append(printable("run: %s (%s); exit %d (%s)" % (run_id, run_dir, code, terminal.code_name(code))))
    terminal.emit("\n".join(lines))
    return code


def run_runs(args):
    state_dir = os.path.abspath(args.state_dir)
    if not os.path.isfile(os.path.join(state_dir, run_db.FILE)):
        print("no runs in %s" % printable(state_dir))
        return exit_codes.CLEAN
    db = run_db.RunDB(state_dir)
    runs = []
    for record in db.runs():
        states = {}
        for host in db.hosts(record["id"]):
            states[host["state"]] = states.get(host["state"], 0) + 1
        runs.append({"id": record["id"], "created": record["created"], "who": record["who"],
                     "change_id": record["change_id"], "status": record["status"], "hosts": states,
                     "plan_digest": record["plan_digest"], "run_dir": record["run_dir"]})
    if args.format == "json":
        print(json.dumps({"runs": runs}, indent=1))
    else:
        print("RUN  CREATED  WHO  CHANGE  STATUS  HOSTS")
        for r in runs:
            states = ", ".join("%s %d" % kv for kv in sorted(r["hosts"].items()))
            cells = (r["id"], r["created"], r["who"], r["change_id"], r["status"], states)
            print(printable("  ".join(cells)))
    return exit_codes.CLEAN
