"""The log API through the ASGI test client: push (gzip NDJSON), dedupe, query, access, live tail."""

from __future__ import annotations

import gzip
import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from fastapi.testclient import TestClient
from pydock.collector.logstore import LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore
from webhelpers import LiveServer, logs_app

from pydock.units import rfc3339_nano

T0 = 1_790_000_000_000_000_000


def ndjson(objs: list[dict]) -> bytes:
    return gzip.compress(b"".join(json.dumps(o).encode() + b"\n" for o in objs))


def line(i: int, **kw: object) -> dict:
    d = {"host": "h1", "container_id": "a" * 64, "container_name": "web", "stream": "stdout",
         "time_ns": T0 + i, "line": f"hello {i}", "file_id": "8:1", "offset": 100 * (i + 1)}
    d.update(kw)
    return d


@pytest.fixture
def client(logstore: SQLiteLogStore):
    with TestClient(logs_app(logstore)) as c:
        yield c


def test_push_then_query(client: TestClient) -> None:
    body = ndjson([line(i) for i in range(10)] + [line(10, line="boom", stream="stderr", container_name="db",
                                                       container_id="b" * 64)])
    r = client.post("/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "success", "accepted": 11, "stored": 11}
    # The same batch again (a lost acknowledgement): accepted, nothing stored twice.
    r = client.post("/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"})
    assert r.json()["stored"] == 0
    d = client.get("/api/v1/logs/query", params={"query": "hello", "limit": 3}).json()["data"]
    assert [x["line"] for x in d["lines"]] == ["hello 9", "hello 8", "hello 7"]
    assert d["lines"][0]["time"].endswith("Z") and d["next_cursor"]
    d2 = client.get("/api/v1/logs/query", params={"query": "hello", "limit": 100, "cursor": d["next_cursor"]}).json()
    assert len(d2["data"]["lines"]) == 7
    got = client.get("/api/v1/logs/query", params={"container": "db", "stream": "stderr"}).json()["data"]["lines"]
    assert [x["line"] for x in got] == ["boom"]
    start = rfc3339_nano(T0 + 5)
    got = client.get("/api/v1/logs/query", params={"container": "web", "start": start}).json()["data"]["lines"]
    assert [x["line"] for x in got] == [f"hello {i}" for i in range(9, 4, -1)]


def test_push_rejects_bad_bodies(client: TestClient) -> None:
    r = client.post("/api/v1/logs/push", content=b"\x1f\x8bnot gzip", headers={"Content-Encoding": "gzip"})
    assert r.status_code == 400 and "gzip" in r.json()["error"]
    bad = line(1)
    del bad["offset"]
    r = client.post("/api/v1/logs/push", content=ndjson([line(0), bad]))
    assert r.status_code == 400 and r.json()["error"] == "line 2: missing offset"
    r = client.post("/api/v1/logs/push", content=ndjson([line(0, time_ns="soon")]))
    assert r.status_code == 400
    # Nothing of a rejected batch is stored.
    assert client.get("/api/v1/logs/query").json()["data"]["lines"] == []
    assert client.get("/api/v1/logs/query", params={"query": '"open'}).status_code == 400
    import pydock.collector.api.logs as logs_mod

    big = gzip.compress(b"x" * 5000)
    old_max, logs_mod.MAX_BODY = logs_mod.MAX_BODY, 1000
    try:
        assert client.post("/api/v1/logs/push", content=b"y" * 2000).status_code == 413
        r = client.post("/api/v1/logs/push", content=big, headers={"Content-Encoding": "gzip"})
        assert r.status_code == 400 and "over 1000 bytes once decompressed" in r.json()["error"]
    finally:
        logs_mod.MAX_BODY = old_max
    assert client.get("/api/v1/logs/query", params={"stream": "stdin"}).status_code == 400
    assert client.get("/api/v1/logs/query", params={"start": "yesterday-ish"}).status_code == 400


def test_token_and_basic_auth(logstore: SQLiteLogStore) -> None:
    settings = SimpleNamespace(token="s3cret", read_auth="none")
    with TestClient(logs_app(logstore, settings)) as c:
        assert c.post("/api/v1/logs/push", content=ndjson([line(0)])).status_code == 401
        assert c.post("/api/v1/logs/push", content=ndjson([line(0)]),
                      headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post("/api/v1/logs/push", content=ndjson([line(0)]),
                      headers={"Authorization": "Bearer s3cret"}).status_code == 200
        assert c.get("/api/v1/logs/query").status_code == 200
    settings = SimpleNamespace(token="s3cret", read_auth="token")
    with TestClient(logs_app(logstore, settings)) as c:
        assert c.get("/api/v1/logs/query").status_code == 401
        assert c.get("/logs").status_code == 401
        assert c.get("/api/v1/logs/query", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    settings = SimpleNamespace(token="s3cret", read_auth="basic", basic_auth="ann:pw")
    with TestClient(logs_app(logstore, settings)) as c:
        r = c.get("/logs")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
        assert c.get("/logs", auth=("ann", "bad")).status_code == 401
        assert c.get("/logs", auth=("ann", "pw")).status_code == 200
        # non-ASCII credentials are a failed login, not a server error
        assert c.get("/logs", auth=("änn", "pw")).status_code == 401
        assert c.get("/logs", auth=("ann", "pw€")).status_code == 401


def test_tail_streams_lines_pushed_after_it_opened(tmp_path: Path) -> None:
    store = SQLiteLogStore(tmp_path / "t.db")
    store.append([LogRecord(**line(0, line="before"))])  # type: ignore[arg-type]
    srv = LiveServer(logs_app(store)).start()
    got: list[dict] = []
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c, \
                c.stream("GET", "/api/v1/logs/tail", params={"container": "web"}) as r:
            assert r.headers["content-type"].startswith("text/event-stream")

            def later() -> None:
                time.sleep(0.3)
                c2 = httpx.Client(base_url=srv.url)
                c2.post("/api/v1/logs/push", content=ndjson([line(1, line="after <b>1</b>"),
                                                             line(2, container_name="other",
                                                                  container_id="c" * 64)]))
                c2.close()

            t = threading.Thread(target=later)
            t.start()
            event = ""
            for raw in r.iter_lines():
                if raw.startswith("event:"):
                    event = raw.split(":", 1)[1].strip()
                if raw.startswith("data:") and event == "log":
                    got.append(json.loads(raw[5:]))
                    break
            t.join()
    finally:
        srv.stop()
        store.close()
    assert [g["line"] for g in got] == ["after <b>1</b>"]


def test_tail_events_cannot_be_forged_by_a_line(tmp_path: Path) -> None:
    """Line breaks of every kind SSE knows (CR, LF, CRLF) inside a log line, a name or a host stay
    inside one event's JSON: a line cannot end its event and start one of its own."""
    import asyncio
    import re

    from pydock.collector.api.logs import tail_events
    from pydock.collector.logstore import LogQuery

    hostile = ["ok\n\nevent: log\ndata: {\"line\": \"<img src=x onerror=alert(1)>\"}\n\n",
               "cr\rid: 999\rdata: forged\r\r", "crlf\r\nevent: log\r\ndata: {}\r\n\r\n", "ls\u2028ps\u2029nel\x85end"]
    store = SQLiteLogStore(tmp_path / "t.db")
    try:
        _, pos = store.tail(LogQuery(), "")
        store.append([LogRecord(**line(i, line=t, container_name="n\r\nevent: x", host="h\ndata: y"))  # type: ignore[arg-type]
                      for i, t in enumerate(hostile)])

        async def collect() -> bytes:
            out = b""

            async def connected() -> bool:
                return False

            async for chunk in tail_events(store, LogQuery(), pos, connected, poll_s=0.01):
                out += chunk
                if len(re.findall(rb"(?m)^event: log$", out)) >= len(hostile):
                    break
            return out

        raw = asyncio.run(collect()).decode()
    finally:
        store.close()
    events = []
    for block in re.split(r"(?:\r\n|\r|\n){2}", raw):
        fields = [f.split(":", 1) for f in re.split(r"\r\n|\r|\n", block) if f and not f.startswith(":")]
        if fields:
            events.append({k: v.lstrip(" ") for k, v in fields})
    logs = [e for e in events if e.get("event") == "log"]
    assert [json.loads(e["data"])["line"] for e in logs] == hostile
    assert all(set(e) == {"event", "id", "data"} for e in logs)
    assert {json.loads(e["data"])["container_name"] for e in logs} == {"n\r\nevent: x"}
