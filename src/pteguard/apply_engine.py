"""Runs a recorded run's steps host by host, wave by wave, from the state in the run database.

The same code serves `apply` (a new run) and `resume` (a run a killed controller or a closed window left open): it
only ever looks at the database for what is left, so a finished step never runs twice and a finished run does
nothing. Every step of a wave runs through runner.run_playbook (host keys checked unless the plan said otherwise),
limited to the hosts at that step; each host's result is committed before the next decision.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from pteguard import (
    change_control, exit_codes, host_states, remediation_steps, reproduce_script, run_dirs, run_processes, runner,
    step_results,
)

# host state -> exit code (the most serious wins, as for every command)
STATE_CODES = {"failed": exit_codes.ERROR, "unreachable": exit_codes.ERROR, "lost": exit_codes.ERROR,
               "timeout": exit_codes.TIMEOUT, "interrupted": exit_codes.TIMEOUT, "skipped": exit_codes.INCOMPLETE,
               "waiting_for_window": exit_codes.INCOMPLETE, "stopped": exit_codes.INCOMPLETE,
               "not_evaluated": exit_codes.INCOMPLETE, "planned": exit_codes.INCOMPLETE,
               "replace_dimm": exit_codes.FINDINGS, "replace_disk": exit_codes.FINDINGS}
_OPEN = ("planned", "waiting_for_window")


@dataclass
class Run:
    db: object
    audit: object
    run_id: str
    run_dir: str
    change_id: str
    inventories: list
    hostvars: dict
    collections: str
    options: dict  # serial, max_fail_percentage, window, forks, step_timeout, connect/host timeouts, host keys
    stepvars: dict = field(default_factory=dict)  # {host: {step: {var: value}}}: what the plan's diagnosis named


def _environment(run):
    return runner.run_environment(run.collections, run.run_id, host_key_checking=run.options["host_key_checking"],
                                  connect_timeout=run.options["connect_timeout"],
                                  task_timeout=run.options["host_timeout"])


def stop_leftovers(run_id):
    """Processes a killed controller of this run left running (ansible-playbook, ssh): stopped before resuming."""
    return run_processes.stop(run_id)


def execute(run):
    """Run what is left; returns (exit code, signal number or None)."""
    hosts = run.db.hosts(run.run_id)
    waves = change_control.waves([h["host"] for h in hosts], run.options["serial"])
    stopped_at = None
    for number, wave in enumerate(waves, start=1):
        if stopped_at is not None:
            for host in wave:
                if _state(run, host) in _OPEN:
                    run.db.set_host(run.run_id, host, "stopped", "wave %d failed beyond --max-fail-percentage %d"
                                    % (stopped_at, run.options["max_fail_percentage"]))
                    run.audit.write("skip", host=host, result="stopped", message="an earlier wave failed")
            continue
        signal_number = _run_wave(run, wave)
        if signal_number is not None:
            run.db.set_run(run.run_id, "interrupted")
            return 128 + signal_number, signal_number
        failed = [h for h in wave if _state(run, h) in ("failed", "unreachable", "lost", "timeout")]
        if failed and 100.0 * len(failed) / len(wave) > run.options["max_fail_percentage"]:
            stopped_at = number
            run.audit.write("wave_stopped", result="stopped", message="wave %d: %d of %d hosts failed (%s)" % (
                number, len(failed), len(wave), ", ".join(failed)))
    states = [h["state"] for h in run.db.hosts(run.run_id)]
    status = "waiting_for_window" if "waiting_for_window" in states else \
        "stopped" if stopped_at is not None else "finished"
    run.db.set_run(run.run_id, status)
    run.audit.write("run_" + status)
    return exit_codes.worst(STATE_CODES.get(state, exit_codes.CLEAN) for state in states), None


def _state(run, host):
    return run.db.host_state(run.run_id, host)


def _run_wave(run, wave):
    """Steps until no host of the wave has a runnable step left; bounded by the steps the hosts can take."""
    for _round in range(4 * len(remediation_steps.STEPS) + 4):
        groups = {}
        for host in wave:
            if _state(run, host) not in _OPEN:
                continue
            pending = run.db.next_step(run.run_id, host)
            if pending is None:
                final = host_states.final_state(run.db.steps(run.run_id, host))
                run.db.set_host(run.run_id, host, final, host_states.STATES[final])
                run.audit.write("host_" + final, host=host, result=final)
                continue
            step = remediation_steps.BY_NAME[pending["step"]]
            why_not = _why_not(run, host, step)
            if why_not == "window":
                if _state(run, host) != "waiting_for_window":
                    run.db.set_host(run.run_id, host, "waiting_for_window", "%s waits for the window %s" % (
                        step.name, run.options["window"]["text"]))
                    run.audit.write("wait", host=host, step=step.name, result="outside_window",
                                    message="maintenance window %s is closed" % run.options["window"]["text"])
                continue
            if why_not:
                run.db.finish_step(run.run_id, host, pending["seq"], "skipped", detail=why_not)
                run.audit.write("skip", host=host, step=step.name, result="skipped", message=why_not)
                continue
            if _state(run, host) == "waiting_for_window":
                run.db.set_host(run.run_id, host, "planned")
            groups.setdefault(step.name, []).append((host, pending["seq"]))
        if not groups:
            if all(_state(run, h) not in ("planned",) for h in wave):
                return None
            continue
        for name in sorted(groups, key=remediation_steps.ORDER.get):
            signal_number = _run_step(run, remediation_steps.BY_NAME[name], groups[name])
            if signal_number is not None:
                return signal_number
    return None


def _why_not(run, host, step):
    if not remediation_steps.available(step, run.collections):
        return "not available in this version (no playbook %s)" % step.playbook
    missing = remediation_steps.missing_opt_ins(step, run.hostvars.get(host))
    if missing:
        return "missing opt-in %s" % ", ".join(missing)
    if step.disruptive and not change_control.window_open(run.options.get("window")):
        return "window"
    return None


def _run_step(run, step, members):
    hosts = [host for host, _seq in members]
    run.db.start_steps(run.run_id, members)
    for host in hosts:
        run.audit.write("start", host=host, step=step.name)
    work_dir = _step_dir(run, step)
    env = _environment(run)
    inventories = run.inventories + _vars_inventory(run, step, hosts, work_dir)
    try:
        outcome = runner.run_playbook(step.playbook, hosts, inventories, extravars={}, work_dir=work_dir,
                                      env=env, limit=",".join(hosts), forks=run.options["forks"],
                                      timeout=run.options["step_timeout"])
        recap, results = step_results.read(work_dir)
    except runner.RunnerError as exc:
        outcome, recap, results = {"hosts": {h: {"status": "failed", "message": str(exc), "task": None}
                                             for h in hosts}, "signal": None}, {}, {}
    for host, seq in members:
        status, word, detail = step_results.host_result(host, outcome, recap, results)
        if status == "interrupted":
            run.db.finish_step(run.run_id, host, seq, "pending", detail=detail)
            run.audit.write("interrupted", host=host, step=step.name, result="interrupted", message=detail)
            continue
        if status != "done":
            script = reproduce_script.write(os.path.join(run.run_dir, "reproduce"), "%s-%s.sh" % (
                _safe(host), step.name), run.run_id, run.change_id, host, step.name, step.playbook, inventories,
                {}, env, detail)
            state = status if status in ("unreachable", "lost", "timeout") else "failed"
            run.db.finish_step(run.run_id, host, seq, "failed", detail=detail, host_state=state,
                               host_detail="%s: %s (reproduce: %s)" % (step.name, detail, script), then=[])
            run.audit.write("finish", host=host, step=step.name, result=status, message="%s; reproduce: %s" % (
                detail, script))
            continue
        remaining = run.db.remaining(run.run_id, host, seq)
        state, then = host_states.after_step(step.name, word, remaining)
        if state in ("planned", "done") and then == remaining:
            run.db.finish_step(run.run_id, host, seq, "done", outcome=word, detail=detail)
            if state == "done":
                run.db.set_host(run.run_id, host, "planned")  # the wave loop settles the final state
        else:
            run.db.finish_step(run.run_id, host, seq, "done", outcome=word, detail=detail,
                               host_state=state if state != "done" else "planned",
                               host_detail=host_states.STATES.get(state), then=then)
        run.audit.write("finish", host=host, step=step.name, result=word, message=detail)
    return outcome.get("signal")


def _vars_inventory(run, step, hosts, work_dir):
    """[an inventory file with each host's variables for this step], or [] when the diagnosis named nothing.

    Host variables, not extra vars: one playbook run serves several hosts, each with its own suspect module or
    device. It is read after the run's own inventories, so its values win over theirs at the same level; the plan
    left out every variable the inventory sets itself, so a user's own value still wins.
    """
    hostvars = {host: (run.stepvars.get(host) or {}).get(step.name) for host in hosts}
    hostvars = {host: values for host, values in hostvars.items() if values}
    if not hostvars:
        return []
    path = os.path.join(work_dir, "step_vars.yml")  # JSON is YAML: the yaml inventory plugin reads it
    with open(path, "w", encoding="utf-8") as handle:
        json.dump({"all": {"hosts": hostvars}}, handle, indent=1, sort_keys=True)
    return [path]


def _step_dir(run, step):
    base = os.path.join(run.run_dir, "steps")
    os.makedirs(base, exist_ok=True)
    return run_dirs.make(base, "%03d-%s" % (len(os.listdir(base)) + 1, step.name))


def _safe(host):
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in host)[:80] or "host"
