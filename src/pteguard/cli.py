"""The `pteguard` command line: one subcommand per job."""

from __future__ import annotations

import argparse
import os
import sys

from pteguard import __version__, analyze, exit_codes, output, terminal


def build_parser():
    parser = argparse.ArgumentParser(
        prog="pteguard",
        description="Diagnose kernel-level I/O errors caused by corrupted page tables, bad memory, drivers and "
                    "disks across Linux fleets.",
    )
    parser.add_argument("--version", action="version", version="pteguard %s" % __version__)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    analyze.add_parser(subparsers)
    from pteguard import compliance_cmd, diagnose, report_cmd, signatures_cmd
    from pteguard import apply_cmd, plan_cmd

    diagnose.add_parser(subparsers)
    signatures_cmd.add_parser(subparsers)
    report_cmd.add_parser(subparsers)
    compliance_cmd.add_parser(subparsers)
    plan_cmd.add_parser(subparsers)
    apply_cmd.add_parsers(subparsers)
    return parser


EXIT_BROKEN_PIPE = 141  # what a shell reports for a command killed by SIGPIPE


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    terminal.configure(args)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("pteguard: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away before the result was printed: never report that as success
        output.silence_stdout()
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug: one clear line, the traceback only on request
        if os.environ.get("PTEGUARD_DEBUG"):
            raise
        print("pteguard: internal error: %s: %s (set PTEGUARD_DEBUG=1 for the traceback)"
              % (type(exc).__name__, exc), file=sys.stderr)
        return exit_codes.INTERNAL


if __name__ == "__main__":
    sys.exit(main())
