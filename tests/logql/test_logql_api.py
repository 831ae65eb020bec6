"""LogQL through the collector's HTTP API: the app wires its log store into the PromQL engine."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from logql_helpers import rec
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings


def test_query_and_query_range_answer_logql(tmp_path: Path) -> None:
    (tmp_path / "collector.yml").write_text("global: {scrape_interval: 15s}\n")
    settings = CollectorSettings(config_path=tmp_path / "collector.yml", data_dir=tmp_path / "data",
                                 listen="127.0.0.1:9339")
    now = float(int(time.time()))
    with TestClient(create_app(settings)) as client:
        store = client.app.state.logstore  # type: ignore[attr-defined]
        store.append([rec("web", now - 50 + i, "error: disk full" if i % 2 else "ok") for i in range(10)]
                     + [rec("web", now - 20, "boom", stream="stderr")])
        client.app.state.tsdb.append([  # type: ignore[attr-defined]
            ({"__name__": "container_memory_working_set_bytes", "name": "web", "image": "nginx"},
             int((now - 10) * 1000), 2e9),
            ({"__name__": "container_last_seen", "name": "web", "image": "nginx", "id": "/pydock/web",
              "container_label_tier": "front"}, int((now - 10) * 1000), now - 10)])
        q = 'sum by (name) (count_over_time({name="web"} |= "error" [1m]))'
        body = client.get("/api/v1/query", params={"query": q, "time": str(now)}).json()
        assert body == {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"name": "web"}, "value": [int(now), "5"]}]}}
        # logs and metrics together, and a selector on a label that only the metrics carry
        q = 'count_over_time({image="nginx"} |= "boom" [1m]) > 0 and on(name) container_memory_working_set_bytes > 1e9'
        [sample] = client.get("/api/v1/query", params={"query": q, "time": str(now)}).json()["data"]["result"]
        assert sample["metric"] == {"name": "web", "image": "nginx", "stream": "stderr", "host": "h1",
                                    "container_id": "webwebwebweb", "container_label_tier": "front"}
        q = 'count_over_time({container_label_tier="back"}[1m])'
        assert client.get("/api/v1/query", params={"query": q, "time": str(now)}).json()["data"]["result"] == []
        body = client.post("/api/v1/query_range", data={
            "query": 'rate({name="web", stream="stdout"} |= "error" [10s])',
            "start": str(now - 40), "end": str(now - 20), "step": "10"}).json()
        assert body["data"]["resultType"] == "matrix"
        [series] = body["data"]["result"]
        assert series["metric"]["name"] == "web"
        # lines at now-49, -47, ..., -41: (now-50, now-40] has 5, (now-40, now-30] and later none
        assert series["values"] == [[int(now - 40), "0.5"]]
        bad = client.get("/api/v1/query", params={"query": 'count_over_time({name="web"} |= 1 [1m])'})
        assert bad.status_code == 400
        assert bad.json()["error"].startswith('invalid parameter "query": 1:33: parse error: unexpected number')
