"""The collector's web guard (collector/guard.py), through the ASGI test client against the real app:
cross-origin writes, content types forcing a CORS preflight, the lifecycle API off by default,
/docs and /openapi.json gone, the 10 MB form cap, and the log-push concurrency bound."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings
from pydock.collector.guard import Guard

SILENCE = {"matchers": [{"name": "alertname", "value": "X", "isRegex": False}], "startsAt": "2030-01-01T00:00:00Z",
           "endsAt": "2030-01-02T00:00:00Z", "createdBy": "t", "comment": "c"}


def _client(tmp_path: Path, **kw: object) -> TestClient:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "collector.yml").write_text("scrape_configs: []\n")
    s = CollectorSettings(config_path=tmp_path / "collector.yml", data_dir=tmp_path / "data", **kw)  # type: ignore[arg-type]
    return TestClient(create_app(s), base_url="http://127.0.0.1:9339")


def test_text_plain_silence_refused(tmp_path):
    with _client(tmp_path) as c:
        import json

        r = c.post("/api/v2/silences", content=json.dumps(SILENCE), headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        assert c.get("/api/v2/silences").json() == []
        assert c.post("/api/v2/silences", json=SILENCE).status_code == 200


def test_cross_origin_writes_refused(tmp_path):
    with _client(tmp_path) as c:
        r = c.post("/api/v2/silences", json=SILENCE, headers={"Origin": "http://evil.example"})
        assert r.status_code == 403 and "cross-origin" in r.json()["error"]
        r = c.post("/api/v1/logs/push", content=b"{}\n", headers={"Content-Type": "application/x-ndjson",
                                                                  "Sec-Fetch-Site": "cross-site"})
        assert r.status_code == 403
        r = c.post("/api/v1/logs/push", content=b"{}\n", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        same = c.post("/api/v2/silences", json=SILENCE, headers={"Origin": "http://127.0.0.1:9339"})
        assert same.status_code == 200
        # Reads from anywhere stay as they were.
        assert c.get("/api/v1/query", params={"query": "1"}, headers={"Origin": "http://x"}).status_code == 200


def test_lifecycle_off_by_default(tmp_path):
    with _client(tmp_path) as c:
        r = c.post("/-/reload")
        assert r.status_code == 403 and r.text == "Lifecycle API is not enabled."
    with _client(tmp_path / "on", enable_lifecycle=True) as c:
        assert c.post("/-/reload").status_code == 200


def test_docs_and_openapi_gone(tmp_path):
    with _client(tmp_path) as c:
        for path in ("/docs", "/openapi.json", "/redoc"):
            assert c.get(path).status_code == 404, path


def test_form_body_capped_at_10mb(tmp_path):
    with _client(tmp_path) as c:
        big = b"query=1&pad=" + b"x" * (10 * 1024 * 1024 + 10)
        r = c.post("/api/v1/query", content=big, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 400 and r.json() == {"status": "error", "error": "http: POST too large",
                                                     "errorType": "bad_data"}
        ok = c.post("/api/v1/query", content=b"query=1%2B1", headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert ok.status_code == 200 and ok.json()["data"]["result"][1] == "2"


def test_push_concurrency_bounded():
    entered = asyncio.Event()
    release = asyncio.Event()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        entered.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    guard = Guard(app, max_log_pushes=1)
    scope = {"type": "http", "method": "POST", "path": "/api/v1/logs/push",
             "headers": [(b"content-type", b"application/x-ndjson")]}

    async def one() -> int:
        statuses: list[int] = []

        async def send(msg):  # type: ignore[no-untyped-def]
            if msg["type"] == "http.response.start":
                statuses.append(msg["status"])

        async def receive():  # type: ignore[no-untyped-def]
            return {"type": "http.request", "body": b"", "more_body": False}

        await guard(scope, receive, send)
        return statuses[0]

    async def main() -> list[int]:
        first = asyncio.create_task(one())
        await entered.wait()
        second = await one()
        release.set()
        return [await first, second]

    assert asyncio.run(main()) == [200, 429]


@pytest.mark.parametrize("timeout", [0.05])
def test_stalled_body_ends_the_request(timeout):
    seen = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append((await receive())["type"])

    guard = Guard(app, read_timeout_s=timeout)

    async def never():  # type: ignore[no-untyped-def]
        await asyncio.sleep(10)

    async def send(msg):  # type: ignore[no-untyped-def]
        pass

    scope = {"type": "http", "method": "POST", "path": "/other", "headers": []}
    asyncio.run(guard(scope, never, send))
    assert seen == ["http.disconnect"]


def test_agent_refuses_open_listen_without_token():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "pydock", "agent", "--listen", "0.0.0.0:19998"], capture_output=True,
                       text=True, timeout=30, check=False)
    assert p.returncode != 0 and "beyond loopback" in p.stderr and "--token" in p.stderr


@pytest.mark.parametrize("text", ["*", "**", "a *"])
def test_log_search_star_is_bad_request(tmp_path, text):
    with _client(tmp_path) as c:
        r = c.get("/api/v1/logs/query", params={"query": text})
        assert r.status_code in (200, 400), r.text
        if text == "*":
            assert r.status_code == 400 and r.json()["errorType"] == "bad_data"
