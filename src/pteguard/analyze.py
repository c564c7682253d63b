"""`pteguard analyze`: offline triage of saved kernel logs on the controller."""

from __future__ import annotations

import json
import sys

from pteguard.parsers.log_scan import LogSourceError
from pteguard.scan_io import scan_path, scan_stream
from pteguard.parsers.signatures import SEVERITY_RANK

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2

# Facts worth a column in the text report, in the order shown.
_TEXT_FACTS = ("device", "sector", "address", "address_region", "pfn", "process", "pid", "symbol", "module",
               "dimm", "cpu", "bank", "mce_status", "error_class", "reason")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "analyze",
        help="triage saved kernel logs (dmesg, journal, syslog, kern.log, console captures)",
        description="Find page-table corruption, oopses, machine checks, memory, disk and filesystem errors in "
                    "saved kernel logs. Reads files (plain or .gz) or '-' for standard input; no SSH.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="log file, or - for standard input")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default: text)")
    parser.add_argument("--fail-on", choices=("info", "warning", "error", "critical", "never"), default="error",
                        help="exit 1 when a finding is at or above this severity (default: error)")
    parser.add_argument("--engine", choices=("auto", "grep", "python"), default="auto",
                        help="prefilter: grep when installed (fast), or pure Python (default: auto)")
    parser.add_argument("--max-findings", type=int, default=1000, metavar="N",
                        help="findings listed per source; counts stay exact (default: 1000)")
    parser.set_defaults(func=run)
    return parser


def analyze_sources(paths, engine="auto", max_findings=1000, stdin=None):
    """Scan each path; a source that cannot be read carries an `error` instead of findings."""
    sources = []
    for path in paths:
        try:
            if path == "-":
                stream = stdin if stdin is not None else sys.stdin.buffer
                result = scan_stream(stream, engine=engine, max_findings=max_findings, name="-")
            else:
                result = scan_path(path, engine=engine, max_findings=max_findings)
        except LogSourceError as exc:
            sources.append({"path": path, "error": str(exc)})
            continue
        sources.append({"path": path, "findings": result["findings"], "summary": result["summary"]})
    return {"version": 1, "sources": sources}


def exit_code(document, fail_on):
    if any("error" in source for source in document["sources"]):
        return EXIT_ERROR
    if fail_on == "never":
        return EXIT_CLEAN
    threshold = SEVERITY_RANK[fail_on]
    for source in document["sources"]:
        highest = source["summary"]["highest_severity"]
        if highest is not None and SEVERITY_RANK[highest] >= threshold:
            return EXIT_FINDINGS
    return EXIT_CLEAN


def format_text(document):
    out = []
    for source in document["sources"]:
        if "error" in source:
            continue
        summary = source["summary"]
        counts = ", ".join("%s %d" % kv for kv in summary["by_category"].items()) or "no findings"
        out.append("%s: %s" % (source["path"], counts))
        for finding in source["findings"]:
            facts = " ".join("%s=%s" % (key, finding[key]) for key in _TEXT_FACTS if key in finding)
            out.append("  line %-7d %-8s %-24s %s" % (finding["line"], finding["severity"], finding["category"], facts))
            out.append("               %s" % finding["message"][:160])
        if summary["findings_dropped"]:
            out.append("  ... %d more findings not listed (--max-findings)" % summary["findings_dropped"])
        if summary["suppressed"]:
            out.append("  rate-limited (not shown by the kernel): %s"
                       % ", ".join("%s %d" % kv for kv in summary["suppressed"].items()))
    return "\n".join(out)


def run(args):
    if args.max_findings < 0:
        print("pteguard analyze: --max-findings must be >= 0", file=sys.stderr)
        return EXIT_ERROR
    document = analyze_sources(args.paths, engine=args.engine, max_findings=args.max_findings)
    for source in document["sources"]:
        if "error" in source:
            print("pteguard analyze: %s" % source["error"], file=sys.stderr)
    if args.format == "json":
        json.dump(document, sys.stdout, indent=1, sort_keys=False)
        sys.stdout.write("\n")
    else:
        text = format_text(document)
        if text:
            print(text)
    return exit_code(document, args.fail_on)
