"""Prometheus metrics of a fleet view in the node_exporter textfile format (text exposition format 0.0.4).

node_exporter's textfile collector reads *.prom files from one folder; write them with a temp file and a rename
(report_cmd does) so it never reads half a file.
"""

from __future__ import annotations

RESULT_VALUE = {"pass": 1, "fail": 0, "unknown": -1}


def _escape(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name, labels, value):
    inner = ",".join('%s="%s"' % (key, _escape(val)) for key, val in labels)
    return "%s{%s} %s" % (name, inner, value) if inner else "%s %s" % (name, value)


class _Family:
    def __init__(self, name, help_text, kind="gauge"):
        self.lines = ["# HELP %s %s" % (name, help_text), "# TYPE %s %s" % (name, kind)]
        self.name = name

    def add(self, labels, value):
        self.lines.append(_sample(self.name, labels, value))


def metrics(view):
    findings = _Family("pteguard_findings", "Findings in the last run by host, category and severity.")
    cause = _Family("pteguard_probable_cause", "Probable cause of each host (value: confidence 0-1).")
    evaluated = _Family("pteguard_host_evaluated", "1 when the host's evidence was read in the last run, else 0.")
    check = _Family("pteguard_compliance_check", "Compliance check result per host: 1 pass, 0 fail, -1 unknown.")
    host_result = _Family("pteguard_compliance_host", "Compliance result per host: 1 pass, 0 fail, -1 unknown.")
    last = _Family("pteguard_last_run_timestamp_seconds", "Start of the run these metrics come from (Unix time).")
    for host in view["hosts"]:
        name = host["host"]
        evaluated.add([("host", name), ("status", host["status"])], 1 if host["status"] == "ok" else 0)
        counts = {}
        for finding in host["findings"]:
            key = (finding["category"], finding["severity"])
            counts[key] = counts.get(key, 0) + 1
        for (category, severity), count in sorted(counts.items()):
            findings.add([("host", name), ("category", category), ("severity", severity)], count)
        cause.add([("host", name), ("cause", host["probable_cause"])], host["confidence"])
        if host["compliance"] is not None:
            host_result.add([("host", name)], RESULT_VALUE[host["compliance"]["result"]])
            for result in host["compliance"]["checks"]:
                check.add([("host", name), ("check", result["check"])], RESULT_VALUE[result["result"]])
    last.add([("run_id", view["run_id"])], view["started_epoch"])
    families = [findings, cause, evaluated, last]
    if view["compliance"] is not None:
        families[3:3] = [host_result, check]
    return "\n".join(line for family in families for line in family.lines) + "\n"
