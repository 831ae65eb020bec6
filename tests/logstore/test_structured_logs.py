"""Structured logs at ingest: JSON and logfmt lines read into fields, a level per line, and field terms
in the plain search (`level=error`, `status>=500`, `user.id=42`), in SQLite and in the Elasticsearch
stand-in (whose strict mapping refuses a document shape the template does not declare)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_es import FakeES
from pydock.collector.logstore import LogQuery, LogRecord
from pydock.collector.logstore.elastic import ElasticsearchLogStore
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.collector.logstore.structured import analyse, split_terms

T0 = 1_790_000_000 * 10**9

LINES = [
    '{"level":"error","msg":"db down","status":503,"user":{"id":42,"name":"ann"},"ok":false}',
    '{"severity":"WARNING","msg":"slow","status":"200","user":{"id":"7"}}',
    'time=2026-01-01T00:00:00Z level=info msg="user logged in" status=200 user.id=42 took=1.5',
    "lvl=dbg status=404 path=/x",
    "ERROR failed to connect to db",
    "[WARN] disk almost full",
    "2026-01-01 10:00:00,123 CRITICAL out of memory",
    "panic: runtime error: index out of range",
    "plain text with no level, errors mentioned",
    "Information about status=500 things",
]


def test_analyse_fields_and_levels() -> None:
    got = [analyse(x) for x in LINES]
    assert got[0] == ("error", {"level": "error", "msg": "db down", "status": 503, "user.id": 42,
                                "user.name": "ann", "ok": "false"})
    assert got[1][0] == "warn" and got[1][1]["status"] == 200 and got[1][1]["user.id"] == 7
    assert got[2] == ("info", {"time": "2026-01-01T00:00:00Z", "level": "info", "msg": "user logged in",
                               "status": 200, "user.id": 42, "took": 1.5})
    assert got[3] == ("debug", {"lvl": "dbg", "status": 404, "path": "/x"})
    assert [g[0] for g in got[4:]] == ["error", "warn", "fatal", "fatal", "", ""]
    assert got[4][1] == {} and got[9][1] == {"status": 500}
    assert analyse('{"a": [1, 2], "b": null}') == ("", {"a": "[1,2]", "b": ""})
    assert analyse("[1, 2, 3]") == ("", {})


def test_split_terms() -> None:
    text, terms = split_terms('timeout level=error status>=500 "a=b" msg="timed out" x!=1')
    assert text == 'timeout "a=b"'
    assert [(t.key, t.op, t.value, t.number) for t in terms] == [
        ("level", "=", "error", None), ("status", ">=", "500", 500.0), ("msg", "=", "timed out", None),
        ("x", "!=", "1", 1.0)]


def records() -> list[LogRecord]:
    return [LogRecord("h1", "c" * 64, "api", "stdout", T0 + i * 10**6, line, "1:1", (i + 1) * 100)
            for i, line in enumerate(LINES)]


SEARCHES: list[tuple[str, str, list[int]]] = [
    # (text, level filter, indices of LINES expected, newest first)
    ("level=error", "", [4, 0]),
    ("level=warning", "", [5, 1]),
    ("level>=error", "", [7, 6, 4, 0]),
    ("status>=500", "", [9, 0]),
    ("status=200", "", [2, 1]),
    ("status<300", "", [2, 1]),
    ("user.id=42", "", [2, 0]),
    ("user.id=42 level=info", "", [2]),
    ("user.id=42 logged", "", [2]),
    ('msg="user logged in"', "", [2]),
    ("path>/a", "", [3]),
    ("status!=200", "", [9, 8, 7, 6, 5, 4, 3, 0]),
    ("ok=false", "", [0]),
    ("", "error,fatal", [7, 6, 4, 0]),
    ("", "none", [9, 8]),
    ("db", "error", [4, 0]),
]


def check_searches(store: Any) -> None:
    for text, level, want in SEARCHES:
        got = [r.line for r in store.query(LogQuery(text=text, level=level, limit=50)).records]
        assert got == [LINES[i] for i in want], (text, level)
    top = store.query(LogQuery(text="user.id=42", limit=1))
    assert top.records[0].level == "info" and top.records[0].fields["user.id"] == 42
    rest = store.query(LogQuery(text="user.id=42", limit=1, cursor=top.next_cursor))
    assert [r.line for r in rest.records] == [LINES[0]]


def test_sqlite_fields_levels_and_search(tmp_path: Path) -> None:
    s = SQLiteLogStore(tmp_path / "logs.sqlite")
    try:
        assert s.append(records()) == len(LINES)
        check_searches(s)
        # the level column is indexed
        plan = s._run("EXPLAIN QUERY PLAN SELECT id FROM logs WHERE level IN ('error') AND time_ns > 0", [])
        assert "logs_level_time" in str(plan)
        # the live tail takes field terms too
        _, pos = s.tail(LogQuery(), "")
        s.append([LogRecord("h1", "c" * 64, "api", "stdout", T0 + 10**9, '{"level":"error","n":1}', "1:1", 9999)])
        got, _ = s.tail(LogQuery(text="n=1 level=error"), str(int(pos) - 1))
        assert [r.fields for _, r in got] == [{"level": "error", "n": 1}]
    finally:
        s.close()


def test_sqlite_parsing_off_and_old_store_migrated(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    con = sqlite3.connect(path)  # a store as made before structured fields
    con.executescript("""CREATE TABLE logs(id INTEGER PRIMARY KEY AUTOINCREMENT, host TEXT NOT NULL,
      container_id TEXT NOT NULL, container_name TEXT NOT NULL, stream TEXT NOT NULL, time_ns INTEGER NOT NULL,
      line TEXT NOT NULL, file_id TEXT NOT NULL, offset INTEGER NOT NULL, UNIQUE(container_id, file_id, offset));
      INSERT INTO logs VALUES (1, 'h', 'c', 'n', 's', 5, 'ERROR old', 'f', 1);""")
    con.close()
    s = SQLiteLogStore(path, parse_structured=False)
    try:
        assert [(r.line, r.level) for r in s.query(LogQuery()).records] == [("ERROR old", "")]
        s.append(records()[:1])
        assert s.query(LogQuery(text="level=error")).records == []
    finally:
        s.close()


@pytest.fixture
def es() -> Iterator[FakeES]:
    f = FakeES().start()
    yield f
    f.stop()


def test_elasticsearch_fields_levels_and_search(es: FakeES, tmp_path: Path) -> None:
    s = ElasticsearchLogStore(es.url, tmp_path / "spool.db")
    try:
        s.append(records())
        assert s.wait_flushed(10)
        assert not s.spool.dead()  # the strict template accepts the new document shape
        doc = next(d for d in es.docs() if d["line"] == LINES[0])
        assert doc["level"] == "error"
        assert doc["fields"] == {"level": "error", "msg": "db down", "status": "503", "user.id": "42",
                                 "user.name": "ann", "ok": "false"}
        assert doc["fields_num"] == {"status": 503, "user.id": 42}
        check_searches(s)
    finally:
        s.close()
