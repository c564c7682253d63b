"""The compliance policy file: YAML read safely, validated against schemas/policy.schema.json.

Every wrong key is reported on its own line as 'where: what', and nothing runs on a policy that does not validate.
"""

from __future__ import annotations

import hashlib
import json

import jsonschema
import referencing
import yaml

from pteguard import fleet_view

DEFAULT_EVENT_CATEGORIES = ("memory_error_uncorrected", "pte_corruption", "bad_page_state", "memory_page_offlined")


class PolicyError(Exception):
    """The policy cannot be used; args[0] is the list of one-line problems."""


def _validator():
    with open(fleet_view.schema_path("policy.schema.json"), encoding="utf-8") as handle:
        schema = json.load(handle)
    with open(fleet_view.schema_path(), encoding="utf-8") as handle:
        report_schema = json.load(handle)
    registry = referencing.Registry().with_resource(
        report_schema["$id"], referencing.Resource.from_contents(report_schema))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _where(error):
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def load(path):
    """(policy dict, sha256 of the file); raises PolicyError with every problem found."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise PolicyError(["cannot read %s: %s" % (path, exc.strerror or exc)])
    try:
        document = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " at line %d column %d" % (mark.line + 1, mark.column + 1) if mark else ""
        raise PolicyError(["%s is not valid YAML%s: %s" % (path, where, getattr(exc, "problem", None) or exc)])
    errors = sorted(_validator().iter_errors(document), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if errors:
        raise PolicyError(["%s: %s: %s" % (path, _where(e), e.message) for e in errors])
    checks = document["checks"]
    if "no_new_events" in checks:
        checks["no_new_events"].setdefault("categories", list(DEFAULT_EVENT_CATEGORIES))
    return document, hashlib.sha256(raw).hexdigest()
