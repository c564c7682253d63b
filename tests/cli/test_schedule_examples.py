"""The scheduling examples under examples/: the systemd units pass `systemd-analyze verify` with this checkout's paths
put in, the cron line is a valid /etc/cron.d entry that runs the same command, and the AWX job template asks only
for variables the diagnose role documents, with the simple types its meta/argument_specs.yml gives them.

The ServiceNow example is optional and untested here (no instance, no servicenow.itsm): only its YAML is parsed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
UNITS = ("pteguard-compliance.service", "pteguard-compliance.timer")
# AWX survey type -> the argument_specs type a variable must have for the answer to arrive as that type
SURVEY_TYPES = {"integer": "int", "float": "float", "text": "str", "textarea": "str", "password": "str",
                "multiplechoice": "str", "multiselect": "list"}


def _substituted(tmp_path, name, policy):
    text = open(os.path.join(EXAMPLES, *name.split("/")), encoding="utf-8").read()
    text = text.replace("@CHECKOUT@", ROOT).replace("@INVENTORY@", os.path.join(ROOT, "inventories", "local"))
    text = text.replace("@POLICY@", str(policy))
    assert "@" not in re.sub(r"^#.*$", "", text, flags=re.M).replace("$@", ""), "a placeholder was left"
    out = tmp_path / os.path.basename(name)
    out.write_text(text)
    return out, text


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policy.yml"
    path.write_text(yaml.safe_dump({"version": 1, "checks": {"kernel": {"min_version": "4.19"}}}))
    return path


def test_systemd_units_verify(tmp_path, policy):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing (Debian package systemd)")
    if not os.access(os.path.join(ROOT, ".venv", "bin", "pteguard"), os.X_OK):
        pytest.fail("run scripts/setup first: the unit's ExecStart is .venv/bin/pteguard")
    paths = [_substituted(tmp_path, "systemd/" + unit, policy)[0] for unit in UNITS]
    proc = subprocess.run([analyze, "verify"] + [str(p) for p in paths], capture_output=True, text=True,
                          timeout=120, check=False, cwd=str(tmp_path))
    # verify prints every problem it finds (unknown keys, bad calendar specs, missing executables) and exits non-zero
    problems = [line for line in proc.stderr.splitlines() if "pteguard-compliance" in line]
    assert proc.returncode == 0 and not problems, proc.stderr
    calendar = subprocess.run([analyze, "calendar", "*-*-* 02:30:00"], capture_output=True, text=True, timeout=60,
                              check=False)
    assert calendar.returncode == 0, calendar.stderr


def test_systemd_unit_runs_the_compliance_command_it_documents(tmp_path, policy):
    _path, text = _substituted(tmp_path, "systemd/pteguard-compliance.service", policy)
    exec_start = re.search(r"^ExecStart=(.+)$", text, re.M).group(1).split()
    assert exec_start[:2] == [os.path.join(ROOT, ".venv", "bin", "pteguard"), "compliance"]
    # the arguments parse with the real CLI parser (a renamed option would fail here)
    sys.path.insert(0, os.path.join(ROOT, "src"))
    from pteguard import cli

    args = cli.build_parser().parse_args(exec_start[1:])
    assert args.quiet and args.policy == str(policy)
    # 1 and 4 are verdicts, 2 and 5 leave the unit failed
    assert re.search(r"^SuccessExitStatus=1 4$", text, re.M)


def test_cron_line(tmp_path, policy):
    _path, text = _substituted(tmp_path, "cron/pteguard-compliance", policy)
    jobs = [line for line in text.splitlines() if line.strip() and not line.startswith("#") and "=" not in
            line.split()[0]]
    assert len(jobs) == 1
    fields = jobs[0].split(None, 6)
    minute, hour, dom, month, dow, user, command = fields
    assert (minute, hour, dom, month, dow, user) == ("30", "2", "*", "*", "*", "root")
    # the command is valid sh (cron runs it with SHELL=/bin/sh)
    check = subprocess.run(["/bin/sh", "-n", "-c", command], capture_output=True, text=True, timeout=30, check=False)
    assert check.returncode == 0, check.stderr
    assert "pteguard compliance -i %s" % os.path.join(ROOT, "inventories", "local") in command and "--quiet" in command
    # /etc/cron.d names may not hold dots (run-parts rules)
    assert re.fullmatch(r"[A-Za-z0-9_-]+", "pteguard-compliance")


def _role_options(role):
    spec = yaml.safe_load(open(os.path.join(ROOT, "roles", role, "meta", "argument_specs.yml"), encoding="utf-8"))
    return spec["argument_specs"]["main"]["options"]


def _awx_tasks():
    plays = yaml.safe_load(open(os.path.join(EXAMPLES, "awx", "job_template.yml"), encoding="utf-8"))
    return {next(k for k in task if k.startswith("awx.awx.")): task for task in plays[0]["tasks"]}


def test_awx_survey_asks_only_documented_simple_variables():
    tasks = _awx_tasks()
    template = tasks["awx.awx.job_template"]["awx.awx.job_template"]
    playbook = os.path.join(ROOT, template["playbook"])
    assert os.path.isfile(playbook)
    roles = [r["role"].split(".")[-1] for r in yaml.safe_load(open(playbook, encoding="utf-8"))[0]["roles"]]
    options = {}
    for role in roles:
        options.update(_role_options(role))
    for question in template["survey_spec"]["spec"]:
        name = question["variable"]
        assert name in options, "%s is not in the role's argument_specs" % name
        assert options[name]["description"], name
        assert SURVEY_TYPES[question["type"]] == options[name]["type"], name
        if question["type"] in ("multiselect", "multiplechoice"):
            assert set(question["choices"]) <= set(options[name]["choices"]), name
    for name, value in template["extra_vars"].items():
        assert name in options, "%s is not in the role's argument_specs" % name
        kind = {"bool": bool, "int": int, "str": str, "path": str, "list": list}[options[name]["type"]]
        assert isinstance(value, kind), name
    # a survey answers with text: a boolean there would arrive as the string "false", which is true
    assert not any(options[q["variable"]]["type"] == "bool" for q in template["survey_spec"]["spec"])


def test_awx_schedule_points_at_the_template_with_a_daily_rrule():
    tasks = _awx_tasks()
    schedule = tasks["awx.awx.schedule"]["awx.awx.schedule"]
    assert schedule["unified_job_template"] == tasks["awx.awx.job_template"]["awx.awx.job_template"]["name"]
    assert re.fullmatch(r"DTSTART;TZID=UTC:\d{8}T\d{6}Z? RRULE:FREQ=DAILY;INTERVAL=1", schedule["rrule"])
    options = _role_options("diagnose")
    for name, value in schedule["extra_data"].items():
        assert name in options and isinstance(value, int if options[name]["type"] == "int" else str)


def test_servicenow_example_is_marked_optional_and_parses():
    path = os.path.join(EXAMPLES, "servicenow", "change_request.yml")
    text = open(path, encoding="utf-8").read()
    assert text.startswith("---\n# OPTIONAL EXAMPLE, NOT TESTED")
    task = yaml.safe_load(text)[0]["tasks"][1]["servicenow.itsm.change_request"]
    assert [a["path"].rsplit("/", 1)[1] for a in task["attachments"]] == ["report.md", "fleet.json"]
