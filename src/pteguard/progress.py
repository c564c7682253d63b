"""Live progress of one playbook run on a terminal, fed from ansible-runner's event stream.

One status line on stderr, redrawn in place: the playbook, hosts done of total, elapsed time, and what the hosts
still running are doing. Each host that finishes gets a line of its own above it (ok, failed, unreachable, with the
time it took). Nothing of this is written when stderr is not a terminal or with --quiet (`live` then returns the
silent NullProgress), so pipes, files and CI logs never see a control character.

`event` runs for every ansible-runner event (the runner's handler calls it): it only updates a few dicts and
redraws at most a few times a second. A ticker thread redraws once a second so the clock moves during long tasks.
"""

from __future__ import annotations

import os
import sys
import threading
import time

from pteguard import terminal
from pteguard.output import printable

REDRAW_INTERVAL = 0.2  # seconds between redraws caused by events
TICK = 1.0  # seconds between redraws of the clock when no event comes
_FAILED = {"runner_on_failed": "failed", "runner_on_unreachable": "unreachable",
           "runner_on_async_failed": "failed"}
# a step role's own report of its result: the host has finished the step (remediation_steps, step_results)
STEP_RESULT_FACT = "pteguard_step_result"


class NullProgress:
    """What runs when nothing may be drawn."""

    def event(self, _event):
        return None

    def finish(self):
        return None


def live(playbook, hosts, done_actions=(), stream=None):
    """A Progress drawing on `stream` (stderr) when it is a terminal and output is not quiet, else NullProgress."""
    stream = stream or sys.stderr
    if not hosts or not terminal.progress_wanted(stream):
        return NullProgress()
    progress = Progress(playbook.rsplit(".", 1)[-1], hosts, stream, terminal.colour_wanted(stream), done_actions)
    progress.start()
    return progress


class Progress:
    def __init__(self, label, hosts, stream, colour, done_actions=()):
        self.label = label
        self.hosts = list(hosts)
        self._known = set(self.hosts)
        self.stream = stream
        self.colour = colour
        self.done_actions = set(done_actions)
        self.started = time.monotonic()
        self.host_started = {}
        self.current = {}  # host -> the task it is running
        self.done = {}  # host -> outcome word
        self._lock = threading.Lock()
        self._last_draw = 0.0
        self._stop = threading.Event()
        self._ticker = None

    def start(self):
        self._draw(force=True)
        self._ticker = threading.Thread(target=self._tick, name="pteguard-progress", daemon=True)
        self._ticker.start()

    def _tick(self):
        while not self._stop.wait(TICK):
            self._draw(force=True)

    def event(self, event):
        kind = event.get("event")
        data = event.get("event_data") or {}
        host = data.get("host")
        if kind == "playbook_on_stats":
            for name in self.hosts:
                if name not in self.done:
                    self._finish_host(name, "finished")
            return
        if host not in self._known or host in self.done:
            return
        if kind == "runner_on_start":
            self.host_started.setdefault(host, time.monotonic())
            self.current[host] = data.get("task") or data.get("task_action") or "?"
        elif kind in _FAILED and not data.get("ignore_errors"):
            self._finish_host(host, _FAILED[kind], (data.get("res") or {}).get("msg"))
            return
        elif kind == "runner_on_ok" and self._finishes(data):
            self._finish_host(host, "ok")
            return
        self._draw()

    def _finishes(self, data):
        if data.get("task_action") in self.done_actions:
            return True
        facts = (data.get("res") or {}).get("ansible_facts") or {}
        return isinstance(facts, dict) and STEP_RESULT_FACT in facts

    def _finish_host(self, host, word, message=None):
        self.done[host] = word
        self.current.pop(host, None)
        took = time.monotonic() - self.host_started.get(host, self.started)
        cells = ["  " + terminal.paint(word.ljust(11), terminal.word_colour(word), self.colour), printable(host),
                 terminal.duration(took)]
        if message and word != "ok":
            cells.append(printable(" ".join(str(message).split()))[:160])
        self._write("  ".join(cells) + "\n")

    def _status(self):
        elapsed = terminal.duration(time.monotonic() - self.started)
        line = "%s  %d/%d hosts  %s" % (self.label, len(self.done), len(self.hosts), elapsed)
        running = [h for h in self.hosts if h in self.current]
        if running:
            first = running[0]
            line += "  %s: %s" % (first, self.current[first])
            if len(running) > 1:
                line += " (+%d running)" % (len(running) - 1)
        return printable(line)

    def _draw(self, force=False):
        now = time.monotonic()
        if not force and now - self._last_draw < REDRAW_INTERVAL:
            return
        self._last_draw = now
        self._write("")

    def _write(self, above):
        """Clear the status line, print `above` (finished hosts), redraw the status line, cut to the width."""
        with self._lock:
            if self._stop.is_set() and not above:
                return
            width = _columns(self.stream)
            status = self._status()[:max(width - 1, 20)]
            try:
                self.stream.write("\r\x1b[K" + above + terminal.paint(status, "dim", self.colour))
                self.stream.flush()
            except (OSError, ValueError):
                self._stop.set()

    def finish(self):
        """Stop the ticker and leave the terminal as it was: the status line erased, the host lines kept."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2 * TICK)
        with self._lock:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass


def _columns(stream):
    try:
        return os.get_terminal_size(stream.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 80
