"""`pteguard compliance -i INV... --policy FILE`: the diagnose collection (read-only), then the policy's checks on
every host's report, a compliance.json beside the reports, and the rendered formats.

Exit codes (README): 0 every host passes every check; 1 a check failed and every host was evaluated; 4 a check could
not be evaluated (evidence not collected or not read); 5 a host timed out; 2 bad input, a refused baseline, or a host
unreachable or failed. The most serious wins, as for every command.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys

from pteguard import (
    atomic_file, baseline, compliance_checks, diagnose, exit_codes, fleet_view, policy, terminal,
)
from pteguard.output import printable

_HOST_CODES = {"unreachable": exit_codes.ERROR, "failed": exit_codes.ERROR, "timeout": exit_codes.TIMEOUT,
               "interrupted": exit_codes.TIMEOUT}
_RESULT_CODES = {"pass": exit_codes.CLEAN, "fail": exit_codes.FINDINGS, "unknown": exit_codes.INCOMPLETE}


class DiagnoseOptions:
    """Lets diagnose.add_parser add its options (inventory, limit, timeouts, host keys...) to this parser."""

    def __init__(self, parser):
        self.parser = parser

    def add_parser(self, _name, **_kwargs):
        return self.parser


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "compliance",
        help="check every host against a policy (kernel, hardware-error backend, new memory/page-table events, ...)",
        description="Runs the diagnose collection (read-only on every host), evaluates the policy's checks on each "
                    "host's report, writes compliance.json and report.html/report.md/junit.xml/pteguard.prom beside "
                    "the reports. A host that could not be evaluated never passes.",
    )
    diagnose.add_parser(DiagnoseOptions(parser))
    for action in parser._actions:  # diagnose's severity gate means nothing here: the policy decides
        if action.dest == "fail_on":
            action.help = argparse.SUPPRESS
    parser.add_argument("--policy", required=True, metavar="FILE", help="policy file (YAML; schemas/policy.schema.json)")
    parser.add_argument("--baseline-dir", default=os.path.join(".pteguard", "baseline"), metavar="DIR",
                        help="where the baseline is kept (default: .pteguard/baseline)")
    parser.add_argument("--update-baseline", action="store_true",
                        help="after checking, store this run's events as the baseline (only when every host was "
                             "read; refused for a baseline of another fleet)")
    parser.set_defaults(func=run, fail_on="never")
    return parser


def collect(args):
    """diagnose's collection, its severity gate off (the policy decides): (exit code, document or None)."""
    collect_args = argparse.Namespace(**vars(args))
    collect_args.fail_on = "never"
    return diagnose.collect(collect_args)


def _host_entry(row, report, checks, stored):
    entry = {"host": row["host"], "status": row["status"], "message": row.get("message"),
             "report": os.path.basename(row["report"]) if row.get("report") else None}
    if row["status"] != "ok" or report is None:
        entry.update(result="unknown", checks=[],
                     message=row.get("message") or "not evaluated: the host's evidence was not read (%s)" % row["status"])
        return entry
    results = compliance_checks.evaluate(report, checks, stored)
    entry.update(result=compliance_checks.host_result(results), checks=results)
    return entry


def _result(hosts):
    return compliance_checks.host_result([{"result": h["result"]} for h in hosts])


def _exit_code(hosts):
    codes = [_HOST_CODES.get(h["status"], _RESULT_CODES[h["result"]]) for h in hosts]
    return exit_codes.worst(codes) if codes else exit_codes.ERROR


def _fail(message):
    print("pteguard compliance: %s" % printable(message), file=sys.stderr)
    return exit_codes.ERROR


def run(args):
    inventories = args.inventory or [diagnose._default_inventory()]
    try:
        the_policy, digest = policy.load(args.policy)
        stored = baseline.load(args.baseline_dir)
        baseline.check_fleet(stored, inventories, args.limit)
    except policy.PolicyError as exc:
        for line in exc.args[0]:
            print("pteguard compliance: policy %s" % printable(line), file=sys.stderr)
        return exit_codes.ERROR
    except baseline.BaselineError as exc:
        return _fail(str(exc))
    code, document = collect(args)
    if document is None:
        return code  # diagnose said why on stderr (bad inventory, no host, ...)
    record, rows = document["run"], document["hosts"]
    reports = {}
    try:
        for row in rows:
            if row["status"] == "ok" and row.get("report"):
                reports[row["host"]] = fleet_view.read_json(row["report"])
        baseline.check_fleet(stored, inventories, args.limit, [row["host"] for row in rows])
    except (fleet_view.ViewError, baseline.BaselineError) as exc:
        return _fail(str(exc))
    hosts = [_host_entry(row, reports.get(row["host"]), the_policy["checks"],
                         (stored or {}).get("hosts", {}).get(row["host"]) if stored else None) for row in rows]
    result = {
        "schema": fleet_view.COMPLIANCE_SCHEMA, "run_id": record["id"],
        "generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "policy": {"path": os.path.abspath(args.policy), "sha256": digest},
        "baseline": ({"path": os.path.abspath(os.path.join(args.baseline_dir, baseline.FILE)),
                      "created": stored["created"], "run_id": stored["run_id"]} if stored else None),
        "result": _result(hosts), "hosts": hosts,
    }
    code = _exit_code(hosts)
    report_dir = record["report_dir"]
    try:
        atomic_file.write(os.path.join(report_dir, fleet_view.COMPLIANCE_FILE), json.dumps(result, indent=1) + "\n")
    except OSError as exc:
        return _fail("results not written to %s: %s" % (report_dir, exc))
    written = diagnose.write_renderings(record, args.report_formats, "compliance")
    if written is None:
        return exit_codes.ERROR
    if args.update_baseline:
        not_read = [h["host"] for h in hosts if h["status"] != "ok"]
        if not_read:
            print("pteguard compliance: baseline not updated: not every host was read (%s)"
                  % printable(", ".join(not_read)), file=sys.stderr)
            code = exit_codes.worst([code, exit_codes.ERROR])
        else:
            try:
                baseline.save(args.baseline_dir, baseline.build(record["id"], inventories, args.limit, reports))
            except (OSError, baseline.BaselineError) as exc:
                return _fail("baseline not written: %s" % exc)
    return _emit(args.format, result, written, code, report_dir)


def format_table(result):
    rows = []
    for host in result["hosts"]:
        checks = ", ".join("%s %s" % (c["check"], c["result"]) for c in host["checks"]) or host.get("message") or "-"
        rows.append((host["host"], host["result"], checks))
    lines = [terminal.table(("HOST", "RESULT", "CHECKS"), rows, coloured=(1,))]
    for host in result["hosts"]:
        for check in host["checks"]:
            if check["result"] != "pass":
                text = "  %s: %s: %s: %s" % (host["host"], check["check"], check["result"], check["message"])
                lines.append(printable(text))
    colour = terminal.colour_wanted()
    lines.append("compliance: %s" % terminal.paint(result["result"], terminal.word_colour(result["result"]), colour))
    return "\n".join(lines)


def _emit(fmt, result, written, code, report_dir):
    if fmt == "json":
        terminal.emit(json.dumps({"compliance": result, "files": written}, indent=1))
    else:
        terminal.emit("%s; exit %d (%s)\nreports: %s" % (format_table(result), code, terminal.code_name(code),
                                                         printable(report_dir)))
    return code
