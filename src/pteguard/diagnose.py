"""`pteguard diagnose`: triage the kernel logs of every host of one or more inventories."""

from __future__ import annotations

import json
import os
import sys

from pteguard import locations, runner
from pteguard.parsers.signatures import SEVERITY_RANK

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "diagnose",
        help="triage the kernel logs of inventory hosts over SSH and show a per-host summary",
        description="Runs the pteguard.remediation.diagnose playbook with ansible-runner. Parsing happens on each "
                    "host; one JSON report per host is written under --report-dir/<run id>/.",
    )
    parser.add_argument("-i", "--inventory", action="append", metavar="INVENTORY",
                        help="inventory path (repeatable; default: inventories/local, this machine)")
    parser.add_argument("-l", "--limit", help="limit to these hosts or groups (Ansible pattern)")
    parser.add_argument("--report-dir", default="reports", help="where per-run report folders go (default: reports)")
    parser.add_argument("--work-dir", default=os.path.join(".pteguard", "runs"),
                        help="ansible-runner private data folders (default: .pteguard/runs)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--fail-on", choices=("info", "warning", "error", "critical", "never"), default="error",
                        help="exit 1 when a host has a finding at or above this severity (default: error)")
    parser.add_argument("--boots", type=int, default=1, help="journal boots to read, current included (default 1)")
    parser.add_argument("--since", default="", help="journal cursor or time to start after")
    parser.add_argument("--forks", type=int, default=25, help="hosts handled in parallel (default 25)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds before the whole run is stopped")
    parser.add_argument("--collections-path", help="where pteguard.remediation is installed")
    parser.set_defaults(func=run)
    return parser


def _default_inventory():
    return locations.default_inventory()


def _load_report(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except (OSError, ValueError) as exc:
        return {"error": "report %s unreadable: %s" % (path, exc)}


def collect(outcome, report_dir):
    """One row per host: status, and the report's summary when the host finished."""
    rows = []
    for host in sorted(outcome["hosts"]):
        info = dict(outcome["hosts"][host])
        row = {"host": host, "status": info.get("status"), "message": info.get("message")}
        path = os.path.join(report_dir, "%s.json" % host)
        if row["status"] == "ok":
            report = _load_report(path)
            if "error" in report:
                row.update(status="failed", message=report["error"])
            else:
                row["report"] = path
                row["summary"] = report["kernel_log"]["summary"]
                row["kernel"] = report.get("kernel", {}).get("release")
                row["diagnosis"] = _cause(report.get("diagnosis"))
                unread = [s for s in report["kernel_log"]["sources"] if s["status"] == "unreadable"]
                if unread:
                    row["unreadable_sources"] = ["%s: %s" % (s["name"], s.get("reason")) for s in unread]
        rows.append(row)
    return rows


def _cause(diagnosis):
    """The probable cause in one phrase: 'faulty_memory (high) DIMM_A1'."""
    if not diagnosis or not diagnosis.get("causes"):
        return None
    top = diagnosis["causes"][0]
    subject = top.get("subject") or {}
    what = " ".join(str(v) for v in subject.values() if v not in (None, "", "host"))
    text = "%s (%s)" % (top["cause"], top.get("confidence_word", "?"))
    return (text + " " + what).strip()


def format_table(rows):
    header = ("HOST", "STATUS", "KERNEL", "HIGHEST", "FINDINGS", "PROBABLE CAUSE", "CATEGORIES / MESSAGE")
    lines = []
    table = []
    for row in rows:
        summary = row.get("summary")
        if summary:
            cats = ", ".join("%s %d" % kv for kv in summary["by_category"].items()) or "-"
            table.append((row["host"], row["status"], row.get("kernel") or "-", summary["highest_severity"] or "none",
                          str(summary["findings"]), row.get("diagnosis") or "-", cats))
        else:
            table.append((row["host"], row["status"], "-", "-", "-", "-", row.get("message") or "-"))
    widths = [max(len(r[i]) for r in [header] + table) for i in range(6)]
    for cells in [header] + table:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(cells[:6])) + "  " + cells[6])
    for row in rows:
        for note in row.get("unreadable_sources", []):
            lines.append("note: %s could not read %s" % (row["host"], note))
    return "\n".join(lines)


def exit_code(rows, fail_on):
    if not rows or any(row["status"] != "ok" for row in rows):
        return EXIT_ERROR
    if fail_on == "never":
        return EXIT_CLEAN
    for row in rows:
        highest = row["summary"]["highest_severity"]
        if highest is not None and SEVERITY_RANK[highest] >= SEVERITY_RANK[fail_on]:
            return EXIT_FINDINGS
    return EXIT_CLEAN


def run(args):
    inventories = args.inventory or [_default_inventory()]
    if args.boots < 1:
        print("pteguard diagnose: --boots must be 1 or more", file=sys.stderr)
        return EXIT_ERROR
    try:
        collections = runner.collections_path(args.collections_path)
        work_dir = runner.new_run_dir(os.path.abspath(args.work_dir))
        report_dir = os.path.join(os.path.abspath(args.report_dir), os.path.basename(work_dir))
        os.makedirs(report_dir)
        outcome = runner.run_playbook(
            "pteguard.remediation.diagnose", inventories,
            extravars={"diagnose_report_dir": report_dir, "diagnose_kernel_log_boots": args.boots,
                       "diagnose_kernel_log_since": args.since},
            work_dir=work_dir, collections=collections, limit=args.limit, forks=args.forks, timeout=args.timeout,
        )
    except (runner.RunnerError, OSError) as exc:
        print("pteguard diagnose: %s" % exc, file=sys.stderr)
        return EXIT_ERROR
    rows = collect(outcome, report_dir)
    if not rows:
        tail = outcome.get("stdout_tail") or "no host was run (empty inventory or --limit matched nothing?)"
        print("pteguard diagnose: %s" % tail, file=sys.stderr)
        return EXIT_ERROR
    _update_latest(os.path.abspath(args.report_dir), report_dir)
    if args.format == "json":
        print(json.dumps({"run": {"report_dir": report_dir, "artifacts": outcome["artifacts"],
                                  "status": outcome["status"]}, "hosts": rows}, indent=1))
    else:
        print(format_table(rows))
        print("reports: %s" % report_dir)
    return exit_code(rows, args.fail_on)


def _update_latest(base, report_dir):
    link = os.path.join(base, "latest")
    try:
        if os.path.islink(link):
            os.unlink(link)
        if not os.path.exists(link):
            os.symlink(os.path.basename(report_dir), link)
    except OSError:
        pass
