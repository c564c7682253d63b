"""`pteguard diagnose`: triage the kernel logs of every host of one or more inventories."""

from __future__ import annotations

import argparse
import json
import os
import sys

from pteguard import exit_codes, locations, run_dirs, runner, terminal
from pteguard.output import printable
from pteguard.parsers import source_status
from pteguard.parsers.host_evidence_collect import collector_gaps
from pteguard.parsers.report import evidence_report, report_file_name, report_text
from pteguard.parsers.signatures import SEVERITY_RANK

RUN_SCHEMA = "pteguard.run/1"
_ERROR_STATUSES = ("failed", "unreachable")


def _count(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError("%r is not a whole number" % text)
        if value < minimum:
            raise argparse.ArgumentTypeError("%d is too small (at least %d)" % (value, minimum))
        return value
    parse.__name__ = "number >= %d" % minimum
    return parse


def _directory(text):
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError("%s is not a directory" % text)
    return text


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "diagnose",
        help="triage the kernel logs of inventory hosts over SSH and show a per-host summary",
        description="Runs the pteguard.remediation.diagnose playbook with ansible-runner. Parsing happens on each "
                    "host; one JSON report per host is written under --report-dir/<run id>/. SSH host keys are "
                    "checked as ansible-playbook checks them with the project's ansible.cfg (or $ANSIBLE_CONFIG).",
    )
    parser.add_argument("-i", "--inventory", action="append", metavar="INVENTORY",
                        help="inventory path (repeatable; default: inventories/local, this machine)")
    parser.add_argument("-l", "--limit", help="limit to these hosts or groups (Ansible pattern)")
    parser.add_argument("--report-dir", default="reports", help="where per-run report folders go (default: reports)")
    parser.add_argument("--work-dir", default=os.path.join(".pteguard", "runs"),
                        help="ansible-runner private data folders (default: .pteguard/runs)")
    parser.add_argument("--keep-runs", type=_count(0), default=20, metavar="N",
                        help="keep the newest N run and report folders made by pteguard, prune older ones "
                             "(default 20; 0 keeps all)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--fail-on", choices=("info", "warning", "error", "critical", "never"), default="error",
                        help="exit 1 when a host has a finding at or above this severity (default: error)")
    parser.add_argument("--boots", type=_count(1), default=None,
                        help="journal boots to read, current included (default: the inventory's "
                             "diagnose_kernel_log_boots, else 1)")
    parser.add_argument("--since", default=None,
                        help="journal cursor or time to start after (default: the inventory's "
                             "diagnose_kernel_log_since, else the whole boot)")
    parser.add_argument("--forks", type=_count(1), default=default_forks(),
                        help="hosts handled in parallel (default %d: 5 per CPU, at most 25)" % default_forks())
    parser.add_argument("--connect-timeout", type=_count(1), default=30, metavar="SECONDS",
                        help="SSH connection timeout per host (ANSIBLE_TIMEOUT; default 30)")
    parser.add_argument("--host-timeout", type=_count(1), default=600, metavar="SECONDS",
                        help="longest one task may take on a host before the host is marked timeout "
                             "(ANSIBLE_TASK_TIMEOUT; default 600)")
    parser.add_argument("--timeout", type=_count(1), default=1800, metavar="SECONDS",
                        help="seconds before the whole run is stopped; finished hosts are still reported "
                             "(default 1800)")
    parser.add_argument("--insecure-skip-host-key-check", action="store_true",
                        help="do not verify SSH host keys (an impostor on a host's address would receive the "
                             "modules); recorded in the run record")
    parser.add_argument("--collections-path", type=_directory, help="where pteguard.remediation is installed")
    parser.add_argument("--report-formats", type=report_formats, default=list(_REPORT_FORMATS), metavar="FMT,...",
                        help="renderings written into the run's report folder at the end (%s, or none; default "
                             "all)" % ",".join(_REPORT_FORMATS))
    terminal.add_options(parser)
    parser.set_defaults(func=run)
    return parser


_REPORT_FORMATS = ("json", "html", "markdown", "junit", "metrics")


def report_formats(text):
    """--report-formats: a comma list of renderings, or 'none'."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if names == ["none"]:
        return []
    bad = [n for n in names if n not in _REPORT_FORMATS]
    if bad or not names:
        raise argparse.ArgumentTypeError("unknown format %s (formats: %s, or none)" % (
            ", ".join(repr(b) for b in bad) or "''", ", ".join(_REPORT_FORMATS)))
    return list(dict.fromkeys(names))


def _default_inventory():
    return locations.default_inventory()


def _evidence_notes(sources):
    """(status, notes): 'incomplete' with every source named when none gave evidence; else the gaps."""
    if not source_status.any_read(sources):
        unread = ["%s %s: %s" % (s.get("path") or s.get("name") or "?", s.get("status"), s.get("reason") or "-")
                  for s in sources]
        return "incomplete", ["no kernel-log source could be read (%s)" % ("; ".join(unread) or "none tried")]
    return "ok", ["could not read %s" % gap for gap in source_status.gaps(sources)]


def host_row(host, info, report_dir):
    """One table row; for a finished host, its report is written first."""
    row = {"host": host, "status": info["status"], "message": info.get("message")}
    if info["status"] != "ok":
        return row
    path = os.path.join(report_dir, report_file_name(host))
    try:
        report = evidence_report(host, info["evidence"])
        with open(path, "x") as handle:  # never follow or overwrite something already there
            handle.write(report_text(report))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        row.update(status="failed", message="report not written: %s" % exc)
        return row
    log = report["kernel_log"]
    status, notes = _evidence_notes(log["sources"])
    # a hardware-error or disk collector that broke: the host is not clean for what it did not read
    notes += ["could not read %s" % gap for gap in collector_gaps(report, skip=("kernel_log",))]
    row.update(status=status, report=path, summary=log["summary"], kernel=report["kernel"].get("release"),
               diagnosis=_cause(report.get("diagnosis")))
    if notes:
        row["notes"] = notes
    return row


def _cause(diagnosis):
    """The probable cause in one phrase: 'faulty_memory (high) DIMM_A1'."""
    if not diagnosis or not diagnosis.get("causes"):
        return None
    top = diagnosis["causes"][0]
    if top["cause"] == "none":
        return "none"  # no fault found: a confidence would only suggest there is something to weigh
    subject = top.get("subject") or {}
    what = " ".join(str(v) for v in subject.values() if v not in (None, "", "host"))
    text = "%s (%s)" % (top["cause"], top.get("confidence_word", "?"))
    return (text + " " + what).strip()


def format_table(rows):
    header = ("HOST", "STATUS", "KERNEL", "HIGHEST", "FINDINGS", "PROBABLE CAUSE", "CATEGORIES / MESSAGE")
    table = []
    for row in rows:
        summary = row.get("summary")
        if summary:
            cats = ", ".join("%s %d" % kv for kv in summary["by_category"].items()) or "-"
            cells = (row["host"], row["status"], row.get("kernel") or "-", summary["highest_severity"] or "none",
                     str(summary["findings"]), row.get("diagnosis") or "-", cats)
        else:
            cells = (row["host"], row["status"], "-", "-", "-", "-", row.get("message") or "-")
        table.append(cells)
    lines = [terminal.table(header, table, coloured=(1, 3))]
    for row in rows:
        for note in row.get("notes", []):
            lines.append(printable("note: %s: %s" % (row["host"], note)))
    return "\n".join(lines)


def row_code(row, fail_on):
    status = row["status"]
    if status in _ERROR_STATUSES:
        return exit_codes.ERROR
    if status in ("timeout", "interrupted"):
        return exit_codes.TIMEOUT
    if status == "incomplete" or row.get("notes"):
        return exit_codes.INCOMPLETE
    highest = row["summary"]["highest_severity"]
    if fail_on != "never" and highest is not None and SEVERITY_RANK[highest] >= SEVERITY_RANK[fail_on]:
        return exit_codes.FINDINGS
    return exit_codes.CLEAN


def exit_code(rows, fail_on):
    if not rows:
        return exit_codes.ERROR
    return exit_codes.worst(row_code(row, fail_on) for row in rows)


def default_forks():
    """5 workers per controller CPU, at most 25.

    With one round trip per host a worker mostly waits on SSH; past about 5 per CPU more workers buy no time
    (measured in bench/README.md, Fleet) and each costs the controller some 15 MB.
    """
    return max(5, min(25, 5 * (os.cpu_count() or 1)))


def _extravars(args):
    """Only what the user asked for: an inventory's own per-host since/boots must win otherwise."""
    extravars = {"diagnose_write_reports": False}
    if args.boots is not None:
        extravars["diagnose_kernel_log_boots"] = args.boots
    if args.since is not None:
        extravars["diagnose_kernel_log_since"] = args.since
    return extravars


def run(args):
    code, document = collect(args)
    if document is None:
        return code
    record = document["run"]
    written = write_renderings(record, args.report_formats, "diagnose")
    if written is None:
        code = exit_codes.worst([code, exit_codes.ERROR])
    return _emit(args.format, record, document["hosts"], record["report_dir"], code, written or [])


def write_renderings(record, formats, command):
    """The run's renderings (report_cmd.FILES) in its report folder; None, with one line on stderr, when they
    could not be rendered or written (a host report that breaks the schema, a full disk)."""
    from pteguard import fleet_view, report_cmd

    try:
        return report_cmd.write_all(record["report_dir"], os.path.dirname(record["artifacts"]), formats)
    except (OSError, fleet_view.ViewError) as exc:
        where = printable(record["report_dir"])
        print("pteguard %s: reports not written to %s: %s" % (command, where, printable(exc)), file=sys.stderr)
        return None


def collect(args):
    """Run the collection on every host and write the reports: (exit code, {'run': record, 'hosts': rows}).

    The document is None when the run could not start (the reason is on stderr). plan and compliance build on this.
    """
    inventories = args.inventory or [_default_inventory()]
    checking = not args.insecure_skip_host_key_check
    if not checking:
        print("pteguard diagnose: WARNING: SSH host keys are NOT checked (--insecure-skip-host-key-check): an "
              "impostor on a host's address would receive the modules and its key would be trusted",
              file=sys.stderr)
    ident = run_dirs.run_id()
    try:
        collections = runner.collections_path(args.collections_path)
        env = runner.run_environment(collections, ident, host_key_checking=checking,
                                     connect_timeout=args.connect_timeout, task_timeout=args.host_timeout)
        hosts = runner.list_hosts(inventories, env, limit=args.limit)
        if not hosts:
            raise runner.RunnerError("no host to run on: %s%s" % (
                "the inventory is empty" if not args.limit else "--limit %s matched no host" % args.limit,
                " (%s)" % ", ".join(inventories)))
        work_base, report_base = os.path.abspath(args.work_dir), os.path.abspath(args.report_dir)
        work_dir = run_dirs.make(work_base, ident)
        report_dir = run_dirs.make(report_base, ident)
        outcome = runner.run_playbook(
            "pteguard.remediation.diagnose", hosts, inventories, extravars=_extravars(args), work_dir=work_dir,
            env=env, limit=args.limit, forks=args.forks, timeout=args.timeout, skip_tags=runner.DIAGNOSE_SKIP_TAGS,
        )
    except (runner.RunnerError, OSError) as exc:
        print("pteguard diagnose: %s" % exc, file=sys.stderr)
        return exit_codes.ERROR, None
    rows = [host_row(host, outcome["hosts"][host], report_dir) for host in hosts]
    record = _run_record(args, ident, checking, inventories, outcome, rows, work_dir, report_dir)
    _write_record(os.path.join(work_dir, "run.json"), record)
    run_dirs.update_latest(report_base, report_dir)
    for base, current in ((work_base, work_dir), (report_base, report_dir)):
        run_dirs.prune(base, args.keep_runs, current)
    code = exit_code(rows, args.fail_on)
    if outcome["signal"] is not None:
        code = 128 + outcome["signal"]
    return code, {"run": record, "hosts": rows}


def _run_record(args, ident, checking, inventories, outcome, rows, work_dir, report_dir):
    return {
        "schema": RUN_SCHEMA, "id": ident, "status": outcome["status"], "report_dir": report_dir,
        "artifacts": work_dir, "record": os.path.join(work_dir, "run.json"),
        "inventories": [os.path.abspath(i) for i in inventories], "limit": args.limit,
        "host_key_checking": checking,
        "timeouts": {"connect": args.connect_timeout, "host": args.host_timeout, "run": args.timeout},
        "stopped_processes": outcome["stopped_processes"],
        "signal": outcome["signal"],
        "reports": {row["host"]: os.path.basename(row["report"]) for row in rows if row.get("report")},
        # hosts whose evidence was not read: the renderings show them as not evaluated
        "unread": {row["host"]: {"status": row["status"], "message": row.get("message")}
                   for row in rows if not row.get("report")},
    }


def _write_record(path, record):
    try:
        with open(path, "w") as handle:
            json.dump(record, handle, indent=1)
    except OSError as exc:
        print("pteguard diagnose: run record not written: %s" % exc, file=sys.stderr)


def _emit(fmt, record, rows, report_dir, code, written=()):
    """Print the result; a closed pipe must not turn findings into success, so the code stands either way."""
    if fmt == "json":
        terminal.emit(json.dumps({"run": record, "hosts": rows, "files": list(written)}, indent=1))
    else:
        terminal.emit("%s\n%s\nreports: %s" % (format_table(rows), summary_line(rows, code), printable(report_dir)))
    return code


def summary_line(rows, code):
    """'summary: 3 hosts: 2 ok, 1 unreachable; exit 2 (error)' under the table."""
    counts = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    colour = terminal.colour_wanted()
    parts = ", ".join("%d %s" % (n, terminal.paint(word, terminal.word_colour(word), colour))
                      for word, n in sorted(counts.items()))
    plural = "" if len(rows) == 1 else "s"
    return "summary: %d host%s: %s; exit %d (%s)" % (len(rows), plural, parts, code, terminal.code_name(code))
