"""`pteguard report RUN --format ...`: one run's reports rendered as JSON, HTML, Markdown, JUnit XML or metrics."""

from __future__ import annotations

import os
import sys

from pteguard import atomic_file, exit_codes, fleet_view, output, render_junit, render_metrics, render_templates, rma

FORMATS = ("json", "html", "markdown", "junit", "metrics")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "report",
        help="render one run's host reports as JSON, HTML, Markdown, JUnit XML or Prometheus metrics",
        description="Loads every host report of a run (and its compliance result, if any), validates each against "
                    "the published schema and renders the run. RUN is a report folder, a run id under "
                    "--report-dir, or 'latest'.",
    )
    parser.add_argument("run", metavar="RUN", help="report folder, run id, or 'latest'")
    parser.add_argument("--format", choices=FORMATS, default="html")
    parser.add_argument("--output", "-o", metavar="FILE",
                        help="write here (whole, via a temp file and rename) instead of stdout")
    parser.add_argument("--report-dir", default="reports", help="where run ids are looked up (default: reports)")
    parser.add_argument("--work-dir", default=os.path.join(".pteguard", "runs"),
                        help="where the run records are, to check no listed report is missing "
                             "(default: .pteguard/runs)")
    parser.add_argument("--rma", metavar="DIR",
                        help="instead of a rendering, write one RMA evidence file per suspect DIMM into DIR "
                             "(slot, serial, part number, error counts per source, timeline)")
    parser.set_defaults(func=run)
    return parser


def render(report_dir, fmt, work_base=None, view=None):
    """The text of one rendering of the run in report_dir (raises fleet_view.ViewError); `view` is the run's
    fleet_view.build when the caller already has it."""
    if view is None:
        view = fleet_view.build(report_dir, work_base)
    renderer = {"json": render_templates.json_document, "html": render_templates.html, "markdown": render_templates.markdown,
                "junit": render_junit.junit, "metrics": render_metrics.metrics}[fmt]
    return renderer(view)


# what every diagnose/compliance run writes beside its host reports (--report-formats chooses among them)
FILES = {"json": "fleet.json", "html": "report.html", "markdown": "report.md", "junit": "junit.xml",
         "metrics": "pteguard.prom"}


def write_all(report_dir, work_base=None, formats=tuple(FILES)):
    """The chosen renderings next to the host reports; all rendered before any is written (one fails, none is)."""
    # one load of the run for all of them: loading validates every host report, the controller's largest cost
    # after a fleet's playbook
    view = fleet_view.build(report_dir, work_base) if formats else None
    texts = {fmt: render(report_dir, fmt, work_base, view) for fmt in formats}
    for fmt in formats:
        atomic_file.write(os.path.join(report_dir, FILES[fmt]), texts[fmt])
    return [os.path.join(report_dir, FILES[fmt]) for fmt in formats]


def _write_rma(report_dir, work_base, directory):
    reports, _compliance, _record = fleet_view.load_run(report_dir, work_base)
    try:
        written = rma.write(reports, directory)
    except OSError as exc:
        print("pteguard report: cannot write RMA files in %s: %s" % (
            output.printable(directory), exc.strerror or exc), file=sys.stderr)
        return exit_codes.ERROR
    for path in written:
        print(output.printable(path))
    if not written:
        print("pteguard report: no suspect DIMM in this run (no uncorrected error, no corrected-error rate over a "
              "threshold, no faulty_memory cause naming a DIMM)", file=sys.stderr)
    return exit_codes.CLEAN


def run(args):
    try:
        report_dir = fleet_view.resolve_run(args.run, args.report_dir)
        if getattr(args, "rma", None):
            return _write_rma(report_dir, os.path.abspath(args.work_dir), args.rma)
        text = render(report_dir, args.format, os.path.abspath(args.work_dir))
        if args.output:
            atomic_file.write(args.output, text)
            return exit_codes.CLEAN
        sys.stdout.write(text)
        sys.stdout.flush()
    except fleet_view.ViewError as exc:
        print("pteguard report: %s" % output.printable(str(exc)), file=sys.stderr)
        return exit_codes.ERROR
    except OSError as exc:
        print("pteguard report: cannot write %s: %s" % (args.output, exc.strerror or exc), file=sys.stderr)
        return exit_codes.ERROR
    return exit_codes.CLEAN
