"""HTML, Markdown and JSON renderings of a fleet view (fleet_view.build): Jinja2 templates shipped with the CLI."""

from __future__ import annotations

import base64
import hashlib
import importlib.resources
import json

import jinja2

from pteguard.parsers.signatures import SEVERITY_RANK

FLEET_SCHEMA = "pteguard.fleet/1"


def _template_text(name):
    return importlib.resources.files("pteguard").joinpath("templates", name).read_text(encoding="utf-8")


def _csp_hash(text):
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def _environment(autoescape):
    env = jinja2.Environment(autoescape=autoescape, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True,
                             loader=jinja2.FunctionLoader(_template_text))
    env.filters["cell"] = _md_cell
    env.filters["fence"] = lambda text: str(text).replace("```", "'''")
    return env


def _md_cell(text):
    """Text safe inside a Markdown table cell: one line, pipes and markup characters escaped."""
    text = " ".join(str(text).split())
    for char in "\\|*_`[]<>":
        text = text.replace(char, "\\" + char)
    return text


def _host_attrs(host):
    """The data-* attributes the page's filter reads (escaped by the template's autoescape)."""
    search = " ".join([host["host"], host["kernel"], host["cause_text"], host["status"]]
                      + [f["message"] for f in host["findings"]]).lower()
    verdict = host["compliance"]["result"] if host["compliance"] else host["verdict"]
    return jinja2.utils.markupsafe.Markup(
        'data-host="%s" data-cause="%s" data-verdict="%s" data-diagnose-verdict="%s" data-search="%s"'
    ) % (host["host"], host["probable_cause"], verdict, host["verdict"], search)


def html(view):
    style, script = _template_text("report.css"), _template_text("report.js")
    template = _environment(True).get_template("report.html.j2")
    # the page's own static CSS and JS, inlined as they are: the CSP hashes are of exactly these bytes
    safe = jinja2.utils.markupsafe.Markup
    return template.render(view=view, style=safe(style), script=safe(script), style_hash=_csp_hash(style),
                           script_hash=_csp_hash(script), attrs=_host_attrs,
                           rank=lambda severity: SEVERITY_RANK.get(severity, -1))


def markdown(view):
    return _environment(False).get_template("report.md.j2").render(view=view)


def json_document(view):
    """The run as one document: the host reports as written, the compliance result and the fleet summary."""
    document = {
        "schema": FLEET_SCHEMA,
        "run_id": view["run_id"],
        "started": view["started"],
        "summary": view["summary"],
        "hosts": [{"host": h["host"], "status": h["status"], "verdict": h["verdict"],
                   "probable_cause": h["probable_cause"],
                   "compliance": h["compliance"]["result"] if h["compliance"] else None} for h in view["hosts"]],
        "by_cause": view["by_cause"],
        "correlation": view["correlation"],
        "compliance": view["compliance"],
        "reports": view["reports"],
    }
    return json.dumps(document, indent=1) + "\n"
