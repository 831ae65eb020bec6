"""SQLite + FTS5 log store: the embedded default.

One table of lines with indexes per host, container, stream and time, an external-content FTS5 index
on the line (filled in bulk by `append` with the rows a batch added, emptied by a delete trigger), and
a UNIQUE (container_id, file_id, offset) constraint that turns re-sent lines into no-ops.
WAL with synchronous=FULL: `append` returns only after the commit reached the disk, which is what lets
the push API acknowledge a batch.

Structured fields go in `fields` (JSON text, read with SQLite's json_extract) and the level in `level`
(indexed with the time). LogQL's substring filters arrive as `LogQuery.contains`/`excludes` and are
applied exactly with instr(); FTS5 only narrows the rows instr() looks at (see `_narrow`).
"""

from __future__ import annotations

import base64
import heapq
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import BadQueryError, LogPage, LogQuery, LogRecord, StreamKey
from .structured import FieldTerm, analyse, fields_json, split_terms

log = logging.getLogger("pydock.collector.logstore")

SCHEMA = """
CREATE TABLE IF NOT EXISTS logs(
  id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the live tail's positions only grow
  host TEXT NOT NULL,
  container_id TEXT NOT NULL,
  container_name TEXT NOT NULL,
  stream TEXT NOT NULL,
  time_ns INTEGER NOT NULL,
  line TEXT NOT NULL,
  file_id TEXT NOT NULL,
  offset INTEGER NOT NULL,
  level TEXT NOT NULL DEFAULT '',
  fields TEXT,
  UNIQUE(container_id, file_id, offset)
);
CREATE INDEX IF NOT EXISTS logs_time ON logs(time_ns);
CREATE INDEX IF NOT EXISTS logs_host_time ON logs(host, time_ns);
CREATE INDEX IF NOT EXISTS logs_container_time ON logs(container_id, time_ns);
CREATE INDEX IF NOT EXISTS logs_name_time ON logs(container_name, time_ns);
CREATE INDEX IF NOT EXISTS logs_stream_time ON logs(stream, time_ns);
CREATE INDEX IF NOT EXISTS logs_level_time ON logs(level, time_ns);
-- Lines holding ESC: their FTS text differs from the line (fts_text), so `_narrow` reads them apart.
CREATE INDEX IF NOT EXISTS logs_esc_time ON logs(time_ns) WHERE instr(line, char(27)) > 0;
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(line, content='logs', content_rowid='id');
CREATE TABLE IF NOT EXISTS blocks(block INTEGER PRIMARY KEY, max_time INTEGER NOT NULL);
DROP TRIGGER IF EXISTS logs_ai;
DROP TRIGGER IF EXISTS logs_ad;
CREATE TRIGGER logs_ad AFTER DELETE ON logs BEGIN
  INSERT INTO logs_fts(logs_fts, rowid, line) VALUES ('delete', old.id, fts_text(old.line));
END;
"""

BLOCK_BITS = 12  # `blocks` summarises runs of 4096 ids (see _text_query)
NARROW_MAX = 50_000  # FTS5 candidates up to which a substring filter reads rows by id (see _narrowing)
_COLS = "host, container_id, container_name, stream, time_ns, line, file_id, offset, level, fields"
_ID = 10  # the index of `id` in rows selected as `_COLS, id`
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")


_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[\]P^_][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b.")


def fts_text(line: str | None) -> str | None:
    """What the FTS index sees: the line without ANSI escape sequences, which would otherwise glue
    their parameters to the next word (`\x1b[33mwarning` would index as `33mwarning`)."""
    if line is None or "\x1b" not in line:
        return line
    return _ANSI_RE.sub(" ", line)


def _row(r: Sequence[Any]) -> LogRecord:
    return LogRecord(r[0], r[1], r[2], r[3], int(r[4]), r[5], r[6], int(r[7]), r[8] or "",
                     json.loads(r[9]) if r[9] else {})


def fts_phrase(needle: str) -> str:
    """An FTS5 phrase that every line containing `needle` matches, or "" when there is none.

    The FTS index uses unicode61: tokens are runs of letters and digits, case-folded, and every ASCII
    character that is not a letter or digit separates tokens. An ASCII letter/digit run of the needle
    with a separator on both sides *inside the needle* is therefore a whole token of any line that
    contains the needle; consecutive such runs are consecutive tokens. Runs at the needle's ends may be
    parts of longer tokens (`anic` of `panic`) and are left out; non-ASCII is never handed to FTS5.
    A needle with no whole token gets no phrase (instr() alone then decides)."""
    best: list[str] = []
    cur: list[str] = []
    prev_end = 0
    for m in _ASCII_TOKEN.finditer(needle):
        a, b = m.start(), m.end()
        whole = a > 0 and b < len(needle) and needle[a - 1].isascii() and needle[b].isascii()
        # the characters between consecutive whole runs must be separators only (ASCII non-alnum)
        if whole and cur and not all(c.isascii() for c in needle[prev_end:a]):
            cur = []
        if whole:
            cur.append(m.group().lower())
            prev_end = b
        else:
            cur = []
        if len(cur) > len(best):
            best = list(cur)
    return '"' + " ".join(best) + '"' if best else ""


def encode_cursor(time_ns: int, rowid: int) -> str:
    return base64.urlsafe_b64encode(f"{time_ns}:{rowid}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        t, i = raw.split(":")
        return int(t), int(i)
    except (ValueError, UnicodeDecodeError) as e:
        raise BadQueryError(f"bad cursor {cursor!r}") from e


class SQLiteLogStore:
    """`max_age_s` and `max_bytes` (0 = no limit) bound what `enforce_retention` keeps."""

    def __init__(self, path: Path | str, max_age_s: float = 0, max_bytes: int = 0,
                 retention_interval_s: float = 0, parse_structured: bool = True) -> None:
        self.path = str(path)
        self.parse_structured = parse_structured
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._wlock = threading.Lock()
        self._w = self._connect()
        self._w.create_function("fts_text", 1, fts_text, deterministic=True)
        self._migrate()
        self._w.executescript(SCHEMA)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._rlock = threading.Lock()
        self._stop = threading.Event()
        self._retention: threading.Thread | None = None
        if retention_interval_s and (max_age_s or max_bytes):
            self._retention = threading.Thread(target=self._retention_loop, args=(retention_interval_s,),
                                               name="logstore-retention", daemon=True)
            self._retention.start()

    def _migrate(self) -> None:
        """Stores made before structured fields lack `level` and `fields`: add them (old lines keep
        level "" and no fields)."""
        cols = {r[1] for r in self._w.execute("PRAGMA table_info(logs)")}
        if cols and "level" not in cols:
            self._w.execute("ALTER TABLE logs ADD COLUMN level TEXT NOT NULL DEFAULT ''")
        if cols and "fields" not in cols:
            self._w.execute("ALTER TABLE logs ADD COLUMN fields TEXT")

    def _retention_loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self.enforce_retention()
            except sqlite3.Error as e:  # a busy or full disk: try again next time, the store stays usable
                log.warning("log retention failed: %s", e)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        return con

    def _reader(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            return self._w  # a private in-memory database is visible to its own connection only
        con = getattr(self._local, "con", None)
        if con is None:
            con = self._connect()
            self._local.con = con
            with self._rlock:
                self._readers.append(con)
        return con

    def append(self, records: Sequence[LogRecord]) -> int:
        if not records:
            return 0
        rows = []
        for r in records:  # parsed before the write lock: other writers do not wait for it
            level, fields = (analyse(r.line) if self.parse_structured else (r.level, r.fields))
            rows.append((r.host, r.container_id, r.container_name, r.stream, r.time_ns, r.line, r.file_id,
                         r.offset, level, fields_json(fields)))
        with self._wlock:
            self._w.execute("BEGIN IMMEDIATE")
            try:
                top = self._w.execute("SELECT coalesce(max(id), 0) FROM logs").fetchone()[0]
                new = self._w.executemany(
                    f"INSERT OR IGNORE INTO logs({_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?)", rows
                ).rowcount
                # One bulk FTS insert of the rows this batch added (ids only grow) is several times
                # faster than a trigger row by row; ignored duplicates are not indexed twice.
                self._w.execute("INSERT INTO logs_fts(rowid, line) SELECT id, fts_text(line) FROM logs WHERE id > ?",
                                (top,))
                self._w.execute(
                    f"INSERT INTO blocks(block, max_time) SELECT id >> {BLOCK_BITS}, max(time_ns) FROM logs "
                    f"WHERE id > ? GROUP BY id >> {BLOCK_BITS} "
                    "ON CONFLICT(block) DO UPDATE SET max_time = max(max_time, excluded.max_time)",
                    (top,),
                )
                self._w.execute("COMMIT")
            except BaseException:
                self._w.execute("ROLLBACK")
                raise
        return new

    def _where(self, q: LogQuery) -> tuple[list[str], list[Any], str]:
        """SQL conditions on `logs` and their arguments, and the FTS5 text of `q.text` ("" when the
        text held field terms only); the caller adds the FTS condition its own way."""
        where: list[str] = []
        args: list[Any] = []
        text, terms = split_terms(q.text) if q.text else ("", [])
        fts = self._fts_text(text) if text.strip() else ""
        # `+col` keeps SQLite off that column's index: with few FTS candidates, reading them by id beats
        # walking a time index over the whole window and probing each row against the candidates.
        narrow = self._narrowing(q)
        c = "+" if narrow else ""
        for t in terms:
            self._field_term(t, where, args)
        if q.level:
            want = [lv.strip().lower() for lv in q.level.split(",") if lv.strip()]
            want = ["" if lv == "none" else lv for lv in want]
            where.append(f"{c}level IN ({','.join('?' * len(want))})")
            args += want
        if q.container:
            where.append(f"({c}container_name = ? OR {c}container_id = ? OR substr(container_id, 1, ?) = ?)")
            args += [q.container, q.container, len(q.container), q.container]
        if q.host:
            where.append(f"{c}host = ?")
            args.append(q.host)
        if q.stream:
            where.append(f"{c}stream = ?")
            args.append(q.stream)
        if q.start_ns:
            where.append(f"{c}time_ns >= ?")
            args.append(q.start_ns)
        if q.end_ns:
            where.append(f"{c}time_ns < ?")
            args.append(q.end_ns)
        if narrow:
            where.append(narrow[0])
            args += narrow[1]
        for needle in q.contains:
            where.append("instr(line, ?) > 0")
            args.append(needle)
        for needle in q.excludes:
            where.append("instr(line, ?) = 0")
            args.append(needle)
        return where, args, fts

    @staticmethod
    def _field_term(t: FieldTerm, where: list[str], args: list[Any]) -> None:
        if t.key == "level":
            want = t.level_set()
            if not want:
                where.append("0")
                return
            where.append(f"level IN ({','.join('?' * len(want))})")
            args += want
            return
        path = '$."' + t.key + '"'
        value: Any = t.number if t.number is not None else t.value
        if t.op == "=":
            where.append("json_extract(fields, ?) = ?")
            args += [path, value]
        elif t.op == "!=":
            where.append("json_extract(fields, ?) IS NOT ?")
            args += [path, value]
        else:
            # numbers with numbers, text with text: SQLite would otherwise order every number below text
            kind = "IN ('integer', 'real')" if t.number is not None else "= 'text'"
            where.append(f"(json_type(fields, ?) {kind} AND json_extract(fields, ?) {t.op} ?)")
            args += [path, path, value]

    def _narrowing(self, q: LogQuery) -> tuple[str, list[Any]] | None:
        """The FTS5 condition that narrows `contains` needles (fts_phrase says when that is exact), or
        None when there is none or it would not pay (more than NARROW_MAX candidates: then the
        indexes and instr() do better). Lines with ESC are read beside the FTS matches: fts_text
        blanks ANSI escape sequences, which may take a token of the needle with them (`\x1b[ foo`
        indexes as `oo`), so FTS5 alone could miss such a line."""
        phrases = [p for p in (fts_phrase(n) for n in q.contains) if p]
        if not phrases:
            return None
        match = " AND ".join(phrases)
        n = self._run("SELECT count(*) FROM (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? LIMIT ?)",
                      [match, NARROW_MAX + 1])[0][0]
        if n > NARROW_MAX:
            return None
        esc = "SELECT id FROM logs WHERE instr(line, char(27)) > 0"
        esc_args: list[Any] = []
        if q.start_ns:
            esc += " AND time_ns >= ?"
            esc_args.append(q.start_ns)
        if q.end_ns:
            esc += " AND time_ns < ?"
            esc_args.append(q.end_ns)
        return f"id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? UNION ALL {esc})", [match, *esc_args]

    def _fts_text(self, text: str) -> str:
        """FTS5 syntax as typed; plain words people paste (`needle-7731`, `GET /x`) that are not valid
        FTS5 are searched as quoted phrases, unless the text used FTS5's quoting and is malformed."""
        try:
            self._run("SELECT count(*) FROM (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? LIMIT 1)", [text])
            return text
        except BadQueryError:
            if '"' in text:
                raise
            if not any(c.isalnum() for c in text):  # `*` alone: no word to search for (issue 15: was a 500)
                raise BadQueryError(f"bad search text {text!r}: it has no word to search for") from None
            return " ".join('"' + w + '"' for w in text.split())

    def _run(self, sql: str, args: list[Any]) -> list[Any]:
        try:
            return self._reader().execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            msg = str(e)
            # "unknown special query": FTS5 reading `*` alone (issue 15: it was a 500)
            if "fts5" in msg or "syntax error" in msg or "no such column" in msg or "unterminated" in msg \
                    or "unknown special query" in msg:
                raise BadQueryError(f"bad search text: {msg}") from e
            raise

    def query(self, q: LogQuery) -> LogPage:
        where, args, fts = self._where(q)
        if q.cursor:
            t, i = decode_cursor(q.cursor)
            where.append("(time_ns < ? OR (time_ns = ? AND id < ?))")
            args += [t, t, i]
        limit = max(1, min(q.limit, 5000))
        if fts:
            rows = self._text_query(fts, where, args, limit + 1)
        else:
            sql = f"SELECT {_COLS}, id FROM logs"
            if where:
                sql += " WHERE " + " AND ".join(where)
            sql += " ORDER BY time_ns DESC, id DESC LIMIT ?"
            rows = self._run(sql, args + [limit + 1])
        page = LogPage([_row(r) for r in rows[:limit]], cursors=[encode_cursor(int(r[4]), int(r[_ID]))
                                                                  for r in rows[:limit]])
        if len(rows) > limit:
            page.next_cursor = page.cursors[-1]
        return page

    def _text_query(self, fts: str, where: list[str], args: list[Any], n: int) -> list[Any]:
        """The newest `n` matches by (time_ns, id), without sorting every match of a common word.

        Matches stream from the FTS index newest-stored first; `blocks` keeps the newest line time
        of each run of 4096 ids. Once `n` candidates are held and no line in the current block or
        before it is newer than the n-th candidate, no older match can enter the result: stop. Lines are
        stored roughly in time order, so this reads little more than the result itself; a backfill of
        old lines only makes it read further, never return something else."""
        sql = (f"SELECT {', '.join('logs.' + c.strip() for c in _COLS.split(','))}, logs.id FROM logs_fts "
               "JOIN logs ON logs.id = logs_fts.rowid WHERE logs_fts MATCH ?")
        if where:
            sql += " AND " + " AND ".join(where)
        sql += " ORDER BY logs_fts.rowid DESC"
        con = self._reader()
        heap: list[tuple[int, int, Any]] = []  # the n best as a min-heap of (time_ns, id)
        block = -1
        try:
            for r in con.execute(sql, [fts, *args]):
                b = int(r[_ID]) >> BLOCK_BITS
                if b != block:
                    block = b
                    if len(heap) >= n:
                        # Every row not read yet has an id in block b or below.
                        older = con.execute("SELECT max(max_time) FROM blocks WHERE block <= ?", (b,)).fetchone()[0]
                        if older is None or older <= heap[0][0]:
                            break
                item = (int(r[4]), int(r[_ID]), r)
                if len(heap) < n:
                    heapq.heappush(heap, item)
                elif item[:2] > heap[0][:2]:
                    heapq.heapreplace(heap, item)
        except sqlite3.OperationalError as e:
            raise BadQueryError(f"bad search text: {e}") from e
        return [it[2] for it in sorted(heap, key=lambda it: (it[0], it[1]), reverse=True)]

    def tail(self, q: LogQuery, after: str) -> tuple[list[tuple[str, LogRecord]], str]:
        top = int(self._run("SELECT coalesce(max(id), 0) FROM logs", [])[0][0])
        if not after:
            return [], str(top)
        try:
            pos = int(after)
        except ValueError as e:
            raise BadQueryError(f"bad tail position {after!r}") from e
        where, args, fts = self._where(q)
        if fts:  # only the new part of the FTS index, not every match of the text
            where.insert(0, "id IN (SELECT rowid FROM logs_fts WHERE logs_fts MATCH ? AND rowid > ? AND rowid <= ?)")
            args[0:0] = [fts, pos, top]
        # Bounded by `top`, read first: when nothing matches, the position can move to `top`
        # without skipping a line stored while this query ran.
        where.append("id > ? AND id <= ?")
        args += [pos, top]
        limit = max(1, min(q.limit, 5000))
        rows = self._run(
            f"SELECT {_COLS}, id FROM logs WHERE {' AND '.join(where)} ORDER BY id LIMIT ?", args + [limit]
        )
        if rows:
            return [(str(r[_ID]), _row(r)) for r in rows], str(rows[-1][_ID])
        return [], str(max(pos, top))

    def count_lines(self, q: LogQuery, base_ns: int, bucket_ns: int) -> list[tuple[StreamKey, int, int, int]]:
        """LineCounter: counts and UTF-8 bytes per stream and bucket, computed in SQLite."""
        if q.text or q.level:
            raise BadQueryError("count_lines takes stream, time and substring filters only")
        where, args, _ = self._where(q)
        sql = ("SELECT host, container_id, container_name, stream, (time_ns - ? - 1) / ?, count(*), "
               "sum(length(CAST(line AS BLOB))) FROM logs")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY 1, 2, 3, 4, 5"
        return [((r[0], r[1], r[2], r[3]), int(r[4]), int(r[5]), int(r[6] or 0))
                for r in self._run(sql, [base_ns, bucket_ns, *args])]

    def _size(self) -> int:
        c = self._w
        pages = c.execute("PRAGMA page_count").fetchone()[0] - c.execute("PRAGMA freelist_count").fetchone()[0]
        return int(pages) * int(c.execute("PRAGMA page_size").fetchone()[0])

    def enforce_retention(self) -> int:
        removed = 0
        with self._wlock:
            if self.max_age_s:
                cutoff = time.time_ns() - int(self.max_age_s * 1e9)
                while True:
                    n = self._w.execute(
                        "DELETE FROM logs WHERE id IN (SELECT id FROM logs WHERE time_ns < ? LIMIT 5000)",
                        (cutoff,),
                    ).rowcount
                    removed += n
                    if n < 5000:
                        break
            if removed:
                self._w.execute(f"DELETE FROM blocks WHERE block < (SELECT min(id) FROM logs) >> {BLOCK_BITS}")
            if self.max_bytes:
                while self._size() > self.max_bytes:
                    total = self._w.execute("SELECT count(*) FROM logs").fetchone()[0]
                    if not total:
                        break
                    # Oldest tenth at a time: freed pages are reused, so the file stops growing.
                    n = max(1, total // 10)
                    removed += self._w.execute(
                        "DELETE FROM logs WHERE id IN (SELECT id FROM logs ORDER BY time_ns, id LIMIT ?)", (n,)
                    ).rowcount
        return removed

    def stats(self) -> dict[str, Any]:
        r = self._run("SELECT count(*), min(time_ns), max(time_ns) FROM logs", [])[0]
        return {"backend": "sqlite", "path": self.path, "lines": r[0], "oldest_ns": r[1], "newest_ns": r[2]}

    def close(self) -> None:
        self._stop.set()
        if self._retention is not None:
            self._retention.join(10)
        with self._rlock:
            for c in self._readers:
                c.close()
            self._readers.clear()
        with self._wlock:
            self._w.close()
