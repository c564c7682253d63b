"""`pteguard analyze`: offline triage of saved kernel logs on the controller."""

from __future__ import annotations

import json
import os
import re
import sys

from pteguard import exit_codes
from pteguard.parsers import source_status
from pteguard.parsers.log_scan import LogSourceError
from pteguard.parsers.signatures import at_or_above
from pteguard.scan_io import scan_path, scan_stream

EXIT_CLEAN = exit_codes.CLEAN
EXIT_FINDINGS = exit_codes.FINDINGS
EXIT_ERROR = exit_codes.ERROR
EXIT_INCOMPLETE = exit_codes.INCOMPLETE

# Log text is data from anywhere: control characters, escape sequences and bidirectional overrides never reach the
# terminal raw in the text report.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")

# Facts worth a column in the text report, in the order shown.
_TEXT_FACTS = ("device", "sector", "address", "address_region", "pfn", "process", "pid", "symbol", "module",
               "dimm", "cpu", "bank", "mce_status", "error_class", "reason")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "analyze",
        help="triage saved kernel logs (dmesg, journal, syslog, kern.log, console captures)",
        description="Find page-table corruption, oopses, machine checks, memory, disk and filesystem errors in "
                    "saved kernel logs. Reads files, FIFOs and '-' (standard input): plain text, UTF-16/32 with a "
                    "BOM, gzip, xz, bzip2 and zstd (told by their first bytes, not their names); no SSH. Exit: 0 clean, "
                    "1 findings, 2 a path unreadable or bad arguments, 4 a path read only in part.",
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
    """Scan each path; every source says its status (source_status): read, partial, empty, missing or unreadable.

    A source read in part keeps its findings and says why and where it stopped ("reason", "offset"); one that could
    not be read at all carries an "error" instead of findings.
    """
    sources = []
    for path in paths:
        try:
            if path == "-":
                stream = stdin if stdin is not None else getattr(sys.stdin, "buffer", None)
                result = scan_stream(stream, engine=engine, max_findings=max_findings, name="-")
            else:
                result = scan_path(path, engine=engine, max_findings=max_findings)
        except LogSourceError as exc:
            sources.append({"path": path, "status": exc.status, "error": str(exc)})
            continue
        source = {"path": path, "status": source_status.READ, "format": result["format"]}
        damage = result.get("damage")
        if damage is not None:
            source.update(status=source_status.PARTIAL, reason=damage["reason"], offset=damage["offset"])
        elif result.get("empty"):
            source["status"] = source_status.EMPTY
        source.update(findings=result["findings"], summary=result["summary"])
        sources.append(source)
    return {"version": 1, "sources": sources}


def exit_code(document, fail_on):
    """The worst of: a path not read (ERROR), read in part (INCOMPLETE), findings at or above fail_on."""
    codes = []
    for source in document["sources"]:
        if "error" in source:
            codes.append(EXIT_ERROR)
            continue
        if source["status"] == source_status.PARTIAL:
            codes.append(EXIT_INCOMPLETE)
        if at_or_above(source["summary"]["highest_severity"], fail_on):
            codes.append(EXIT_FINDINGS)
    return exit_codes.worst(codes)


def safe_text(text):
    """Text with every control character shown as an escape (\\x1b, \\u202e), never sent raw to a terminal."""
    text = str(text)
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(lambda m: "\\x%02x" % ord(m.group()) if ord(m.group()) < 0x100 else "\\u%04x" % ord(m.group()),
                       text)


def format_text(document):
    out = []
    for source in document["sources"]:
        if "error" in source:
            continue
        summary = source["summary"]
        counts = ", ".join("%s %d" % kv for kv in summary["by_category"].items()) or "no findings"
        if source["status"] == source_status.EMPTY:
            counts = "empty"
        out.append("%s: %s" % (safe_text(source["path"]), counts))
        if source["status"] == source_status.PARTIAL:
            out.append("  READ IN PART: %s" % safe_text(source["reason"]))
        for finding in source["findings"]:
            facts = " ".join("%s=%s" % (key, safe_text(finding[key])) for key in _TEXT_FACTS if key in finding)
            out.append("  line %-7d %-8s %-24s %s" % (finding["line"], finding["severity"], finding["category"], facts))
            out.append("               %s" % safe_text(finding["message"][:160]))
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
    code = exit_code(document, args.fail_on)
    for source in document["sources"]:
        if "error" in source:
            print("pteguard analyze: %s" % safe_text(source["error"]), file=sys.stderr)
        elif source["status"] == source_status.PARTIAL:
            print("pteguard analyze: %s: read in part: %s" % (safe_text(source["path"]), safe_text(source["reason"])),
                  file=sys.stderr)
    try:
        if args.format == "json":
            json.dump(document, sys.stdout, indent=1, sort_keys=False)
            sys.stdout.write("\n")
        else:
            text = format_text(document)
            if text:
                print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # the reader went away (`| head`): the verdict still stands, and Python must not fail flushing at exit
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    return code
