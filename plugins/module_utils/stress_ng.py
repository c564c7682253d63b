# -*- coding: utf-8 -*-
# Copyright: pteguard contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parse what ``stress-ng --vm N --vm-bytes SIZE --verify --metrics-brief`` prints, and decode its exit status.

stress-ng (Colin Ian King, https://github.com/ColinIanKing/stress-ng; Debian 12 package ``stress-ng`` 0.15.06) logs
every line as ``stress-ng: LEVEL: [PID] text``: ``info`` for the run's progress and the metrics table
(``stressor bogo ops real time usr time sys time bogo ops/s bogo ops/s``, then one row per stressor), ``fail`` when a
stressor's verification finds memory that does not hold what was written (the vm stressor: ``vm: detected N bit
errors while stressing memory``; a method's own check prints the address), ``error`` for a stressor that could not
run. The run ends with ``successful run completed in ...`` or ``unsuccessful run completed in ...`` and, from 0.14 on,
the ``passed:``/``failed:``/``skipped:`` tallies.

Pure Python, no Ansible import; 3.6-compatible syntax (it runs on targets).
"""

from __future__ import annotations

import re

# stress-ng's documented exit statuses (stress-ng(1), EXIT STATUS)
EXIT_STATUS = {
    0: "success",
    1: "error: invalid options, or a stressor could not start",
    2: "one or more stressors failed (verification found wrong data)",
    3: "one or more stressors lacked resources to start",
    4: "a stressor is not implemented on this system",
    5: "a stressor was killed by an unexpected signal",
    6: "a stressor exited unexpectedly and its metrics are lost",
    7: "the bogo-ops metrics may be untrustworthy",
}
EXIT_FAILED = 2

_LINE_RE = re.compile(r"^stress-ng: (\w+):\s+\[(\d+)\]\s?(.*)$")
_HEADER_RE = re.compile(r"^stressor\s+bogo ops\s+real time")
_ROW_RE = re.compile(r"^([a-z][\w-]*)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")
_COMPLETED_RE = re.compile(r"^(successful|unsuccessful) run completed in ([\d.]+)\s*(s|secs?)?")
_DISPATCH_RE = re.compile(r"^dispatching hogs:\s*(.*)$")
_TALLY_RE = re.compile(r"^(passed|failed|skipped|metrics untrustworthy):\s*(\d+)")
_BIT_ERRORS_RE = re.compile(r"detected (\d+) bit errors?")
_SIGNAL_RE = re.compile(r"terminated with unexpected signal (?:signal )?(\d+)")


class StressNgParseError(ValueError):
    """The text is not stress-ng output."""


def parse_stress_ng(text):
    """stress-ng's combined output as a dict.

    Keys: ``metrics`` ({stressor: {bogo_ops, real_s, usr_s, sys_s, bogo_ops_per_s}}), ``failures`` (the text of each
    ``fail`` line, without the prefix), ``bit_errors`` (the sum the vm stressor reported), ``errors`` (``error``
    lines), ``completed`` (successful / unsuccessful / None when the run was cut), ``seconds``, ``dispatched``,
    ``tallies`` ({passed, failed, skipped, ...}), ``signals`` (a worker's unexpected signals: stress-ng logs them
    at level info and may still call the run successful).
    """
    if not isinstance(text, str):
        raise StressNgParseError("stress-ng output must be text")
    result = {"metrics": {}, "failures": [], "bit_errors": 0, "errors": [], "completed": None, "seconds": None,
              "dispatched": None, "tallies": {}, "signals": []}
    seen = False
    in_table = False
    for raw in text.replace("\r", "").split("\n"):
        match = _LINE_RE.match(raw.strip())
        if not match:
            continue
        seen = True
        level, body = match.group(1), match.group(3).strip()
        if level == "fail":
            result["failures"].append(body)
            bits = _BIT_ERRORS_RE.search(body)
            if bits:
                result["bit_errors"] += int(bits.group(1))
            continue
        if level == "error":
            result["errors"].append(body)
            continue
        if _HEADER_RE.match(body):
            in_table = True
            continue
        row = _ROW_RE.match(body) if in_table else None
        if row:
            result["metrics"][row.group(1)] = {
                "bogo_ops": int(row.group(2)), "real_s": float(row.group(3)), "usr_s": float(row.group(4)),
                "sys_s": float(row.group(5)), "bogo_ops_per_s": float(row.group(6))}
            continue
        done = _COMPLETED_RE.match(body)
        if done:
            in_table = False
            result["completed"], result["seconds"] = done.group(1), float(done.group(2))
            continue
        dispatch = _DISPATCH_RE.match(body)
        if dispatch:
            result["dispatched"] = dispatch.group(1).strip()
            continue
        signal = _SIGNAL_RE.search(body)
        if signal:
            result["signals"].append(int(signal.group(1)))
            continue
        tally = _TALLY_RE.match(body)
        if tally:
            result["tallies"][tally.group(1)] = int(tally.group(2))
    if not seen:
        raise StressNgParseError("no stress-ng output found (no 'stress-ng: LEVEL: [PID]' line)")
    return result


def exit_reason(rc):
    """stress-ng's exit status in words (a shell's 124/137 from timeout, 128+N for a signal, too)."""
    if rc in EXIT_STATUS:
        return EXIT_STATUS[rc]
    if rc == 124:
        return "stopped by timeout at the time limit"
    if rc is not None and rc > 128:
        return "killed by signal %d" % (rc - 128)
    return "unexpected exit status %s" % rc


def verify_failed(parsed, rc):
    """True when stress-ng says memory did not hold what it wrote: a fail line, a bit-error count, or exit status 2."""
    return bool(parsed and (parsed["failures"] or parsed["bit_errors"])) or rc == EXIT_FAILED
