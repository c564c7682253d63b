"""The compliance baseline: per host, the identities of the events already known, and which fleet it belongs to.

One file (<baseline dir>/baseline.json, pteguard.baseline/1), written whole via a temp file and rename. A baseline
made for another fleet (other inventories, --limit or host set) is refused, never silently compared.
"""

from __future__ import annotations

import datetime
import json
import os

from pteguard import atomic_file, compliance_checks, fleet_view

FILE = "baseline.json"
SCHEMA = "pteguard.baseline/1"


class BaselineError(Exception):
    pass


def fleet_identity(inventories, limit, hosts=None):
    identity = {"inventories": sorted(os.path.abspath(i) for i in inventories), "limit": limit}
    if hosts is not None:
        identity["hosts"] = sorted(hosts)
    return identity


def load(directory):
    """The stored baseline, or None when there is none yet."""
    path = os.path.join(directory, FILE)
    if not os.path.exists(path):
        return None
    try:
        document = fleet_view.read_json(path)
    except fleet_view.ViewError as exc:
        raise BaselineError(str(exc))
    errors = fleet_view.schema_errors(document)
    if errors or not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise BaselineError("%s is not a pteguard baseline (%s)" % (path, errors[0] if errors else "schema"))
    return document


def check_fleet(document, inventories, limit, hosts=None):
    """Refuse a baseline made for other inventories, another --limit, or (once known) another host set."""
    if document is None:
        return
    fleet = document["fleet"]
    want = fleet_identity(inventories, limit, hosts)
    if fleet["inventories"] != want["inventories"] or fleet.get("limit") != limit:
        raise BaselineError("the baseline was made for another fleet (inventories %s, limit %s; now %s, limit %s): "
                            "use another --baseline-dir or remove it" % (
                                ", ".join(fleet["inventories"]), fleet.get("limit"),
                                ", ".join(want["inventories"]), limit))
    if hosts is not None and sorted(fleet["hosts"]) != want["hosts"]:
        added, gone = sorted(set(hosts) - set(fleet["hosts"])), sorted(set(fleet["hosts"]) - set(hosts))
        raise BaselineError("the baseline was made for another host set (new: %s; missing: %s): use another "
                            "--baseline-dir or remove it" % (", ".join(added) or "-", ", ".join(gone) or "-"))


def build(run_id, inventories, limit, reports):
    """A new baseline from the host reports of a run where every host was read."""
    return {
        "schema": SCHEMA,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_id": run_id,
        "fleet": fleet_identity(inventories, limit, list(reports)),
        "hosts": {host: {"events": [ident for ident, _o, _f in compliance_checks.events(report)],
                         "cursor": report["kernel_log"].get("cursor")}
                  for host, report in sorted(reports.items())},
    }


def save(directory, document):
    errors = fleet_view.schema_errors(document)
    if errors:  # a bug if it happens: never store a baseline the next run would refuse
        raise BaselineError("baseline not written, it does not match the schema at %s" % errors[0])
    os.makedirs(directory, mode=0o750, exist_ok=True)
    atomic_file.write(os.path.join(directory, FILE), json.dumps(document, indent=1) + "\n", mode=0o640)
