"""SQLite + FTS5 log store: dedupe, filters, FTS, pagination, tail positions, retention, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydock.collector.logstore import BadQueryError, LogQuery, LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore

T0 = 1_790_000_000_000_000_000


def rec(i: int, name: str = "web", cid: str = "a" * 64, host: str = "h1", stream: str = "stdout",
        line: str | None = None, file_id: str = "8:1") -> LogRecord:
    return LogRecord(host, cid, name, stream, T0 + i * 1_000_000, line if line is not None else f"line {i} ok",
                     file_id, (i + 1) * 50)


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteLogStore(tmp_path / "logs.db")
    yield s
    s.close()


def test_append_drops_exact_duplicates(store: SQLiteLogStore) -> None:
    batch = [rec(i) for i in range(100)]
    assert store.append(batch) == 100
    assert store.append(batch[50:] + [rec(100)]) == 1
    # Same offset in another file or container is a different line.
    assert store.append([rec(1, file_id="8:2"), rec(1, cid="b" * 64)]) == 2
    assert store.stats()["lines"] == 103
    # The FTS index holds no ghost rows from the ignored inserts.
    assert len(store.query(LogQuery(text="ok", limit=5000)).records) == 103


def test_text_search_and_filters(store: SQLiteLogStore) -> None:
    store.append([rec(i, line=f"GET /index {i}") for i in range(10)])
    store.append([rec(10 + i, name="db", cid="c" * 64, host="h2", stream="stderr", line=f"error: disk {i}",
                      file_id="9:1") for i in range(5)])
    assert [r.line for r in store.query(LogQuery(text="error")).records] == [f"error: disk {i}" for i in range(4, -1, -1)]
    assert len(store.query(LogQuery(text="index OR disk")).records) == 15
    assert len(store.query(LogQuery(text='"disk 3"')).records) == 1
    assert len(store.query(LogQuery(container="db")).records) == 5
    assert len(store.query(LogQuery(container="cccccccccccc")).records) == 5  # short id
    assert len(store.query(LogQuery(container="c" * 64)).records) == 5
    assert store.query(LogQuery(container="ccc-nope")).records == []
    assert len(store.query(LogQuery(host="h1")).records) == 10
    assert len(store.query(LogQuery(stream="stderr", host="h2")).records) == 5
    got = store.query(LogQuery(start_ns=T0 + 3_000_000, end_ns=T0 + 6_000_000)).records
    assert [r.line for r in got] == ["GET /index 5", "GET /index 4", "GET /index 3"]
    with pytest.raises(BadQueryError):
        store.query(LogQuery(text='"unterminated'))


def test_ansi_sequences_do_not_hide_words(store: SQLiteLogStore) -> None:
    store.append([rec(0, line="\x1b[33mwarning\x1b[0m disk \x1b[1;31mfull\x1b[0m"), rec(1, line="plain line")])
    got = store.query(LogQuery(text="warning full")).records
    assert [r.line for r in got] == ["\x1b[33mwarning\x1b[0m disk \x1b[1;31mfull\x1b[0m"]  # stored as sent
    store.max_age_s = 1  # both lines are old: retention deletes them, and their FTS entries with them
    assert store.enforce_retention() == 2
    assert store.query(LogQuery(text="warning")).records == []
    store.append([rec(5, line="\x1b[32mwarning\x1b[0m again")])
    assert len(store.query(LogQuery(text="warning")).records) == 1
    # The index itself holds no ghost of the deleted lines (the delete saw the same stripped text).
    assert store._w.execute("SELECT count(*) FROM logs_fts WHERE logs_fts MATCH 'warning'").fetchone()[0] == 1


def test_pagination_newest_first_covers_everything_once(store: SQLiteLogStore) -> None:
    # Equal timestamps across lines must neither repeat nor skip on a page boundary.
    store.append([LogRecord("h", "a" * 64, "web", "stdout", T0 + (i // 3), f"l{i}", "1:1", i) for i in range(100)])
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        page = store.query(LogQuery(limit=7, cursor=cursor))
        seen += [r.line for r in page.records]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert pages == 15
    assert sorted(seen) == sorted(f"l{i}" for i in range(100))
    assert len(set(seen)) == 100
    times = [int(s[1:]) // 3 for s in seen]
    assert times == sorted(times, reverse=True)


def test_text_search_is_exactly_newest_first_even_when_stored_out_of_order(store: SQLiteLogStore) -> None:
    # Lines stored in an order unlike their times (a backfill after an outage) across many id blocks:
    # the FTS path's early stop must still return exactly what a full sort returns.
    import random

    rnd = random.Random(7)
    recs = []
    for i in range(20_000):
        t = T0 + (i if i % 5 else rnd.randrange(0, 40_000)) * 1000  # one line in five far from its neighbours
        recs.append(LogRecord("h", "a" * 64, "web" if i % 3 else "db", "stdout", t,
                              f"{'needle' if i % 4 == 0 else 'hay'} {i}", "1:1", i))
    for k in range(0, len(recs), 3000):
        store.append(recs[k:k + 3000])
    for text, container in (("needle", ""), ("hay", "db"), ("needle OR hay", "web")):
        want = sorted((r for r in recs if text.split()[0] in r.line or (" OR " in text)
                       if not container or r.container_name == container), key=lambda r: (r.time_ns, r.offset),
                      reverse=True)
        got: list[LogRecord] = []
        cursor = ""
        for _ in range(3):
            page = store.query(LogQuery(text=text, container=container, limit=40, cursor=cursor))
            got += page.records
            cursor = page.next_cursor
        assert [(r.time_ns, r.offset) for r in got] == [(r.time_ns, r.offset) for r in want[:120]], text


def test_tail_positions(store: SQLiteLogStore) -> None:
    store.append([rec(i) for i in range(5)])
    got, pos = store.tail(LogQuery(), "")
    assert got == []
    store.append([rec(5), rec(6, name="db", cid="d" * 64)])
    got, pos2 = store.tail(LogQuery(), pos)
    assert [r.line for _, r in got] == ["line 5 ok", "line 6 ok"]
    assert [int(p) for p, _ in got] == [int(pos) + 1, int(pos) + 2] and pos2 == got[-1][0]
    got, pos3 = store.tail(LogQuery(container="db"), pos)
    assert [r.container_name for _, r in got] == ["db"]
    assert store.tail(LogQuery(), pos2) == ([], pos2)
    store.append([rec(7)])
    got, _ = store.tail(LogQuery(container="db"), pos3)
    assert got == []
    store.append([rec(8, line="needle here"), rec(9, line="hay"), rec(10, line="needle again", name="db",
                                                                  cid="d" * 64)])
    got, pos4 = store.tail(LogQuery(text="needle"), pos2)
    assert [r.line for _, r in got] == ["needle here", "needle again"]
    got, _ = store.tail(LogQuery(text="needle", container="db"), pos2)
    assert [r.line for _, r in got] == ["needle again"]
    assert store.tail(LogQuery(text="needle"), pos4) == ([], pos4)


def test_retention_by_age_and_size(tmp_path: Path) -> None:
    now = time.time_ns()
    s = SQLiteLogStore(tmp_path / "r.db", max_age_s=3600)
    old = [LogRecord("h", "a" * 64, "w", "stdout", now - 7200 * 10**9 + i, f"old {i}", "1:1", i) for i in range(50)]
    new = [LogRecord("h", "a" * 64, "w", "stdout", now - i, f"new {i}", "1:1", 1000 + i) for i in range(20)]
    s.append(old + new)
    assert s.enforce_retention() == 50
    assert s.stats()["lines"] == 20
    assert s.query(LogQuery(text="old")).records == []
    s.close()

    s = SQLiteLogStore(tmp_path / "size.db", max_bytes=400_000)
    payload = "x" * 200
    for b in range(20):
        s.append([LogRecord("h", "a" * 64, "w", "stdout", now + b * 1000 + i, f"{payload} b{b} n{i}", "1:1",
                            b * 1000 + i) for i in range(100)])
    before = s.stats()["lines"]
    removed = s.enforce_retention()
    assert removed > 0 and s.stats()["lines"] == before - removed
    assert s._size() <= 400_000
    newest = s.query(LogQuery(limit=1)).records[0]
    assert newest.line.endswith("b19 n99")  # the oldest went first
    s.close()


CHILD = r"""
import sys
from pydock.collector.logstore import LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore
s = SQLiteLogStore(sys.argv[1])
n = 0
while True:
    s.append([LogRecord("h", "a" * 64, "w", "stdout", n + i, f"crash {n + i}", "1:1", n + i) for i in range(100)])
    n += 100
    print(n, flush=True)
"""


def test_acknowledged_appends_survive_sigkill(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    p = subprocess.Popen([sys.executable, "-c", CHILD, str(db)], stdout=subprocess.PIPE, text=True)
    try:
        acked = 0
        assert p.stdout is not None
        while acked < 2000:
            acked = int(p.stdout.readline())
    finally:
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
    s = SQLiteLogStore(db)
    try:
        lines = s.stats()["lines"]
        assert lines >= acked  # everything reported as appended is there
        assert len(s.query(LogQuery(text="crash", limit=5000)).records) == min(lines, 5000)
    finally:
        s.close()
