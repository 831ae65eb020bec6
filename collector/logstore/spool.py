"""A durable local queue (SQLite, WAL, synchronous=FULL) in front of a remote log store.

The push API acknowledges a batch once it is in the spool; a flusher drains the spool to the backend
and deletes rows only after the backend confirmed them, so nothing acknowledged is lost while the
backend is down or the collector restarts. Rows the backend rejects for good (a mapping error) move
to `dead` with the reason: kept and counted, never dropped silently.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS spool(
  seq INTEGER PRIMARY KEY,
  doc_id TEXT NOT NULL UNIQUE,
  index_name TEXT NOT NULL,
  body TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS dead(
  doc_id TEXT PRIMARY KEY,
  index_name TEXT NOT NULL,
  body TEXT NOT NULL,
  reason TEXT NOT NULL,
  at REAL NOT NULL
);
"""


class Spool:
    def __init__(self, path: Path | str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._con = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None, timeout=30)
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA synchronous=FULL")
        self._con.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.has_work = threading.Event()
        if self.pending():
            self.has_work.set()

    def put(self, rows: Sequence[tuple[str, str, str]]) -> int:
        """(doc_id, index, body JSON) rows; a doc_id already waiting is not queued twice."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            try:
                n = self._con.executemany(
                    "INSERT OR IGNORE INTO spool(doc_id, index_name, body) VALUES (?,?,?)", rows
                ).rowcount
                self._con.execute("COMMIT")
            except BaseException:
                self._con.execute("ROLLBACK")
                raise
        self.has_work.set()
        return n

    def take(self, limit: int) -> list[tuple[int, str, str, str]]:
        with self._lock:
            return self._con.execute(
                "SELECT seq, doc_id, index_name, body FROM spool ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()

    def done(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            self._con.executemany("DELETE FROM spool WHERE seq = ?", [(s,) for s in seqs])
            self._con.execute("COMMIT")

    def retry_later(self, seqs: Sequence[int]) -> None:
        with self._lock:
            self._con.executemany("UPDATE spool SET attempts = attempts + 1 WHERE seq = ?", [(s,) for s in seqs])

    def bury(self, items: Sequence[tuple[int, str]]) -> None:
        """(seq, reason): the backend refused these for good."""
        with self._lock:
            self._con.execute("BEGIN IMMEDIATE")
            for seq, reason in items:
                self._con.execute(
                    "INSERT OR REPLACE INTO dead(doc_id, index_name, body, reason, at) "
                    "SELECT doc_id, index_name, body, ?, ? FROM spool WHERE seq = ?",
                    (reason, time.time(), seq),
                )
                self._con.execute("DELETE FROM spool WHERE seq = ?", (seq,))
            self._con.execute("COMMIT")

    def pending(self) -> int:
        with self._lock:
            return int(self._con.execute("SELECT count(*) FROM spool").fetchone()[0])

    def dead(self) -> list[tuple[str, str]]:
        with self._lock:
            return self._con.execute("SELECT doc_id, reason FROM dead ORDER BY at").fetchall()

    def close(self) -> None:
        with self._lock:
            self._con.close()
