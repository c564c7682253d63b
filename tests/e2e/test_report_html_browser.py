"""The HTML report in a real headless chromium (Debian's package), opened from a file:// URL and driven over the
DevTools protocol on a pipe (--remote-debugging-pipe): hosts render, the page's filter works, no request leaves the
page. The screenshot is kept under build/test-artifacts/ for a person to look at.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import signal
import time

import pytest
import yaml

from e2e_support import COLLECTIONS, FIXTURE_LOGS, ROOT, explain, run, tool, write_inventory

CHROMIUM = shutil.which("chromium")
ARTIFACTS = os.path.join(ROOT, "build", "test-artifacts")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1280,1000"]
STEP_TIMEOUT = 60  # seconds for any one DevTools answer or event


class DevTools:
    """A minimal DevTools-protocol client over chromium's pipe (fd 3: commands in, fd 4: answers out)."""

    def __init__(self, profile):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        assert min(to_browser_r, from_browser_w) > 4  # the dup2s below must not clobber each other
        # posix_spawn: dup2 clears close-on-exec on 3 and 4 only; every other descriptor of pytest stays closed
        actions = [(os.POSIX_SPAWN_DUP2, to_browser_r, 3), (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
                   (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                   (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
        self.pid = os.posix_spawn(CHROMIUM, [CHROMIUM, *FLAGS, "--user-data-dir=%s" % profile, "about:blank"],
                                  os.environ, file_actions=actions)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.buffer, self.next_id, self.events = b"", 0, []

    def _read_message(self, deadline):
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            ready, _w, _x = select.select([self.from_browser], [], [], max(left, 0))
            if not ready:
                pytest.fail("chromium did not answer within %ss" % STEP_TIMEOUT)
            chunk = os.read(self.from_browser, 65536)
            if not chunk:
                pytest.fail("chromium closed its DevTools pipe")
            self.buffer += chunk
        message, _sep, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self.next_id:
                assert "error" not in answer, answer
                return answer["result"]
            self.events.append(answer)

    def wait_event(self, method):
        deadline = time.monotonic() + STEP_TIMEOUT
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def evaluate(self, session, expression):
        answer = self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def close(self):
        os.kill(self.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.to_browser)
        os.close(self.from_browser)


def _host(log):
    return {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}",
            "diagnose_kernel_log_sources": ["kern_log"], "diagnose_kern_log_paths": [log]}


@pytest.fixture(scope="module")
def html_report(ansible_env, tmp_path_factory):
    """report.html of a compliance run: 'pte' fails (page-table corruption, no baseline), 'calm' passes."""
    base = tmp_path_factory.mktemp("html")
    inventory = write_inventory(base / "inv.yml", {
        "pte": _host(os.path.join(FIXTURE_LOGS, "pte_corruption-corrupted_page_table-syslog-6.10.log")),
        "calm": _host(os.path.join(FIXTURE_LOGS, "none-wsl_boot_recovery_complete.log"))})
    (base / "policy.yml").write_text(yaml.safe_dump({"version": 1, "checks": {"no_new_events": {}}}))
    proc = run([tool("pteguard"), "compliance", "-i", inventory, "--policy", str(base / "policy.yml"),
                "--report-dir", str(base / "reports"), "--work-dir", str(base / "work"), "--collections-path",
                COLLECTIONS, "--baseline-dir", str(base / "baseline")], ansible_env, cwd=str(base))
    assert proc.returncode == 1, explain(proc)
    return base / "reports" / "latest" / "report.html", base


def test_html_report_in_headless_chromium(html_report):
    if CHROMIUM is None:
        pytest.fail("chromium is missing: scripts/setup --test installs it")
    path, base = html_report
    browser = DevTools(base / "profile")
    try:
        target = browser.call("Target.createTarget", url="about:blank")["targetId"]
        session = browser.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        browser.call("Network.enable", session)
        browser.call("Page.enable", session)
        browser.call("Page.navigate", session, url="file://%s" % os.path.realpath(path))
        browser.wait_event("Page.loadEventFired")

        hosts = browser.evaluate(session, "Array.from(document.querySelectorAll('#hosts tbody tr'))"
                                          ".map(r => r.getAttribute('data-host'))")
        assert sorted(hosts) == ["calm", "pte"]
        assert browser.evaluate(session, "document.querySelectorAll('section.host').length") == 2
        assert "Corrupted page table" in browser.evaluate(session, "document.body.innerText")
        # the CSS applied (the CSP admits the inline style by its hash): the failing verdict cell is coloured
        colour = browser.evaluate(session, "getComputedStyle(document.querySelector('tr[data-host=pte] td.findings'))"
                                           ".backgroundColor")
        assert colour == "rgb(248, 208, 208)", colour

        shown = browser.evaluate(session, "window.pteguardFilter({verdict: 'fail'})")
        visible = browser.evaluate(session, "Array.from(document.querySelectorAll('[data-host]'))"
                                            ".filter(e => !e.classList.contains('hidden')).map(e => e.dataset.host)")
        assert shown == 1 and set(visible) == {"pte"}, visible
        assert browser.evaluate(session, "document.getElementById('shown').textContent") == "1"
        browser.evaluate(session, "window.location.hash = 'q=calm'")
        browser.evaluate(session, "new Promise(r => setTimeout(r, 200))")
        visible = browser.evaluate(session, "Array.from(document.querySelectorAll('[data-host]'))"
                                            ".filter(e => !e.classList.contains('hidden')).map(e => e.dataset.host)")
        assert set(visible) == {"calm"}, "the URL fragment filter did not apply: %s" % visible
        browser.evaluate(session, "window.location.hash = ''")
        browser.evaluate(session, "new Promise(r => setTimeout(r, 200))")
        assert browser.evaluate(session, "window.pteguardFilter({})") == 2

        csp = browser.evaluate(session, "document.querySelector('meta[http-equiv=Content-Security-Policy]').content")
        assert csp.startswith("default-src 'none'"), csp
        assert browser.evaluate(session, "performance.getEntriesByType('resource').length") == 0
        shot = browser.call("Page.captureScreenshot", session, format="png")["data"]
        os.makedirs(ARTIFACTS, exist_ok=True)
        with open(os.path.join(ARTIFACTS, "report-html.png"), "wb") as handle:
            handle.write(base64.b64decode(shot))
        requested = [e["params"]["request"]["url"] for e in browser.events
                     if e.get("method") == "Network.requestWillBeSent"]
        assert requested and all(url.startswith("file://") for url in requested), requested
        blocked = [e for e in browser.events if e.get("method") == "Network.loadingFailed"]
        assert not blocked, blocked
    finally:
        browser.close()
