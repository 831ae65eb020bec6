"""LogQL log queries through /api/v1/logs/query (and the live tail) in the whole collector app:
lines newest first with the paging of plain searches, the form's filters beside the selector, labels
from the metrics, errors as 400."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from fastapi.testclient import TestClient
from logql_helpers import rec
from pydock.collector.api.logs import tail_events
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings
from pydock.collector.logstore import LogQuery


def test_logql_log_queries(tmp_path: Path) -> None:
    (tmp_path / "collector.yml").write_text("global: {scrape_interval: 15s}\n")
    settings = CollectorSettings(config_path=tmp_path / "collector.yml", data_dir=tmp_path / "data",
                                 listen="127.0.0.1:9339")
    now = float(int(time.time()))
    with TestClient(create_app(settings)) as client:
        store = client.app.state.logstore  # type: ignore[attr-defined]
        lines = [json.dumps({"level": "error" if i % 3 == 0 else "info", "msg": f"timeout {i}" if i % 2 else f"ok {i}",
                             "status": 500 + i}) for i in range(30)]
        store.append([rec("web", now - 100 + i, x) for i, x in enumerate(lines)]
                     + [rec("db", now - 50, '{"level":"error","msg":"timeout db"}')]
                     + [rec("web", now - 40, "timeout, not JSON", stream="stderr")])
        client.app.state.tsdb.append([  # type: ignore[attr-defined]
            ({"__name__": "container_last_seen", "name": "web", "image": "shop/web", "id": "/pydock/web"},
             int((now - 10) * 1000), now - 10)])

        def get(**params: str) -> dict:
            r = client.get("/api/v1/logs/query", params=params)
            assert r.status_code == 200, r.text
            return r.json()["data"]  # type: ignore[no-any-return]

        want = [x for x in reversed(lines) if "timeout" in x and '"error"' in x]
        q = '{name="web"} |= "timeout" | json | level="error"'
        d = get(query=q, limit="2")
        assert [x["line"] for x in d["lines"]] == want[:2] and d["next_cursor"] and d["tail_after"]
        assert d["lines"][0]["labels"]["level"] == "error" and d["lines"][0]["labels"]["status"] == "527"
        assert d["lines"][0]["level"] == "error"  # the stored level, beside the LogQL labels
        seen = [x["line"] for x in d["lines"]]
        while d["next_cursor"]:
            d = get(query=q, limit="2", cursor=d["next_cursor"])
            seen += [x["line"] for x in d["lines"]]
        assert seen == want
        # every stream of a label from the metrics; the selector's lines only
        got = get(query='{image="shop/web"} |= "timeout" != "JSON" | json | status >= 525')["lines"]
        assert [x["line"] for x in got] == [x for x in reversed(lines) if "timeout" in x and
                                            json.loads(x)["status"] >= 525]
        # the form's filters narrow a LogQL query; the level filter too
        assert [x["line"] for x in get(query='{name=~".+"} |= "timeout"', stream="stderr")["lines"]] == \
            ["timeout, not JSON"]
        assert [x["container_name"] for x in get(query='{name=~".+"} |= "timeout"', level="error")["lines"]] == \
            ["db"] + ["web"] * len(want)
        # plain search is unchanged, field terms included
        assert [x["line"] for x in get(query="timeout level=error container=x", container="db")["lines"]] == []
        assert len(get(query="timeout level=error")["lines"]) == len(want) + 1
        for bad, msg in (('{name="web"} |= ', "bad LogQL query"),
                         ('{name="web"} | unwrap x', "bad LogQL query"),
                         ('{name="web"} |= "x" [5m]', "bad LogQL query")):
            r = client.get("/api/v1/logs/query", params={"query": bad})
            assert r.status_code == 400 and msg in r.json()["error"], r.text
        r = client.get("/api/v1/logs/query", params={"query": 'count_over_time({name="web"}[5m])'})
        assert r.status_code == 400  # a metric query starts with its function, not "{": FTS5 refuses it
        r = client.get("/api/v1/logs/query", params={"query": '{name="web"}', "cursor": "!!"})
        assert r.status_code == 400

        # the live tail of a LogQL query: selector and pipeline applied to new lines
        _, pos = store.tail(LogQuery(), "")
        store.append([rec("web", now, '{"level":"error","msg":"timeout new"}'),
                      rec("web", now + 0.5, '{"level":"info","msg":"timeout new"}'),
                      rec("db", now + 0.7, '{"level":"error","msg":"timeout new"}')])

        async def first_events() -> list[dict]:
            disconnected = False

            async def is_disc() -> bool:
                return disconnected

            out = []
            gen = tail_events(store, LogQuery(text='{name="web"} | json | level="error"'), pos, is_disc, 0.01)
            async for chunk in gen:
                if chunk.startswith(b"event: log"):
                    out.append(json.loads(chunk.split(b"data: ", 1)[1]))
                    disconnected = True
                if disconnected:
                    break
            return out

        got = asyncio.run(first_events())
        assert [(x["container_name"], x["labels"]["level"]) for x in got] == [("web", "error")]
