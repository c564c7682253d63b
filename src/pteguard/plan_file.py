"""The plan file: what would run where and why, with a digest that makes hand edits visible.

The digest is sha256 over the canonical JSON of the plan without its `digest` key (keys sorted, no spaces, UTF-8).
The plan records its inventory (each path with a digest of its content, and the resolved hosts) and, per host, the
digest of the evidence that decided its steps, so `apply` can refuse a plan whose inventory or evidence changed.
"""

from __future__ import annotations

import hashlib
import json
import os

SCHEMA = "pteguard.plan/1"


class PlanError(Exception):
    """A plan cannot be used; the message says why in one line."""


def canonical(document):
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest_of(document):
    return hashlib.sha256(canonical(document)).hexdigest()


def seal(plan):
    """The plan with its digest set (over everything else)."""
    body = {k: v for k, v in plan.items() if k != "digest"}
    return dict(body, digest=digest_of(body))


def load(path):
    """A plan read from `path`, its digest verified; PlanError otherwise."""
    try:
        with open(path, encoding="utf-8") as handle:
            plan = json.load(handle)
    except OSError as exc:
        raise PlanError("cannot read plan %s: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise PlanError("plan %s is not JSON: %s" % (path, exc))
    if not isinstance(plan, dict) or plan.get("schema") != SCHEMA:
        raise PlanError("%s is not a pteguard plan (schema %s expected)" % (path, SCHEMA))
    body = {k: v for k, v in plan.items() if k != "digest"}
    if plan.get("digest") != digest_of(body):
        raise PlanError("plan %s was changed after it was made (its digest does not match its content); make a new "
                        "plan with `pteguard plan`" % path)
    return plan


# --- inventory ---------------------------------------------------------------------------------------

def _file_digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 16), b""):
            sha.update(block)
    return sha.hexdigest()


def content_digest(path):
    """sha256 of an inventory file, or of every file of an inventory folder (relative names and contents)."""
    if not os.path.isdir(path):
        return _file_digest(path)
    sha = hashlib.sha256()
    for folder, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(folder, name)
            sha.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape") + b"\0")
            sha.update(_file_digest(full).encode("ascii") + b"\n")
    return sha.hexdigest()


def inventory_record(inventories, hosts, limit):
    return {"paths": [{"path": os.path.abspath(p), "sha256": content_digest(p)} for p in inventories],
            "limit": limit, "hosts": list(hosts)}


def inventory_changes(recorded, inventories=None):
    """What differs between the plan's inventory and the one on disk (or the -i given to apply): [] when none."""
    changes = []
    paths = [entry["path"] for entry in recorded["paths"]]
    if inventories is not None and [os.path.abspath(p) for p in inventories] != paths:
        changes.append("the plan is for inventory %s, not %s"
                       % (", ".join(paths), ", ".join(os.path.abspath(p) for p in inventories)))
        return changes
    for entry in recorded["paths"]:
        try:
            now = content_digest(entry["path"])
        except OSError as exc:
            changes.append("inventory %s cannot be read: %s" % (entry["path"], exc.strerror or exc))
            continue
        if now != entry["sha256"]:
            changes.append("inventory %s changed since the plan was made" % entry["path"])
    return changes


def host_list_changes(recorded_hosts, hosts):
    added = [h for h in hosts if h not in recorded_hosts]
    gone = [h for h in recorded_hosts if h not in hosts]
    out = []
    if added:
        out.append("hosts not in the plan: %s" % ", ".join(added))
    if gone:
        out.append("hosts of the plan no longer in the inventory: %s" % ", ".join(gone))
    return out


# --- evidence ----------------------------------------------------------------------------------------

def _finding_ids(findings):
    return sorted([str(f.get(k)) for k in ("signature", "category", "severity", "time", "message")]
                  for f in findings or [] if isinstance(f, dict))


def evidence_parts(row, report):
    """The evidence that decides a host's steps, in parts whose digests `evidence_changes` compares."""
    if row.get("status") != "ok" or report is None:
        return {"status": row.get("status")}
    hw = report.get("hardware_errors") or {}
    disks = report.get("disk_health") or {}
    diagnosis = report.get("diagnosis") or {}
    return {
        "status": "ok",
        "kernel_log": _finding_ids(report["kernel_log"].get("findings")),
        "hardware_errors": _finding_ids(hw.get("findings")),
        "disk_health": _finding_ids(disks.get("findings")),
        "causes": [[c["cause"], c.get("subject")] for c in diagnosis.get("causes") or []],
    }


def evidence_digests(parts):
    """{'digest': over all parts, 'parts': {name: digest or count}} for the plan."""
    summary = {}
    for name, value in parts.items():
        if name == "status":
            summary[name] = value
        elif name == "causes":
            summary[name] = ["%s%s" % (c, " " + " ".join(str(v) for v in s.values()) if s else "") for c, s in value]
        else:
            summary[name] = {"count": len(value), "sha256": digest_of(value)}
    return {"sha256": digest_of(parts), "parts": summary}


def evidence_changes(host, planned, now):
    """One line per part that differs between the plan's evidence and a new diagnosis of `host`."""
    if planned["sha256"] == now["sha256"]:
        return []
    out = []
    old, new = planned["parts"], now["parts"]
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            out.append("%s: %s findings changed (%d then, %d now)" % (host, name, a["count"], b["count"]))
        else:
            out.append("%s: %s was %s, now %s" % (host, name, a, b))
    return out or ["%s: evidence changed" % host]
