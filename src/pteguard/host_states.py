"""The per-host state machine of the runner, as data (documented in docs/runner.md).

A host starts from its diagnosis: the steps its evidence warrants (the next steps of every probable cause of medium
confidence or more, and of the primary cause), in the run order of remediation_steps.STEPS. After each step the
step's outcome decides the next state through the step's `outcomes` row: "next" goes on with the planned steps, a
step name jumps there (the steps in between are dropped), a terminal state stops the host with the evidence.
Pure functions; the runner stores the state of each host in the run database.
"""

from __future__ import annotations

from pteguard import remediation_steps

# Terminal states: where a host stops, and what that means for the people who read the report.
TERMINAL = {
    "not_evaluated": "the host's evidence was not read (unreachable, failed, timed out or no readable log): "
                     "nothing runs until a diagnosis reads it",
    "replace_dimm": "the memory test found errors: replace the DIMM named in the evidence",
    "replace_disk": "the disk's own health says it is failing: replace it (back up the data first)",
    "monitoring": "nothing more points at a cause: hardware-error monitoring keeps watching",
    "done": "every step the evidence warranted ran",
    "failed": "a step failed on the host: see its reproduce script and the audit log",
    "unreachable": "the host could not be reached for its next step",
    "lost": "the host answered during a step, then stopped answering and did not come back (it went down, e.g. a "
            "reboot it never returned from)",
    "timeout": "a step on the host hit its time limit",
    "stopped": "not run: an earlier wave failed beyond --max-fail-percentage",
}

# States a host can wait in (a later `pteguard resume` goes on from them).
WAITING = {
    "planned": "steps are queued",
    "waiting_for_window": "the next step is disruptive and the maintenance window is closed",
}

# Hosts whose every warranted step was skipped for a missing opt-in or an unavailable step end here.
SKIPPED = {"skipped": "steps were skipped (missing opt-in, or not available in this version)"}

STATES = dict(WAITING, **TERMINAL, **SKIPPED)

# Causes this confident or more send a host to their steps (the primary cause always does).
MIN_CONFIDENCE = 0.45


def transitions():
    """(step, outcome) -> next: 'next', a step name, or a terminal state; for the docs and the plan."""
    return [{"step": step.name, "outcome": outcome, "next": target}
            for step in remediation_steps.STEPS for outcome, target in sorted(step.outcomes.items())]


def warranted_steps(row_status, diagnosis, requested=None):
    """What a host's evidence warrants: {'steps': [(step name, [reason...])] in run order, 'held_back': [...]}.

    Nothing when its evidence was not read. A cause under MIN_CONFIDENCE (it can only be the primary one) sends a
    host to its steps that neither reboot nor load the host; those are held back, with the reason. `requested`
    (from --steps) keeps only those steps.
    """
    if row_status != "ok" or not diagnosis:
        return {"steps": [], "held_back": []}
    reasons, held = {}, {}
    for index, cause in enumerate(diagnosis.get("causes") or []):
        confident = (cause.get("confidence") or 0) >= MIN_CONFIDENCE
        if index > 0 and not confident:
            continue
        for entry in cause.get("next_steps") or []:
            step = remediation_steps.BY_NUMBER.get(entry.get("step"))
            if step is None:
                continue  # step 1 (kernel logs) is the diagnosis itself
            why = "%s (%s)%s: %s" % (cause["cause"], cause.get("confidence_word", "?"), _subject(cause),
                                     entry.get("action", ""))
            if not confident and (step.reboots or step.loads):
                held.setdefault(step.name, "only %s confidence in %s; a step that reboots or loads the host needs "
                                           "medium or more" % (cause.get("confidence_word", "low"), cause["cause"]))
                continue
            reasons.setdefault(step.name, []).append(why)
    names = sorted(reasons, key=remediation_steps.ORDER.get)
    if requested is not None:
        names = [name for name in names if name in requested]
    return {"steps": [(name, reasons[name]) for name in names],
            "held_back": [{"step": name, "why": why} for name, why in sorted(held.items())
                          if name not in reasons and (requested is None or name in requested)]}


def _subject(cause):
    subject = cause.get("subject") or {}
    text = " ".join(str(value) for value in subject.values() if value)
    return " " + text if text else ""


def initial_state(steps):
    return "planned" if steps else "done"


def after_step(step_name, outcome, remaining):
    """(next state, remaining steps) once `step_name` finished with `outcome`.

    `remaining`: the host's planned steps after this one. An outcome the step's row does not know is treated as
    'next' only when it is 'ok'; anything else stops the host as 'failed' (an unknown result is never a pass).
    """
    step = remediation_steps.BY_NAME[step_name]
    target = step.outcomes.get(outcome)
    if target is None:
        return "failed", []
    if target == "next":
        return ("planned" if remaining else "done"), list(remaining)
    if target in remediation_steps.BY_NAME:
        # a jump: the steps before the target are dropped, the target runs next (added when not planned)
        rest = list(remaining)
        tail = rest[rest.index(target) + 1:] if target in rest else []
        return "planned", [target] + tail
    if target not in TERMINAL:
        raise ValueError("step %s: outcome %s goes to unknown state %s" % (step_name, outcome, target))
    return target, []


def final_state(host_steps):
    """The state of a host with no runnable step left: from its steps' statuses (skipped, done...)."""
    statuses = [s["status"] for s in host_steps]
    if any(status == "skipped" for status in statuses):
        return "skipped"
    if host_steps and host_steps[-1]["step"] == "hw_monitor" and host_steps[-1]["status"] == "done":
        return "monitoring"
    return "done"
