"""The notifier's SQLite database: the outbox of notifications, the notification log, silences.

A notification is written here (committed, WAL, synchronous=FULL) before the first attempt to deliver
it, and deleted only once a receiver answered 2xx, so a crash or restart of the collector loses none:
the next start finds it and goes on retrying. The notification log (Alertmanager's nflog: which
alerts each group last notified as firing and resolved) lives here too, so a restart does not repeat
notifications a receiver already has.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydock.errors import StorageError

RETENTION = 120 * 3600.0  # Alertmanager's --data.retention: how long nflog entries are kept

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,          -- receiver/kind/index: one FIFO queue per destination
    receiver TEXT NOT NULL,
    kind TEXT NOT NULL,          -- webhook | email | slack | discord | ntfy | alertmanager
    idx INTEGER NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',   -- pending | failed
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS outbox_dest ON outbox(state, dest, id);
CREATE TABLE IF NOT EXISTS nflog (
    key TEXT PRIMARY KEY,
    firing TEXT NOT NULL,
    resolved TEXT NOT NULL,
    ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    matchers TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    comment TEXT NOT NULL,
    updated_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class OutboxItem:
    id: int
    dest: str
    receiver: str
    kind: str
    idx: int
    url: str
    body: str
    created: float
    attempts: int
    next_at: float
    state: str
    last_error: str


@dataclass(frozen=True)
class LogEntry:
    firing: frozenset[int]
    resolved: frozenset[int]
    ts: float


class NotifyStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"{path}: cannot open the notification database: {exc}") from exc
        self._lock = threading.Lock()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # outbox
    def enqueue(self, receiver: str, kind: str, idx: int, url: str, body: str, now: float,
                log_key: str | None = None, log_entry: LogEntry | None = None) -> int:
        """Persist one notification (and, atomically with it, the nflog entry that it implies)."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO outbox(dest, receiver, kind, idx, url, body, created, next_at) VALUES (?,?,?,?,?,?,?,?)",
                (f"{receiver}/{kind}/{idx}", receiver, kind, idx, url, body, now, now))
            if log_key is not None and log_entry is not None:
                self._put_log(db, log_key, log_entry)
            return int(cur.lastrowid or 0)

    def heads(self) -> list[OutboxItem]:
        """The oldest pending notification of each destination (delivery is FIFO per destination)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM outbox WHERE id IN (SELECT MIN(id) FROM outbox WHERE state='pending' GROUP BY dest)"
                " ORDER BY id").fetchall()
        return [OutboxItem(*r) for r in rows]

    def pending(self) -> list[OutboxItem]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox ORDER BY id").fetchall()
        return [OutboxItem(*r) for r in rows]

    def delivered(self, item_id: int) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM outbox WHERE id=?", (item_id,))

    def retry_later(self, item_id: int, next_at: float, error: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts=attempts+1, next_at=?, last_error=? WHERE id=?",
                       (next_at, error, item_id))

    def failed(self, item_id: int, error: str) -> None:
        """A permanent failure (4xx, or too old): kept, for `pydock alerts` to show, never retried."""
        with self._tx() as db:
            db.execute("UPDATE outbox SET attempts=attempts+1, state='failed', last_error=? WHERE id=?",
                       (error, item_id))

    # notification log
    @staticmethod
    def _put_log(db: sqlite3.Connection, key: str, entry: LogEntry) -> None:
        db.execute("INSERT OR REPLACE INTO nflog(key, firing, resolved, ts) VALUES (?,?,?,?)",
                   (key, json.dumps(sorted(entry.firing)), json.dumps(sorted(entry.resolved)), entry.ts))

    def put_log(self, key: str, entry: LogEntry) -> None:
        with self._tx() as db:
            self._put_log(db, key, entry)

    def gc(self, now: float) -> None:
        """Forget nflog entries and failed notifications older than RETENTION, as Alertmanager's
        nflog maintenance does (a group silent that long is notified afresh)."""
        with self._tx() as db:
            db.execute("DELETE FROM nflog WHERE ts < ?", (now - RETENTION,))
            db.execute("DELETE FROM outbox WHERE state='failed' AND created < ?", (now - RETENTION,))

    def get_log(self, key: str) -> LogEntry | None:
        with self._lock:
            row = self._db.execute("SELECT firing, resolved, ts FROM nflog WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        return LogEntry(frozenset(json.loads(row[0])), frozenset(json.loads(row[1])), row[2])

    # silences
    def put_silence(self, row: tuple[str, str, float, float, str, str, float]) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO silences(id, matchers, starts_at, ends_at, created_by, comment,"
                       " updated_at) VALUES (?,?,?,?,?,?,?)", row)

    def silences(self) -> list[tuple[str, str, float, float, str, str, float]]:
        with self._lock:
            return self._db.execute("SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at"
                                    " FROM silences ORDER BY starts_at, id").fetchall()
