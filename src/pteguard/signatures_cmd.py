"""`pteguard signatures`: print the signature catalogue, the contract of what is recognised."""

from __future__ import annotations

import json

from pteguard.parsers.signatures import ANCHORS, SIGNATURES


def add_parser(subparsers):
    parser = subparsers.add_parser("signatures", help="list the kernel-message signatures pteguard recognises")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.set_defaults(func=run)
    return parser


def run(args):
    entries = [sig.as_dict() for sig in SIGNATURES]
    if args.format == "json":
        print(json.dumps({"signatures": entries, "anchors": list(ANCHORS)}, indent=1))
        return 0
    for entry in entries:
        print("%-26s %-24s %-8s %s" % (entry["id"], entry["category"], entry["severity"], entry["source"]))
    return 0
