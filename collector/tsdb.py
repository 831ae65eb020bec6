"""The collector's embedded time-series database: SQLite in WAL mode.

Layout (one SQLite file):
- `series`: one row per label set, keyed by a canonical key (the sorted label pairs as JSON);
  `series_labels` is the inverted index (name, value) -> series id, loaded into memory at open so
  matchers run without touching the disk.
- `head`: the samples not yet packed, one row each, written in one transaction per `append` call.
  This is the write-ahead part: a kill -9 at any moment leaves every returned `append` on disk and
  loses only the call in flight (SQLite rolls back the uncommitted transaction on next open).
- `chunks`: samples packed per series and per 2-hour block, up to CHUNK_MAX each (see `_encode`),
  so a range query reads a few pages per series instead of one row per sample. Compaction moves
  head rows into chunks in one transaction, so a crash leaves either the rows or the chunk.

Values are stored as their IEEE-754 bit patterns, never as SQLite REAL: SQLite turns NaN into NULL,
and Prometheus's staleness marker is one particular NaN (bits 0x7ff0000000000002) that must survive.
Samples at or before a series' newest timestamp are rejected, as Prometheus rejects out-of-order and
duplicate samples.
"""

from __future__ import annotations

import json
import operator
import re
import sqlite3
import struct
import threading
import zlib
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path
from typing import Any

from pydock.errors import StorageError, UsageError

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
_STALE_BYTES = struct.pack("<Q", STALE_NAN_BITS)

BLOCK_MS = 2 * 3600 * 1000  # chunks never straddle a 2-hour block, like Prometheus's head chunks
CHUNK_MAX = 240  # samples per chunk: one hour at a 15 s interval
HEAD_COMPACT_ROWS = 50_000  # compact once this many rows wait in the head (and more than last time)

Labels = dict[str, str]
Sample = tuple[Labels, int, float]


def is_stale_nan(v: float) -> bool:
    """True for Prometheus's staleness marker (a NaN with a particular payload), not for other NaNs."""
    return v != v and struct.pack("<d", v) == _STALE_BYTES


@dataclass(frozen=True)
class Matcher:
    """A label matcher as in PromQL: `op` is one of `=`, `!=`, `=~`, `!~`; a missing label is ""."""

    name: str
    op: str
    value: str
    _re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in ("=", "!=", "=~", "!~"):
            raise UsageError(f"unknown matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                # Prometheus anchors every regex at both ends.
                object.__setattr__(self, "_re", re.compile(f"^(?:{self.value})$"))
            except re.error as exc:
                raise UsageError(f"invalid regular expression {self.value!r}: {exc}") from exc

    def matches(self, v: str) -> bool:
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        assert self._re is not None
        found = self._re.match(v) is not None
        return found if self.op == "=~" else not found


MatcherLike = Matcher | tuple[str, str, str]


def _as_matchers(matchers: Iterable[MatcherLike]) -> list[Matcher]:
    return [m if isinstance(m, Matcher) else Matcher(*m) for m in matchers]


def _key(labels: Labels) -> str:
    return json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)


def _to_bits(values: Sequence[float]) -> array[int]:
    """Floats -> signed 64-bit integers with the same bits (SQLite integers are signed)."""
    out = array("q")
    out.frombytes(array("d", values).tobytes())
    return out


def _from_bits(bits: Sequence[int]) -> list[float]:
    out = array("d")
    out.frombytes(array("q", bits).tobytes())
    return out.tolist()


def _shuffle(raw: bytes) -> bytes:
    # Byte-transposing 8-byte words puts the mostly-zero high bytes of deltas and XORs side by side,
    # which zlib then squeezes well (the trick of blosc's shuffle filter).
    return b"".join(raw[i::8] for i in range(8))


def _unshuffle(data: bytes) -> bytes:
    m = len(data) // 8
    out = bytearray(len(data))
    for i in range(8):
        out[i::8] = data[i * m : (i + 1) * m]
    return bytes(out)


def _encode(ts: Sequence[int], bits: Sequence[int]) -> bytes:
    """Pack one chunk: timestamp deltas and XORs of successive value bits (as Gorilla does), shuffled."""
    deltas = array("q", [ts[0]])
    deltas.extend(map(operator.sub, ts[1:], ts[:-1]))
    u = array("Q")
    u.frombytes(array("q", bits).tobytes())
    xors = array("Q", [u[0]])
    xors.extend(map(operator.xor, u[1:], u[:-1]))
    return zlib.compress(_shuffle(deltas.tobytes() + xors.tobytes()), 6)


def _decode(data: bytes, n: int) -> tuple[list[int], list[float]]:
    raw = _unshuffle(zlib.decompress(data))
    deltas = array("q")
    deltas.frombytes(raw[: 8 * n])
    xors = array("Q")
    xors.frombytes(raw[8 * n :])
    vals = array("d")
    vals.frombytes(array("Q", accumulate(xors, operator.xor)).tobytes())
    return list(accumulate(deltas)), vals.tolist()


_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS series_labels (
    name TEXT NOT NULL, value TEXT NOT NULL, series_id INTEGER NOT NULL,
    PRIMARY KEY (name, value, series_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS head (
    series_id INTEGER NOT NULL, t INTEGER NOT NULL, v INTEGER NOT NULL,
    PRIMARY KEY (series_id, t)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL, min_t INTEGER NOT NULL,
    max_t INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, max_t);
"""


class TSDB:
    """Series and samples in one SQLite file. Thread-safe: writes are serialised by a lock, reads use
    one connection per thread inside a read transaction (a consistent WAL snapshot)."""

    def __init__(self, path: str | Path, retention_ms: int | None = None) -> None:
        p = Path(path)
        # A directory (like Prometheus's --storage.tsdb.path) holds the file; a file path is used as is.
        if p.is_dir() or p.suffix == "":
            p.mkdir(parents=True, exist_ok=True)
            p = p / "tsdb.sqlite"
        self.path = p
        self.retention_ms = retention_ms
        self._lock = threading.RLock()
        self._local = threading.local()
        self._closed = False
        self._readers: list[sqlite3.Connection] = []
        try:
            self._db = self._connect()
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open TSDB {self.path}: {exc}") from exc
        self._load()

    # --- connections and in-memory index -------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        # NORMAL is durable against a process crash in WAL mode; only power loss can drop the tail.
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    def _reader(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._connect()
            self._local.db = db
            with self._lock:
                self._readers.append(db)
        return db

    def _load(self) -> None:
        with self._lock:
            self._ids: dict[str, int] = {}
            self._labels: dict[int, Labels] = {}
            self._postings: dict[str, dict[str, set[int]]] = {}
            self._last_t: dict[int, int] = {}
            for sid, key in self._db.execute("SELECT id, key FROM series"):
                self._index(sid, key, dict(json.loads(key)))
            self._next_id = max(self._labels, default=0) + 1
            for sid, t in self._db.execute("SELECT series_id, max(max_t) FROM chunks GROUP BY series_id"):
                self._last_t[sid] = t
            for sid, t in self._db.execute("SELECT series_id, max(t) FROM head GROUP BY series_id"):
                self._last_t[sid] = max(t, self._last_t.get(sid, t))
            (self._head_rows,) = self._db.execute("SELECT count(*) FROM head").fetchone()
            self._compact_at = max(HEAD_COMPACT_ROWS, 2 * self._head_rows)

    def _index(self, sid: int, key: str, labels: Labels) -> None:
        self._ids[key] = sid
        self._labels[sid] = labels
        for name, value in labels.items():
            self._postings.setdefault(name, {}).setdefault(value, set()).add(sid)

    def _unindex(self, sid: int) -> None:
        labels = self._labels.pop(sid)
        del self._ids[_key(labels)]
        self._last_t.pop(sid, None)
        for name, value in labels.items():
            ids = self._postings[name][value]
            ids.discard(sid)
            if not ids:
                del self._postings[name][value]
                if not self._postings[name]:
                    del self._postings[name]

    # --- writing -------------------------------------------------------------------------------

    def append(self, samples: Iterable[Sample]) -> int:
        """Store samples in one transaction; returns how many were accepted (out-of-order and
        duplicate timestamps of a series are dropped). Labels with empty values are dropped, as
        Prometheus does."""
        with self._lock:
            self._check_open()
            new_series: list[tuple[int, str, Labels]] = []
            last_t = dict[int, int]()
            sids: list[int] = []
            tss: list[int] = []
            vals: list[float] = []
            for labels, t, v in samples:
                if any(val == "" for val in labels.values()):
                    labels = {k: val for k, val in labels.items() if val != ""}
                key = _key(labels)
                sid = self._ids.get(key)
                if sid is None:
                    sid = self._next_id
                    self._next_id += 1
                    new_series.append((sid, key, labels))
                    self._index(sid, key, labels)
                prev = last_t.get(sid)
                if prev is None:
                    prev = self._last_t.get(sid)
                if prev is not None and t <= prev:
                    continue
                last_t[sid] = t
                sids.append(sid)
                tss.append(int(t))
                vals.append(float(v))
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for sid, key, labels in new_series:
                    self._db.execute("INSERT INTO series (id, key) VALUES (?, ?)", (sid, key))
                    self._db.executemany(
                        "INSERT INTO series_labels (name, value, series_id) VALUES (?, ?, ?)",
                        [(n, val, sid) for n, val in labels.items()],
                    )
                self._db.executemany("INSERT INTO head (series_id, t, v) VALUES (?, ?, ?)",
                                     zip(sids, tss, _to_bits(vals)))
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                self._load()  # the in-memory index may name series that did not commit
                raise StorageError(f"cannot write to TSDB {self.path}: {exc}") from exc
            self._last_t.update(last_t)
            self._head_rows += len(sids)
            if self._head_rows >= self._compact_at:
                self.compact()
            return len(sids)

    def compact(self, force: bool = False) -> None:
        """Pack head rows into chunks. Full chunks and chunks of closed blocks move at once; the
        newest partial chunk of each series stays in the head unless `force`."""
        with self._lock:
            self._check_open()
            head_max = max(self._last_t.values(), default=0)
            cur_block = head_max // BLOCK_MS
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                rows = db.execute("SELECT series_id, t, v FROM head ORDER BY series_id, t").fetchall()
                chunks: list[tuple[int, int, int, int, bytes]] = []
                moved: list[tuple[int, int]] = []  # (series_id, max t moved)
                i, n_rows = 0, len(rows)
                while i < n_rows:
                    sid = rows[i][0]
                    j = i
                    while j < n_rows and rows[j][0] == sid:
                        j += 1
                    k = i
                    upto = None
                    while k < j:
                        block = rows[k][1] // BLOCK_MS
                        end = k
                        while end < j and end - k < CHUNK_MAX and rows[end][1] // BLOCK_MS == block:
                            end += 1
                        if not force and end == j and end - k < CHUNK_MAX and block >= cur_block:
                            break  # the newest partial chunk keeps filling in the head
                        part = rows[k:end]
                        ts = [r[1] for r in part]
                        chunks.append((sid, ts[0], ts[-1], len(ts), _encode(ts, [r[2] for r in part])))
                        upto = ts[-1]
                        k = end
                    if upto is not None:
                        moved.append((sid, upto))
                    i = j
                db.executemany("INSERT INTO chunks (series_id, min_t, max_t, n, data) VALUES (?,?,?,?,?)",
                               chunks)
                db.executemany("DELETE FROM head WHERE series_id = ? AND t <= ?", moved)
                if self.retention_ms is not None:
                    self._apply_retention(head_max - self.retention_ms)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise StorageError(f"cannot compact TSDB {self.path}: {exc}") from exc
            if self.retention_ms is not None:
                self._load()
            else:
                (self._head_rows,) = db.execute("SELECT count(*) FROM head").fetchone()
            self._compact_at = max(HEAD_COMPACT_ROWS, 2 * self._head_rows)

    def _apply_retention(self, cutoff: int) -> None:
        # Like Prometheus, age is measured from the newest sample, not the wall clock, so imported
        # history is kept as long as nothing newer pushes it out.
        db = self._db
        db.execute("DELETE FROM chunks WHERE max_t < ?", (cutoff,))
        db.execute("DELETE FROM head WHERE t < ?", (cutoff,))
        empty = "SELECT id FROM series WHERE id NOT IN (SELECT series_id FROM chunks) " \
                "AND id NOT IN (SELECT series_id FROM head)"
        db.execute(f"DELETE FROM series_labels WHERE series_id IN ({empty})")
        db.execute(f"DELETE FROM series WHERE id IN ({empty})")

    # --- reading -------------------------------------------------------------------------------

    def _match(self, matchers: Sequence[Matcher]) -> list[int]:
        with self._lock:
            cand: set[int] | None = None
            # Equality with a non-empty value narrows through the postings; the rest filter.
            for m in matchers:
                if m.op == "=" and m.value != "":
                    ids = self._postings.get(m.name, {}).get(m.value, set())
                    cand = set(ids) if cand is None else cand & ids
            if cand is None:
                cand = set(self._labels)
            out = []
            for sid in cand:
                labels = self._labels[sid]
                if all(m.matches(labels.get(m.name, "")) for m in matchers):
                    out.append(sid)
            return sorted(out)

    def _read(self, db: sqlite3.Connection, sid: int, start: int, end: int) -> tuple[list[int], list[float]]:
        ts: list[int] = []
        vs: list[float] = []
        for min_t, n, data in db.execute(
            "SELECT min_t, n, data FROM chunks WHERE series_id = ? AND max_t >= ? ORDER BY max_t",
            (sid, start),
        ):
            if min_t > end:
                break
            cts, cvs = _decode(data, n)
            ts.extend(cts)
            vs.extend(cvs)
        hrows = db.execute("SELECT t, v FROM head WHERE series_id = ? AND t >= ? AND t <= ? ORDER BY t",
                           (sid, start, end)).fetchall()
        if hrows:
            ts.extend(r[0] for r in hrows)
            vs.extend(_from_bits([r[1] for r in hrows]))
        if ts and (ts[0] < start or ts[-1] > end):
            keep = [i for i, t in enumerate(ts) if start <= t <= end]
            ts = [ts[i] for i in keep]
            vs = [vs[i] for i in keep]
        return ts, vs

    def select_arrays(self, matchers: Iterable[MatcherLike], start_ms: int, end_ms: int
                      ) -> list[tuple[Labels, list[int], list[float]]]:
        """Like `select`, with timestamps and values as two parallel lists (what the engine wants)."""
        ms = _as_matchers(matchers)
        self._check_open()
        sids = self._match(ms)
        if not sids:
            return []
        db = self._reader()
        out = []
        db.execute("BEGIN")
        try:
            for sid in sids:
                ts, vs = self._read(db, sid, int(start_ms), int(end_ms))
                if ts:
                    out.append((dict(self._labels.get(sid) or {}), ts, vs))
        finally:
            db.execute("COMMIT")
        return out

    def select(self, matchers: Iterable[MatcherLike], start_ms: int, end_ms: int
               ) -> Iterator[tuple[Labels, list[tuple[int, float]]]]:
        """Series matching every matcher with their samples in [start_ms, end_ms], staleness
        markers included (see `is_stale_nan`). Series with no sample in range are left out."""
        for labels, ts, vs in self.select_arrays(matchers, start_ms, end_ms):
            yield labels, list(zip(ts, vs))

    def series(self, matchers: Iterable[MatcherLike], start_ms: int | None = None,
               end_ms: int | None = None) -> list[Labels]:
        """Label sets of the series matching `matchers`, those with a sample in range if one is given."""
        ms = _as_matchers(matchers)
        self._check_open()
        sids = self._match(ms)
        if start_ms is None and end_ms is None:
            return [dict(self._labels[s]) for s in sids if s in self._labels]
        lo = -(2**63) if start_ms is None else int(start_ms)
        hi = 2**63 - 1 if end_ms is None else int(end_ms)
        db = self._reader()
        out = []
        db.execute("BEGIN")
        try:
            for sid in sids:
                hit = db.execute("SELECT 1 FROM head WHERE series_id = ? AND t BETWEEN ? AND ? LIMIT 1",
                                 (sid, lo, hi)).fetchone() or db.execute(
                    "SELECT 1 FROM chunks WHERE series_id = ? AND max_t >= ? AND min_t <= ? LIMIT 1",
                    (sid, lo, hi)).fetchone()
                if hit and sid in self._labels:
                    out.append(dict(self._labels[sid]))
        finally:
            db.execute("COMMIT")
        return out

    def label_names(self, matchers: Iterable[MatcherLike] = (), start_ms: int | None = None,
                    end_ms: int | None = None) -> list[str]:
        ms = _as_matchers(matchers)
        if not ms and start_ms is None and end_ms is None:
            with self._lock:
                return sorted(self._postings)
        names: set[str] = set()
        for labels in self.series(ms, start_ms, end_ms):
            names.update(labels)
        return sorted(names)

    def label_values(self, name: str, matchers: Iterable[MatcherLike] = (), start_ms: int | None = None,
                     end_ms: int | None = None) -> list[str]:
        ms = _as_matchers(matchers)
        if not ms and start_ms is None and end_ms is None:
            with self._lock:
                return sorted(self._postings.get(name, {}))
        return sorted({lb[name] for lb in self.series(ms, start_ms, end_ms) if name in lb})

    def stats(self) -> dict[str, Any]:
        """Counts for status pages and the benchmark."""
        with self._lock:
            (chunks, packed) = self._db.execute("SELECT count(*), coalesce(sum(n), 0) FROM chunks").fetchone()
            return {"series": len(self._labels), "head_samples": self._head_rows, "chunks": chunks,
                    "chunk_samples": packed}

    # --- lifecycle -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(f"TSDB {self.path} is closed")

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.compact()
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._closed = True
                for db in self._readers:
                    db.close()
                self._db.close()

    def __enter__(self) -> TSDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
