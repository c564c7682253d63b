"""JUnit XML of a fleet view (fleet_view.build): one test suite per check kind, one test case per host per check.

Written with junitparser. The `diagnose` suite has a case per host that fails when the host has a finding at or
above error and errors when the host's evidence could not be read; with a compliance result, a `compliance` suite
has a case per host per policy check (fail -> failure, unknown -> error: never a pass).
"""

from __future__ import annotations

import junitparser


def _case(name, classname, outcome, message, text=""):
    case = junitparser.TestCase(name, classname=classname)
    if outcome == "failure":
        case.result = [junitparser.Failure(message)]
    elif outcome == "error":
        case.result = [junitparser.Error(message)]
    if text:
        case.system_out = text
    return case


def _diagnose_suite(view):
    suite = junitparser.TestSuite("pteguard.diagnose")
    for host in view["hosts"]:
        lines = "\n".join("%s %s line %s: %s" % (f["severity"], f["category"], f["line"] or "-", f["message"])
                          for f in host["findings"][:50])
        if host["verdict"] == "not_evaluated":
            outcome, message = "error", "not evaluated: %s (%s)" % (host["status"], host["cause_text"])
        elif host["verdict"] == "findings":
            outcome = "failure"
            message = "highest severity %s; probable cause %s" % (host["highest_severity"], host["cause_text"])
        else:
            outcome, message = "pass", ""
        suite.add_testcase(_case("findings", host["host"], outcome, message, lines))
    return suite


def _compliance_suite(view):
    suite = junitparser.TestSuite("pteguard.compliance")
    for host in view["hosts"]:
        compliance = host["compliance"]
        if compliance is None:
            suite.add_testcase(_case("compliance", host["host"], "error", "host not in the compliance result"))
            continue
        if not compliance["checks"]:
            suite.add_testcase(_case("compliance", host["host"], "error",
                                     "not evaluated: %s %s" % (compliance["status"], compliance.get("message") or "")))
        for check in compliance["checks"]:
            outcome = {"pass": "pass", "fail": "failure"}.get(check["result"], "error")
            suite.add_testcase(_case(check["check"], host["host"], outcome, check["message"],
                                     "\n".join(check.get("details") or [])))
    return suite


def junit(view):
    xml = junitparser.JUnitXml("pteguard run %s" % view["run_id"])
    xml.add_testsuite(_diagnose_suite(view))
    if view["compliance"] is not None:
        xml.add_testsuite(_compliance_suite(view))
    for suite in xml:
        suite.update_statistics()
    xml.update_statistics()
    return xml.tostring().decode("utf-8") + "\n"
