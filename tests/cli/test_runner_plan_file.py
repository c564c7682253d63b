"""Plan digests, inventory fingerprints and evidence comparison (pure functions; real files in tmp_path)."""

from __future__ import annotations

import json

import pytest

from pteguard import plan_file


def _plan(tmp_path):
    inventory = tmp_path / "inv.yml"
    inventory.write_text("all:\n  hosts:\n    a: {}\n")
    return plan_file.seal({"schema": plan_file.SCHEMA, "hosts": [{"host": "a", "steps": []}],
                           "inventory": plan_file.inventory_record([str(inventory)], ["a"], None)}), inventory


def test_sealed_plan_loads(tmp_path):
    plan, _inv = _plan(tmp_path)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan, indent=3))  # layout is not content
    assert plan_file.load(str(path)) == plan


def test_hand_edited_plan_is_refused(tmp_path):
    plan, _inv = _plan(tmp_path)
    plan["hosts"][0]["steps"].append({"step": "memory_test"})
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    with pytest.raises(plan_file.PlanError, match="changed after it was made"):
        plan_file.load(str(path))


@pytest.mark.parametrize("text, why", [("{", "not JSON"), ("[]", "not a pteguard plan"),
                                       ('{"schema": "x"}', "not a pteguard plan")])
def test_not_a_plan(tmp_path, text, why):
    path = tmp_path / "plan.json"
    path.write_text(text)
    with pytest.raises(plan_file.PlanError, match=why):
        plan_file.load(str(path))


def test_inventory_content_and_path_changes_are_named(tmp_path):
    plan, inventory = _plan(tmp_path)
    assert plan_file.inventory_changes(plan["inventory"]) == []
    assert plan_file.inventory_changes(plan["inventory"], [str(inventory)]) == []
    other = tmp_path / "other.yml"
    other.write_text("all: {}\n")
    assert "the plan is for inventory" in plan_file.inventory_changes(plan["inventory"], [str(other)])[0]
    inventory.write_text("all:\n  hosts:\n    b: {}\n")
    assert plan_file.inventory_changes(plan["inventory"]) == [
        "inventory %s changed since the plan was made" % inventory]


def test_inventory_folder_digest_covers_every_file(tmp_path):
    (tmp_path / "inv" / "group_vars").mkdir(parents=True)
    (tmp_path / "inv" / "hosts.yml").write_text("all: {}\n")
    (tmp_path / "inv" / "group_vars" / "all.yml").write_text("pteguard_allow_hw_monitor: false\n")
    before = plan_file.content_digest(str(tmp_path / "inv"))
    (tmp_path / "inv" / "group_vars" / "all.yml").write_text("pteguard_allow_hw_monitor: true\n")
    assert plan_file.content_digest(str(tmp_path / "inv")) != before


def test_evidence_change_says_what_changed():
    row = {"status": "ok"}
    report = {"kernel_log": {"findings": [{"signature": "ghes", "category": "memory_error_uncorrected",
                                           "severity": "critical", "time": "t1", "message": "m"}]},
              "diagnosis": {"causes": [{"cause": "faulty_memory", "subject": {"dimm": "A1"}}]}}
    before = plan_file.evidence_digests(plan_file.evidence_parts(row, report))
    assert plan_file.evidence_changes("h", before, before) == []
    report["kernel_log"]["findings"].append(dict(report["kernel_log"]["findings"][0], time="t2"))
    after = plan_file.evidence_digests(plan_file.evidence_parts(row, report))
    assert plan_file.evidence_changes("h", before, after) == ["h: kernel_log findings changed (1 then, 2 now)"]
    gone = plan_file.evidence_digests(plan_file.evidence_parts({"status": "unreachable"}, None))
    assert plan_file.evidence_changes("h", before, gone)[-1] == "h: status was ok, now unreachable"
