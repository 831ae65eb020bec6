"""The collector's embedded time-series database: SQLite in WAL mode.

Layout (one SQLite file):
- `series`: one row per label set, keyed by a canonical key (the sorted label pairs as JSON);
  `series_labels` is the inverted index (name, value) -> series id, loaded into memory at open so
  matchers run without touching the disk.
- `chunks`: packed samples of one series, at most CHUNK_MAX of them and never straddling a 2-hour
  block (encoding in chunkenc.py), so a range query reads a few pages per series.
- `head_chunks`: the small in-memory-sized head, on disk: each `append` call writes one small chunk
  per series it touches, in one transaction. This is the write-ahead part: a kill -9 at any moment
  leaves every returned `append` on disk and loses only the call in flight (SQLite rolls the
  uncommitted transaction back on the next open). Compaction merges head chunks into packed chunks
  in one transaction, so a crash leaves either the old rows or the new ones, never both or neither.
  Bulk appends with whole chunks' worth of samples skip the head. Head rows get increasing ids from
  the TSDB and have no index by series: a scrape then only appends rows at the end of the table,
  where an index by series would have every commit rewrite every page of that index (about 13x
  the page writes). Memory knows each series' head row ids, to delete them when the head is packed.

Values are stored by their IEEE-754 bits, never as SQLite REAL: SQLite turns NaN into NULL, and
Prometheus's staleness marker is one particular NaN (bits 0x7ff0000000000002) that must survive.
Samples at or before a series' newest timestamp are rejected, as Prometheus rejects out-of-order and
duplicate samples.
"""

from __future__ import annotations

import json
import math
import operator
import sqlite3
import struct
import threading
import time
from abc import ABC, abstractmethod
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self, TypeAlias

from pydock.collector import chunkenc
from pydock.collector.labelmatch import Matcher, compile_go_regex

from pydock.errors import StorageError

STALE_NAN_BITS = 0x7FF0000000000002
STALE_NAN: float = struct.unpack("<d", struct.pack("<Q", STALE_NAN_BITS))[0]
_STALE_BYTES = struct.pack("<Q", STALE_NAN_BITS)

BLOCK_MS = 2 * 3600 * 1000  # chunks never straddle a 2-hour block, like Prometheus's head chunks
CHUNK_MAX = 240  # samples per chunk: one hour at a 15 s interval
CHUNK_CACHE = 4096  # decoded chunks kept in memory (about 4 KB each when full)
MAINTENANCE_S = 60.0  # how often appends also pack stopped series and apply retention
SORTED_KEYS_MAX = 100_000  # label orders remembered by `append` (a cache, cleared when full)

Labels = dict[str, str]
Sample = tuple[Labels, int, float]


def is_stale_nan(v: float) -> bool:
    """True for Prometheus's staleness marker (a NaN with a particular payload), not for other NaNs."""
    return math.isnan(v) and struct.pack("<d", v) == _STALE_BYTES


__all__ = ["STALE_NAN", "TSDB", "FlatSelection", "Matcher", "compile_go_regex", "is_stale_nan"]

MatcherLike: TypeAlias = Matcher | tuple[str, str, str]


def _as_matchers(matchers: Iterable[MatcherLike]) -> list[Matcher]:
    return [m if isinstance(m, Matcher) else Matcher(*m) for m in matchers]


def _key(labels: Labels) -> str:
    return json.dumps(sorted(labels.items()), separators=(",", ":"), ensure_ascii=False)


def _pieces(ts: list[int], vs: list[float]) -> Iterator[tuple[list[int], list[float]]]:
    """Split increasing samples into chunks of at most CHUNK_MAX that never straddle a 2-hour block."""
    i, n = 0, len(ts)
    while i < n:
        block_end = (ts[i] // BLOCK_MS + 1) * BLOCK_MS
        j = min(n, i + CHUNK_MAX)
        if ts[j - 1] >= block_end:
            j = bisect_left(ts, block_end, i, j)
        yield ts[i:j], vs[i:j]
        i = j


def _drop_empty_labels(groups: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]],
                       known: dict[tuple[tuple[str, str], ...], int]
                       ) -> dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]]:
    """Prometheus drops labels with empty values; two label sets may then become one series.
    Label sets of `known` series have none (the usual case, checked as a set at C speed)."""
    if known.keys() >= groups.keys() or not any(v == "" for lk in groups for _, v in lk):
        return groups
    out: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]] = {}
    for lk, (ts, vs) in groups.items():
        key = tuple(p for p in lk if p[1] != "")
        if key in out:
            merged = sorted(zip(out[key][0] + ts, out[key][1] + vs), key=lambda s: s[0])
            out[key] = ([t for t, _ in merged], [v for _, v in merged])
        else:
            out[key] = (ts, vs)
    return out


def _id_runs(ids: list[int]) -> list[tuple[int, int]]:
    """Row ids as runs of consecutive ids: when every series packs its head at once (a scrape
    filled their chunks together), the rows to delete are one run instead of thousands."""
    runs: list[tuple[int, int]] = []
    if not ids:
        return runs
    ids = sorted(ids)
    lo = prev = ids[0]
    for i in ids[1:]:
        if i != prev + 1:
            runs.append((lo, prev))
            lo = i
        prev = i
    runs.append((lo, prev))
    return runs


_SCHEMA = """
PRAGMA auto_vacuum = INCREMENTAL;
CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS series_labels (
    name TEXT NOT NULL, value TEXT NOT NULL, series_id INTEGER NOT NULL,
    PRIMARY KEY (name, value, series_id)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL, min_t INTEGER NOT NULL,
    max_t INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_series ON chunks (series_id, max_t, min_t, n);
CREATE TABLE IF NOT EXISTS head_chunks (
    id INTEGER PRIMARY KEY, series_id INTEGER NOT NULL, min_t INTEGER NOT NULL,
    max_t INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL);
DROP INDEX IF EXISTS head_by_series;
"""
_TABLES = ("chunks", "head_chunks")


@dataclass(frozen=True)
class FlatSelection:
    """Series and their samples end to end: series k is `sids[k]`, labelled `keys[k]` (its sorted
    label pairs), with the `counts[k]` samples that follow those of series 0..k-1 in `ts` and `vs`."""

    sids: list[int]
    keys: list[tuple[tuple[str, str], ...]]
    counts: list[int]
    ts: array[int]
    vs: array[float]


class _Sink(ABC):
    """Where `TSDB._read` puts samples: `ts`/`vs` take each series' pieces, `close` ends a series."""

    ts: array[int]
    vs: array[float]

    @abstractmethod
    def close(self, sid: int) -> None: ...


class _FlatSink(_Sink):
    """All series end to end: a FlatSelection."""

    def __init__(self, keys: dict[int, tuple[tuple[str, str], ...]]) -> None:
        self.flat = FlatSelection([], [], [], array("q"), array("d"))
        self.ts, self.vs = self.flat.ts, self.flat.vs
        self._keys = keys
        self._done = 0

    def close(self, sid: int) -> None:
        n = len(self.ts) - self._done
        if n:
            flat = self.flat
            flat.sids.append(sid)
            flat.keys.append(self._keys.get(sid, ()))
            flat.counts.append(n)
            self._done += n


class _ColumnsSink(_Sink):
    """Two arrays per series, with its label pairs (`keys` given) or a dict of its labels."""

    def __init__(self, keys: dict[int, tuple[tuple[str, str], ...]] | None, labels: dict[int, Labels]) -> None:
        self.out: list[tuple[Any, array[int], array[float]]] = []
        self.ts, self.vs = array("q"), array("d")
        self._keys, self._labels = keys, labels

    def close(self, sid: int) -> None:
        if self.ts:
            label = self._keys.get(sid, ()) if self._keys is not None else dict(self._labels.get(sid) or {})
            self.out.append((label, self.ts, self.vs))
            self.ts, self.vs = array("q"), array("d")


@dataclass
class _Writes:
    """What one transaction will write; memory follows only once it has committed."""

    chunks: list[tuple[int, int, int, int, bytes]] = field(default_factory=list)
    head_rows: list[tuple[int, int, int, int, int, bytes]] = field(default_factory=list)  # id first
    head_deletes: list[int] = field(default_factory=list)  # head row ids
    head_extend: dict[int, tuple[list[int], list[float], int]] = field(default_factory=dict)
    head_replace: dict[int, tuple[list[int], list[float], int | None]] = field(default_factory=dict)
    retention_cutoff: int | None = None
    removed: list[int] = field(default_factory=list)


class TSDB:
    """Series and samples in one SQLite file. Thread-safe: writes are serialised by a lock, reads use
    one connection per thread inside a read transaction (a consistent WAL snapshot)."""

    def __init__(self, path: str | Path, retention_ms: int | None = None) -> None:
        p = Path(path)
        # A directory (like Prometheus's --storage.tsdb.path) holds the file; a file path is used as is.
        if p.is_dir() or p.suffix == "":
            p = p / "tsdb.sqlite"
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the TSDB directory {p.parent}: {exc}") from exc
        self.path = p
        self.retention_ms = retention_ms
        self._lock = threading.RLock()
        self._local = threading.local()
        self._closed = False
        self._readers: list[sqlite3.Connection] = []
        self._maintained = time.monotonic()
        self._cache: OrderedDict[tuple[int, int, int, int], tuple[array[int], array[float]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._sorted_keys: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = {}
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
            self._ids: dict[tuple[tuple[str, str], ...], int] = {}
            self._labels: dict[int, Labels] = {}
            self._keys: dict[int, tuple[tuple[str, str], ...]] = {}  # sid -> sorted label pairs
            self._postings: dict[str, dict[str, set[int]]] = {}
            self._last_t: dict[int, int] = {}
            # The head: per series, the samples not yet in a packed chunk (all newer than the packed
            # ones), in memory for fast recent reads and on disk as head_chunks rows for durability.
            self._head: dict[int, tuple[array[int], array[float]]] = {}
            self._head_rows: dict[int, list[int]] = {}  # the head_chunks row ids of each series
            for sid, key in self._db.execute("SELECT id, key FROM series"):
                self._index(sid, dict(json.loads(key)))
            self._next_id = max(self._labels, default=0) + 1
            for sid, t in self._db.execute("SELECT series_id, max(max_t) FROM chunks GROUP BY series_id"):
                self._last_t[sid] = t
            # Row ids grow with every append, so id order is each series' time order.
            rid = 0
            for rid, sid, n, data in self._db.execute("SELECT id, series_id, n, data FROM head_chunks ORDER BY id"):
                ts, vs = chunkenc.decode(data, n)
                h = self._head.setdefault(sid, (array("q"), array("d")))
                h[0].extend(ts)
                h[1].extend(vs)
                self._head_rows.setdefault(sid, []).append(rid)
                self._last_t[sid] = max(ts[-1], self._last_t.get(sid, ts[-1]))
            self._next_head_id = rid + 1

    def _index(self, sid: int, labels: Labels) -> None:
        key = tuple(sorted(labels.items()))
        self._ids[key] = sid
        self._keys[sid] = key
        self._labels[sid] = labels
        for name, value in labels.items():
            self._postings.setdefault(name, {}).setdefault(value, set()).add(sid)

    # --- writing -------------------------------------------------------------------------------

    def append(self, samples: Iterable[Sample]) -> int:
        """Store samples in one transaction; returns how many were accepted. Out-of-order and
        duplicate timestamps of a series are dropped, and so are labels with empty values, as
        Prometheus does."""
        groups: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]] = {}
        sorted_keys = self._sorted_keys
        if len(sorted_keys) > SORTED_KEYS_MAX:
            sorted_keys.clear()
        for labels, t, v in samples:
            # Scrapes build each series' labels in the same order every time: sort each order once.
            raw = tuple(labels.items())
            lk = sorted_keys.get(raw)
            if lk is None:
                lk = sorted_keys[raw] = tuple(sorted(raw))
            g = groups.get(lk)
            if g is None:
                g = groups[lk] = ([], [])
            g[0].append(int(t))
            g[1].append(float(v))
        return self._append_groups(groups)

    def append_series(self, batch: Iterable[tuple[Labels, Sequence[int], Sequence[float]]], *,
                      exact: bool = False) -> int:
        """Bulk form of `append`: (labels, timestamps, values) per series, in one transaction.
        `exact` says the timestamps are lists of int and the values lists of float that the TSDB may
        keep (the bulk import's parse makes them so): they are then not converted again (~5 % of an
        import, docs/performance.md "TSDB and PromQL")."""
        groups: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]] = {}
        for labels, ts, vs in batch:
            key = tuple(sorted(labels.items()))
            if exact:
                g = groups.get(key)
                # Kept as given, and never extended: a second batch entry for the label set makes new lists.
                groups[key] = (ts, vs) if g is None else (g[0] + list(ts), g[1] + list(vs))  # type: ignore[assignment]
                continue
            g = groups.setdefault(key, ([], []))
            g[0].extend(map(int, ts))
            g[1].extend(map(float, vs))
        return self._append_groups(groups)

    def _accept(self, sid: int, ts: list[int], vs: list[float]) -> tuple[list[int], list[float]]:
        last = self._last_t.get(sid)
        if (last is None or ts[0] > last) and all(map(operator.lt, ts, ts[1:])):
            return ts, vs  # the common case: new samples, in order
        keep_t: list[int] = []
        keep_v: list[float] = []
        prev = last if last is not None else -(2**63)
        for t, v in zip(ts, vs):
            if t > prev:
                keep_t.append(t)
                keep_v.append(v)
                prev = t
        return keep_t, keep_v

    def _append_groups(self, groups: dict[tuple[tuple[str, str], ...], tuple[list[int], list[float]]]) -> int:
        with self._lock:
            self._check_open()
            new_series: list[tuple[int, Labels]] = []
            w = _Writes()
            last_t: dict[int, int] = {}
            accepted = 0
            for lk, (ts, vs) in _drop_empty_labels(groups, self._ids).items():
                sid = self._ids.get(lk)
                if sid is None:
                    sid = self._next_id
                    self._next_id += 1
                    new_series.append((sid, dict(lk)))
                    self._index(sid, dict(lk))
                ts, vs = self._accept(sid, ts, vs)
                if not ts:
                    continue
                accepted += len(ts)
                last_t[sid] = ts[-1]
                self._plan_head(w, sid, ts, vs)
            try:
                self._commit(w, new_series)
            except sqlite3.Error as exc:
                self._load()  # memory may name series or samples that did not commit
                raise StorageError(f"cannot write to TSDB {self.path}: {exc}") from exc
            self._last_t.update(last_t)
            if time.monotonic() - self._maintained > MAINTENANCE_S:
                self.compact()  # retention and stopped series, about once a minute as Prometheus does
            return accepted

    def _plan_head(self, w: _Writes, sid: int, ts: list[int], vs: list[float], force: bool = False) -> None:
        """Decide what new samples of one series become: a head row, or packed chunks once a chunk is
        full or a 2-hour block has closed (then the series' head rows are replaced by the rest)."""
        head = self._head.get(sid)
        pending = len(head[0]) if head else 0
        if not force and pending + len(ts) < CHUNK_MAX and (
                not pending or head[0][0] // BLOCK_MS == ts[-1] // BLOCK_MS):  # type: ignore[index]
            rid = self._next_head_id
            self._next_head_id += 1
            w.head_rows.append((rid, sid, ts[0], ts[-1], len(ts), chunkenc.encode(ts, vs)))
            w.head_extend[sid] = (ts, vs, rid)
            return
        all_t = list(head[0]) + ts if head else ts
        all_v = list(head[1]) + vs if head else vs
        pieces = list(_pieces(all_t, all_v))
        rest_t: list[int] = []
        rest_v: list[float] = []
        for k, (pt, pv) in enumerate(pieces):
            if k == len(pieces) - 1 and len(pt) < CHUNK_MAX and not force:
                rest_t, rest_v = pt, pv
            else:
                w.chunks.append((sid, pt[0], pt[-1], len(pt), chunkenc.encode(pt, pv)))
        w.head_deletes.extend(self._head_rows.get(sid, ()))
        rest_id = None
        if rest_t:
            rest_id = self._next_head_id
            self._next_head_id += 1
            w.head_rows.append((rest_id, sid, rest_t[0], rest_t[-1], len(rest_t), chunkenc.encode(rest_t, rest_v)))
        w.head_replace[sid] = (rest_t, rest_v, rest_id)

    def _commit(self, w: _Writes, new_series: Sequence[tuple[int, Labels]] = ()) -> None:
        db = self._db
        try:
            db.execute("BEGIN IMMEDIATE")
            for sid, labels in new_series:
                db.execute("INSERT INTO series (id, key) VALUES (?, ?)", (sid, _key(labels)))
                db.executemany("INSERT INTO series_labels (name, value, series_id) VALUES (?, ?, ?)",
                               [(n, val, sid) for n, val in labels.items()])
            db.executemany("DELETE FROM head_chunks WHERE id BETWEEN ? AND ?", _id_runs(w.head_deletes))
            db.executemany("INSERT INTO chunks (series_id, min_t, max_t, n, data) VALUES (?,?,?,?,?)", w.chunks)
            db.executemany("INSERT INTO head_chunks (id, series_id, min_t, max_t, n, data) VALUES (?,?,?,?,?,?)",
                           w.head_rows)
            if w.retention_cutoff is not None:
                w.removed = self._apply_retention(w.retention_cutoff)
            db.execute("COMMIT")
        except sqlite3.Error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        for sid, (ts, vs, rid) in w.head_extend.items():
            h = self._head.get(sid)
            if h is None:
                self._head[sid] = (array("q", ts), array("d", vs))
                self._head_rows[sid] = [rid]
            else:
                h[0].extend(ts)
                h[1].extend(vs)
                self._head_rows.setdefault(sid, []).append(rid)
        for sid, (ts, vs, new_id) in w.head_replace.items():
            if ts and new_id is not None:
                self._head[sid] = (array("q", ts), array("d", vs))
                self._head_rows[sid] = [new_id]
            else:
                self._head.pop(sid, None)
                self._head_rows.pop(sid, None)
        for sid in w.removed:
            self._unindex(sid)

    def compact(self, force: bool = False) -> None:
        """Pack the head of series whose newest samples are in a closed 2-hour block (series that
        stopped), or of every series with `force`; then apply retention."""
        with self._lock:
            self._check_open()
            head_max = max(self._last_t.values(), default=0)
            w = _Writes()
            for sid, (ts, _) in list(self._head.items()):
                if ts and (force or ts[-1] // BLOCK_MS < head_max // BLOCK_MS):
                    # An empty append with force packs what is pending.
                    self._plan_head(w, sid, [], [], force=True)
            if self.retention_ms is not None:
                w.retention_cutoff = head_max - self.retention_ms
            try:
                self._commit(w)
            except sqlite3.Error as exc:
                self._load()
                raise StorageError(f"cannot compact TSDB {self.path}: {exc}") from exc
            self._maintained = time.monotonic()

    def _apply_retention(self, cutoff: int) -> list[int]:
        """Delete chunks that ended before `cutoff` and series left empty; returns their ids.
        Like Prometheus, age is measured from the newest sample, not the wall clock, so imported
        history is kept as long as nothing newer pushes it out."""
        db = self._db
        for table in _TABLES:
            db.execute(f"DELETE FROM {table} WHERE max_t < ?", (cutoff,))
        gone = [r[0] for r in db.execute(
            "SELECT id FROM series WHERE id NOT IN (SELECT series_id FROM chunks) "
            "AND id NOT IN (SELECT series_id FROM head_chunks)")]
        db.executemany("DELETE FROM series_labels WHERE series_id = ?", [(s,) for s in gone])
        db.executemany("DELETE FROM series WHERE id = ?", [(s,) for s in gone])
        return gone

    def _unindex(self, sid: int) -> None:
        labels = self._labels.pop(sid, None)
        self._keys.pop(sid, None)
        if labels is None:
            return
        self._ids.pop(tuple(sorted(labels.items())), None)
        self._last_t.pop(sid, None)
        self._head.pop(sid, None)
        self._head_rows.pop(sid, None)
        for name, value in labels.items():
            ids = self._postings[name][value]
            ids.discard(sid)
            if not ids:
                del self._postings[name][value]
                if not self._postings[name]:
                    del self._postings[name]

    # --- reading -------------------------------------------------------------------------------

    def _match(self, matchers: Sequence[Matcher]) -> list[int]:
        with self._lock:
            cand: set[int] | None = None
            # Equality with a non-empty value narrows through the postings (exactly: those need no
            # second look); the rest filter.
            rest = []
            for m in matchers:
                if m.op == "=" and m.value != "":
                    ids = self._postings.get(m.name, {}).get(m.value, set())
                    cand = set(ids) if cand is None else cand & ids
                else:
                    rest.append(m)
            if cand is None:
                cand = set(self._labels)
            if not rest:
                return sorted(cand)
            out = []
            for sid in cand:
                labels = self._labels[sid]
                if all(m.matches(labels.get(m.name, "")) for m in rest):
                    out.append(sid)
            return sorted(out)

    def _snapshot(self, db: sqlite3.Connection, sids: Sequence[int]) -> dict[int, tuple[array[int], array[float]]]:
        """Open a read transaction and copy the heads of `sids` at the same instant, under the writer's
        lock, so packed chunks and head never both hold (or both miss) a sample moved between them."""
        with self._lock:
            db.execute("BEGIN")
            db.execute("SELECT 1 FROM series LIMIT 1")  # the WAL snapshot starts at the first read
            out = {}
            for sid in sids:
                h = self._head.get(sid)
                if h is not None:
                    out[sid] = (array("q", h[0]), array("d", h[1]))
            return out

    def _chunk_lists(self, db: sqlite3.Connection, sids: Sequence[int], start: int, end: int,
                     heads: dict[int, tuple[array[int], array[float]]]) -> dict[int, list[tuple[int, int, int]]]:
        """(chunk id, min_t, n) of the packed chunks in range, per series, from one statement for all
        of them (a statement per series was half the time of an instant query over 1,000 series).
        A series whose head starts at or before `start` needs none."""
        need = [sid for sid in sids if (h := heads.get(sid)) is None or not h[0] or h[0][0] > start]
        out: dict[int, list[tuple[int, int, int]]] = {}
        if not need:
            return out
        rows = db.execute(
            "SELECT series_id, id, min_t, n FROM chunks WHERE series_id IN (SELECT value FROM json_each(?)) "
            "AND max_t >= ? AND min_t <= ? ORDER BY series_id, max_t", (json.dumps(need), start, end))
        for sid, cid, min_t, n in rows:
            lst = out.get(sid)
            if lst is None:
                lst = out[sid] = []
            lst.append((cid, min_t, n))
        return out

    def _chunks_many(self, db: sqlite3.Connection, chunks: dict[int, list[tuple[int, int, int]]]
                     ) -> dict[int, list[tuple[array[int], array[float]]]]:
        """`_chunk` for the chunks of many series at once: one pass under the cache lock takes the
        hits (references: a later eviction cannot take them back) and one statement decodes the
        misses (a lookup and a statement per series were most of an instant query)."""
        out: dict[int, list[Any]] = {}
        missing: dict[int, tuple[int, int, int, int]] = {}
        holes: list[tuple[list[Any], int, tuple[int, int, int, int]]] = []  # where each miss goes
        cache = self._cache
        with self._cache_lock:
            for sid, lst in chunks.items():
                parts: list[Any] = []
                out[sid] = parts
                for cid, min_t, n in lst:
                    key = (cid, sid, min_t, n)
                    hit = cache.get(key)
                    if hit is None:
                        missing[cid] = key
                        holes.append((parts, len(parts), key))
                    else:
                        cache.move_to_end(key)
                    parts.append(hit)
        if missing:
            got: dict[tuple[int, int, int, int], tuple[array[int], array[float]]] = {}
            for cid, data in db.execute("SELECT id, data FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
                                        (json.dumps(list(missing)),)):
                key = missing[cid]
                ts, vs = chunkenc.decode(data, key[3])
                got[key] = (array("q", ts), array("d", vs))
            with self._cache_lock:
                for key, val in got.items():
                    cache[key] = val
                while len(cache) > CHUNK_CACHE:
                    cache.popitem(last=False)
            for parts, k, key in holes:
                decoded = got.get(key)
                parts[k] = decoded if decoded is not None else self._chunk_uncached(db, key[0], key[3])
        return out

    @staticmethod
    def _chunk_uncached(db: sqlite3.Connection, cid: int, n: int) -> tuple[array[int], array[float]]:
        (data,) = db.execute("SELECT data FROM chunks WHERE id = ?", (cid,)).fetchone()
        ts, vs = chunkenc.decode(data, n)
        return array("q", ts), array("d", vs)

    def _read(self, matchers: Iterable[MatcherLike], start_ms: int, end_ms: int, sink: _Sink) -> None:
        """Hand `sink` the samples in [start_ms, end_ms] of each matched series (in series id order):
        its pieces (packed chunks, then the head) cut to the range are appended to `sink.ts` and
        `sink.vs`, then `sink.close(sid)` ends the series. One loop with no object per series: the
        flat read of an instant query spends most of its time here (docs/performance.md "TSDB and
        PromQL")."""
        ms = _as_matchers(matchers)
        self._check_open()
        sids = self._match(ms)
        if not sids:
            return
        db = self._reader()
        heads = self._snapshot(db, sids)
        start, end = int(start_ms), int(end_ms)
        try:
            decoded = self._chunks_many(db, self._chunk_lists(db, sids, start, end, heads))
        finally:
            db.execute("COMMIT")
        close = sink.close
        for sid in sids:
            parts = decoded.get(sid)  # a list of this read's own: the head can go on its end
            head = heads.get(sid)
            if parts is None:
                if head is None:
                    continue
                parts = [head]
            elif head is not None:
                parts.append(head)
            for cts, cvs in parts:
                if not cts:
                    continue
                before, after = cts[0] < start, cts[-1] > end
                if before or after:  # cut before copying: an instant query wants a few
                    i = bisect_left(cts, start) if before else 0
                    j = bisect_right(cts, end) if after else len(cts)
                    if i >= j:
                        continue
                    cts, cvs = cts[i:j], cvs[i:j]
                sink.ts.extend(cts)
                sink.vs.extend(cvs)
            close(sid)

    def select_flat(self, matchers: Iterable[MatcherLike], start_ms: int, end_ms: int) -> FlatSelection:
        """The series matching every matcher with their samples in [start_ms, end_ms] (staleness
        markers included), all end to end in two arrays: what the engine's all-series paths want
        (no arrays or label objects per series: those were ~3 us a series of an instant query,
        docs/performance.md "TSDB and PromQL"). Series with no sample in range are left out."""
        sink = _FlatSink(self._keys)
        self._read(matchers, start_ms, end_ms, sink)
        return sink.flat

    def select_arrays(self, matchers: Iterable[MatcherLike], start_ms: int, end_ms: int
                      ) -> list[tuple[Labels, list[int], list[float]]]:
        """Like `select`, with timestamps and values as two parallel lists."""
        return [(labels, ts.tolist(), vs.tolist()) for labels, ts, vs in self.select_columns(matchers, start_ms, end_ms)]

    def select_columns(self, matchers: Iterable[MatcherLike], start_ms: int, end_ms: int, *,
                       label_pairs: bool = False) -> list[tuple[Any, array[int], array[float]]]:
        """Like `select`, with timestamps and values as two parallel arrays ("q" and "d") per series:
        what the engine's per-series paths want, copied from the decoded chunks without a Python
        object per sample. With `label_pairs`, each label set is the tuple of its sorted (name,
        value) pairs, shared and immutable (the engine's form), instead of a dict of its own."""
        sink = _ColumnsSink(self._keys if label_pairs else None, self._labels)
        self._read(matchers, start_ms, end_ms, sink)
        return sink.out

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
        heads = self._snapshot(db, sids)
        try:
            for sid in sids:
                h = heads.get(sid)
                hit = (h is not None and len(h[0]) > 0 and bisect_left(h[0], lo) < bisect_right(h[0], hi)) or \
                    db.execute("SELECT 1 FROM chunks WHERE series_id = ? AND max_t >= ? AND min_t <= ? LIMIT 1",
                               (sid, lo, hi)).fetchone() is not None
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
            (heads,) = self._db.execute("SELECT count(*) FROM head_chunks").fetchone()
            waiting = sum(len(h[0]) for h in self._head.values())
            return {"series": len(self._labels), "head_chunks": heads, "head_samples": waiting, "chunks": chunks,
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
                self._db.execute("PRAGMA incremental_vacuum")  # give pages freed by compaction back
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._closed = True
                for db in self._readers:
                    db.close()
                self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
