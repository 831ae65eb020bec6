"""The Elasticsearch backend against an in-process stand-in of ES 8's REST API (fake_es.py):
template and daily indices, idempotent bulk writes, per-item 429/5xx retries, permanent rejections,
whole-request failures, a cluster that is down (the spool keeps what was acknowledged), search."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_es import FakeES
from pydock.collector.logstore import BadQueryError, LogQuery, LogRecord
from pydock.collector.logstore.elastic import MAPPINGS, ElasticsearchLogStore, doc_id

DAY = 86_400 * 10**9
T0 = 1_790_000_000 * 10**9  # 2026-09-21 UTC


def rec(i: int, name: str = "web", t: int | None = None, line: str | None = None) -> LogRecord:
    return LogRecord("h1", ("a" if name == "web" else "b") * 64, name, "stderr" if i % 10 == 9 else "stdout",
                     T0 + i * 10**6 if t is None else t, line or f"request {i} served", "8:1", (i + 1) * 80)


@pytest.fixture
def es() -> Iterator[FakeES]:
    f = FakeES().start()
    yield f
    f.stop()


def open_store(es: FakeES, tmp_path: Path, **kw: object) -> ElasticsearchLogStore:
    return ElasticsearchLogStore(es.url, tmp_path / "spool.db", **kw)  # type: ignore[arg-type]


def test_template_daily_indices_and_search(es: FakeES, tmp_path: Path) -> None:
    s = open_store(es, tmp_path)
    try:
        recs = [rec(i) for i in range(50)] + [rec(100 + i, name="db", t=T0 + DAY + i) for i in range(5)]
        assert s.append(recs) == 55
        assert s.wait_flushed(10)
        tpl = es.templates["pydock-logs"]
        assert tpl["index_patterns"] == ["pydock-logs-*"]
        assert tpl["template"]["mappings"] == MAPPINGS
        assert sorted(es.indices) == ["pydock-logs-2026.09.21", "pydock-logs-2026.09.22"]
        assert es.indices["pydock-logs-2026.09.21"][doc_id(recs[0])]["line"] == "request 0 served"
        page = s.query(LogQuery(text="request", limit=20))
        assert [r.line for r in page.records][:2] == ["request 104 served", "request 103 served"]
        seen = [r.line for r in page.records]
        while page.next_cursor:
            page = s.query(LogQuery(text="request", limit=20, cursor=page.next_cursor))
            seen += [r.line for r in page.records]
        assert len(seen) == 55 and len(set(seen)) == 55
        assert len(s.query(LogQuery(container="db")).records) == 5
        assert len(s.query(LogQuery(container="aaaaaaaaaaaa", stream="stderr")).records) == 5
        assert len(s.query(LogQuery(text='"request 7 served"')).records) == 1
        assert len(s.query(LogQuery(start_ns=T0 + DAY)).records) == 5
        with pytest.raises(BadQueryError):
            s.query(LogQuery(text='"open'))
        _, pos = s.tail(LogQuery(), "")
        s.append([rec(200, line="tail me")])
        assert s.wait_flushed(10)
        got, _ = s.tail(LogQuery(), pos)
        assert [r.line for _, r in got] == ["tail me"]
    finally:
        s.close()


def test_partial_failures_are_retried_and_rejections_kept(es: FakeES, tmp_path: Path) -> None:
    recs = [rec(i) for i in range(40)]
    es.item_status[doc_id(recs[3])] = [429, 429]
    es.item_status[doc_id(recs[7])] = [503]
    es.reject.add(doc_id(recs[11]))
    es.fail_requests = [429, 502]  # the first two bulk requests fail as a whole
    s = open_store(es, tmp_path)
    try:
        s.append(recs)
        assert s.wait_flushed(20)
        ids = sorted(d["offset"] for d in es.docs())
        assert ids == sorted(r.offset for r in recs if r is not recs[11])
        assert [d for d, _ in s.spool.dead()] == [doc_id(recs[11])]
        assert s.stats()["dead"] == 1 and s.retried >= 3
        # Re-sent lines (a lost acknowledgement upstream) are 409s: stored once.
        s.append(recs[:20])
        assert s.wait_flushed(10)
        assert len(es.docs()) == 39
    finally:
        s.close()


def test_cluster_down_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    es = FakeES().start()
    port = es.port
    es.stop()  # the cluster is down before the collector starts
    s = ElasticsearchLogStore(f"http://127.0.0.1:{port}", tmp_path / "spool.db")
    try:
        assert s.append([rec(i) for i in range(30)]) == 30  # acknowledged: in the spool
        time.sleep(0.5)
        assert s.spool.pending() == 30
    finally:
        s.close()  # the collector stops (or dies) with the cluster still down
    es2 = FakeES(port).start()
    s = ElasticsearchLogStore(es2.url, tmp_path / "spool.db")
    try:
        s.append([rec(i) for i in range(25, 35)])  # overlaps what is spooled
        assert s.wait_flushed(15)
        assert sorted(d["offset"] for d in es2.docs()) == [(i + 1) * 80 for i in range(35)]
    finally:
        s.close()
        es2.stop()


def test_retention_deletes_old_daily_indices(es: FakeES, tmp_path: Path) -> None:
    now = time.time_ns()
    s = open_store(es, tmp_path, max_age_s=3 * 86400)
    try:
        s.append([rec(i, t=now - 10 * DAY + i) for i in range(5)] + [rec(10 + i, t=now + i) for i in range(3)])
        assert s.wait_flushed(10)
        assert len(es.indices) == 2
        assert s.enforce_retention() == 5
        assert len(es.indices) == 1 and len(es.docs()) == 3
    finally:
        s.close()


def test_open_store_picks_the_backend(es: FakeES, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from pydock.collector.logstore import LogStoreError, open_store
    from pydock.collector.logstore.sqlite import SQLiteLogStore

    s = open_store(SimpleNamespace(data_dir=tmp_path, retention_s=3600), environ={})
    assert isinstance(s, SQLiteLogStore) and s.max_age_s == 3600 and (tmp_path / "logs.sqlite").exists()
    s.close()
    s = open_store(SimpleNamespace(data_dir=tmp_path), environ={"PYDOCK_LOG_STORE": "elasticsearch",
                                                                 "PYDOCK_ES_URL": es.url})
    try:
        assert isinstance(s, ElasticsearchLogStore)
        s.append([rec(1)])
        assert s.wait_flushed(10) and len(es.docs()) == 1
    finally:
        s.close()
    with pytest.raises(LogStoreError, match="es_url"):
        open_store(SimpleNamespace(data_dir=tmp_path, log_store="elasticsearch"), environ={})
    with pytest.raises(LogStoreError, match="unknown log store"):
        open_store(SimpleNamespace(data_dir=tmp_path, log_store="mongodb"), environ={})


def test_push_api_on_the_elasticsearch_backend(es: FakeES, tmp_path: Path) -> None:
    import gzip
    import json

    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from pydock.collector.api import logs as logs_api

    app = FastAPI()
    s = open_store(es, tmp_path)
    app.state.logstore = s
    app.include_router(logs_api.router)
    body = gzip.compress(b"".join(json.dumps(rec(i).to_json()).encode() + b"\n" for i in range(20)))
    try:
        with TestClient(app) as c:
            es.fail_requests = [503]  # the cluster is busy: the push is still acknowledged (spooled)
            r = c.post("/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"})
            assert r.status_code == 200 and r.json()["accepted"] == 20
            assert s.wait_flushed(10)
            got = c.get("/api/v1/logs/query", params={"query": "served", "limit": 5}).json()["data"]["lines"]
            assert [g["line"] for g in got] == [f"request {i} served" for i in range(19, 14, -1)]
            assert c.post("/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"}).status_code == 200
            assert s.wait_flushed(10) and len(es.docs()) == 20
    finally:
        s.close()
