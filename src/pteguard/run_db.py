"""Run state in SQLite (stdlib): runs, hosts, steps, evidence digests and results.

Every change is one transaction (`with conn:` commits or rolls back), the journal is WAL with synchronous=FULL, so a
killed controller leaves the last committed state and nothing half-written. The tables are plain rows (no pickles),
so the same records can be published elsewhere later.
"""

from __future__ import annotations

import json
import os
import sqlite3

from pteguard import audit_log

FILE = "runs.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, created TEXT NOT NULL, updated TEXT NOT NULL, who TEXT NOT NULL, change_id TEXT NOT NULL,
    plan_digest TEXT NOT NULL, status TEXT NOT NULL, run_dir TEXT NOT NULL, plan TEXT NOT NULL, options TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS hosts (
    run_id TEXT NOT NULL REFERENCES runs(id), host TEXT NOT NULL, ord INTEGER NOT NULL, state TEXT NOT NULL,
    detail TEXT, evidence_sha256 TEXT, PRIMARY KEY (run_id, host));
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL REFERENCES runs(id), host TEXT NOT NULL, seq INTEGER NOT NULL, step TEXT NOT NULL,
    status TEXT NOT NULL, outcome TEXT, detail TEXT, started TEXT, finished TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_id, host, seq));
"""

# step statuses: pending (to run), running (started, not known to have finished), done, failed, skipped (missing
# opt-in or not available), dropped (an earlier step's outcome made it unnecessary)
OPEN_STEP = ("pending", "running")


class RunDB:
    def __init__(self, state_dir):
        os.makedirs(state_dir, exist_ok=True)
        self.path = os.path.join(state_dir, FILE)
        self.conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=FULL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        with self as db:
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    db.execute(statement)

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, kind, _value, _tb):
        self.conn.execute("ROLLBACK" if kind else "COMMIT")
        return False

    def close(self):
        self.conn.close()

    # --- writing ---------------------------------------------------------------------------------

    def create_run(self, run_id, who, change_id, plan, options, run_dir):
        stamp = audit_log.now()
        with self as db:
            db.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?)",
                       (run_id, stamp, stamp, who, change_id, plan["digest"], "running", run_dir,
                        json.dumps(plan, sort_keys=True), json.dumps(options, sort_keys=True)))
            for order, host in enumerate(plan["hosts"]):
                db.execute("INSERT INTO hosts VALUES (?,?,?,?,?,?)",
                           (run_id, host["host"], order, host["state"], host.get("message"),
                            host["evidence"]["sha256"]))
                for seq, step in enumerate(host["steps"]):
                    db.execute("INSERT INTO steps (run_id, host, seq, step, status) VALUES (?,?,?,?,?)",
                               (run_id, host["host"], seq, step["step"], "pending"))

    def set_run(self, run_id, status):
        with self as db:
            db.execute("UPDATE runs SET status=?, updated=? WHERE id=?", (status, audit_log.now(), run_id))

    def set_host(self, run_id, host, state, detail=None):
        with self as db:
            db.execute("UPDATE hosts SET state=?, detail=? WHERE run_id=? AND host=?", (state, detail, run_id, host))

    def start_steps(self, run_id, rows):
        """Mark (host, seq) steps running, all in one transaction."""
        with self as db:
            for host, seq in rows:
                db.execute("UPDATE steps SET status='running', started=?, attempts=attempts+1 "
                           "WHERE run_id=? AND host=? AND seq=?", (audit_log.now(), run_id, host, seq))

    def finish_step(self, run_id, host, seq, status, outcome=None, detail=None, host_state=None, host_detail=None,
                    then=None):
        """A step's result, the host's next state and its next steps (`then`: names replacing the open steps
        after this one), in one transaction."""
        with self as db:
            db.execute("UPDATE steps SET status=?, outcome=?, detail=?, finished=? WHERE run_id=? AND host=? AND seq=?",
                       (status, outcome, detail, audit_log.now(), run_id, host, seq))
            if then is not None:
                db.execute("UPDATE steps SET status='dropped', detail=? WHERE run_id=? AND host=? AND seq>? AND "
                           "status IN ('pending','running')", ("after %s: %s" % (outcome, status), run_id, host, seq))
                last = db.execute("SELECT MAX(seq) FROM steps WHERE run_id=? AND host=?", (run_id, host)).fetchone()[0]
                for offset, name in enumerate(then, start=1):
                    db.execute("INSERT INTO steps (run_id, host, seq, step, status) VALUES (?,?,?,?,?)",
                               (run_id, host, last + offset, name, "pending"))
            if host_state is not None:
                db.execute("UPDATE hosts SET state=?, detail=? WHERE run_id=? AND host=?",
                           (host_state, host_detail, run_id, host))

    def requeue_running(self, run_id):
        """Steps a killed controller left 'running' go back to pending (they run again; the step roles are
        idempotent). Returns [(host, step)]."""
        with self as db:
            rows = db.execute("SELECT host, step FROM steps WHERE run_id=? AND status='running'", (run_id,)).fetchall()
            db.execute("UPDATE steps SET status='pending' WHERE run_id=? AND status='running'", (run_id,))
        return [(row["host"], row["step"]) for row in rows]

    # --- reading ---------------------------------------------------------------------------------

    def run(self, run_id):
        row = self.conn.execute("SELECT * FROM runs WHERE id=?", (run_id,)).fetchone()
        return dict(row) if row else None

    def runs(self):
        return [dict(row) for row in self.conn.execute("SELECT * FROM runs ORDER BY created")]

    def hosts(self, run_id):
        return [dict(row) for row in self.conn.execute("SELECT * FROM hosts WHERE run_id=? ORDER BY ord", (run_id,))]

    def host_state(self, run_id, host):
        row = self.conn.execute("SELECT state FROM hosts WHERE run_id=? AND host=?", (run_id, host)).fetchone()
        return row["state"] if row else None

    def steps(self, run_id, host=None):
        if host is None:
            rows = self.conn.execute("SELECT * FROM steps WHERE run_id=? ORDER BY host, seq", (run_id,))
        else:
            rows = self.conn.execute("SELECT * FROM steps WHERE run_id=? AND host=? ORDER BY seq", (run_id, host))
        return [dict(row) for row in rows]

    def next_step(self, run_id, host):
        row = self.conn.execute("SELECT * FROM steps WHERE run_id=? AND host=? AND status IN ('pending','running') "
                                "ORDER BY seq LIMIT 1", (run_id, host)).fetchone()
        return dict(row) if row else None

    def remaining(self, run_id, host, after_seq):
        return [row["step"] for row in self.conn.execute(
            "SELECT step FROM steps WHERE run_id=? AND host=? AND seq>? AND status='pending' ORDER BY seq",
            (run_id, host, after_seq))]
