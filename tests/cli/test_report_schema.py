"""Every document pteguard writes validates against the published JSON Schema (schemas/report.schema.json).

The analyze documents come from every real log fixture (tests/fixtures/logs, sources beside them); host reports
written by `pteguard diagnose` are validated in the end-to-end tests with the same helper.
"""

from __future__ import annotations

import glob
import json
import os

import jsonschema
import pytest

from pteguard.analyze import analyze_sources

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_PATH = os.path.join(ROOT, "schemas", "report.schema.json")
LOGS = sorted(glob.glob(os.path.join(ROOT, "tests", "fixtures", "logs", "*.log")))


def validator():
    with open(SCHEMA_PATH, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_the_schema_is_a_valid_json_schema():
    validator()


@pytest.mark.parametrize("path", LOGS, ids=[os.path.basename(p) for p in LOGS])
def test_analyze_document_of_every_fixture_validates(path):
    document = analyze_sources([path])
    errors = sorted(validator().iter_errors(document), key=str)
    assert not errors, "; ".join("%s: %s" % (list(e.absolute_path), e.message) for e in errors[:5])


def test_a_document_with_an_unreadable_path_validates():
    document = analyze_sources([os.path.join(ROOT, "no-such.log"), LOGS[0]])
    assert "error" in document["sources"][0]
    validator().validate(document)


def test_a_wrong_document_is_refused():
    document = analyze_sources([LOGS[0]])
    finding = next(s for s in document["sources"] if s.get("findings"))["findings"][0]
    finding["severity"] = "catastrophic"
    with pytest.raises(jsonschema.ValidationError):
        validator().validate(document)
