"""The Prometheus-shaped query API, through FastAPI's test client (GET and POST form, errors)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydock.collector.api.query import router
from pydock.collector.promql import Engine
from pydock.collector.tsdb import TSDB


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    db = TSDB(tmp_path / "data")
    db.append([({"__name__": "up", "job": j, "instance": i}, t * 1000, float(t))
               for t in range(0, 601, 15) for j in ("a", "b") for i in ("x", "y")])
    db.append([({"__name__": "other", "zone": "z"}, 0, 1.0)])
    app = FastAPI()
    app.state.tsdb = db
    app.state.engine = Engine(db)
    app.include_router(router)
    with TestClient(app) as c:
        yield c
    db.close()


def test_instant_query_get_and_post(client: TestClient) -> None:
    r = client.get("/api/v1/query", params={"query": 'sum by (job) (up{instance="x"})', "time": "600"})
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "success" and body["data"]["resultType"] == "vector"
    assert sorted((s["metric"]["job"], s["value"]) for s in body["data"]["result"]) == [
        ("a", [600, "600"]), ("b", [600, "600"])]
    r = client.post("/api/v1/query", data={"query": "1/0", "time": "1970-01-01T00:10:00Z"})
    assert r.json() == {"status": "success", "data": {"resultType": "scalar", "result": [600, "+Inf"]}}


def test_range_query(client: TestClient) -> None:
    r = client.get("/api/v1/query_range", params={"query": 'up{job="a",instance="y"} * 2', "start": "300",
                                                  "end": "330", "step": "15s"})
    data = r.json()["data"]
    assert data["resultType"] == "matrix"
    assert data["result"] == [{"metric": {"instance": "y", "job": "a"},
                               "values": [[300, "600"], [315, "630"], [330, "660"]]}]
    r = client.post("/api/v1/query_range", data={"query": "time()", "start": "0", "end": "1", "step": "0.5"})
    assert r.json()["data"]["result"] == [{"metric": {}, "values": [[0, "0"], [0.5, "0.5"], [1, "1"]]}]


@pytest.mark.parametrize("path,params,fragment", [
    ("/api/v1/query", {"query": "sum(up"}, 'invalid parameter "query": 1:7: parse error'),
    ("/api/v1/query", {"query": "up", "time": "yesterday"}, 'invalid parameter "time"'),
    ("/api/v1/query", {}, 'invalid parameter "query"'),
    ("/api/v1/query_range", {"query": "up", "start": "10", "end": "5", "step": "1"},
     "end timestamp must not be before start time"),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "5", "step": "0"}, "zero or negative"),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}, "11,000 points"),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "5", "step": "x"}, 'invalid parameter "step"'),
    ("/api/v1/query_range", {"query": "up[5m]", "start": "0", "end": "5", "step": "1"}, "range vector"),
    ("/api/v1/series", {}, "no match[] parameter provided"),
    ("/api/v1/label/0bad/values", {}, "invalid label name"),
])
def test_bad_requests_get_prometheus_error_shape(client: TestClient, path: str, params: dict[str, str],
                                                 fragment: str) -> None:
    r = client.get(path, params=params)
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == "error" and body["errorType"] == "bad_data"
    assert fragment in body["error"]


def test_execution_errors_are_422(client: TestClient) -> None:
    r = client.get("/api/v1/query", params={"query": "up * on(job) up", "time": "600"})
    assert r.status_code == 422
    assert r.json()["errorType"] == "execution"


def test_series_labels_and_values(client: TestClient) -> None:
    r = client.get("/api/v1/series", params=[("match[]", 'up{job="a"}'), ("match[]", "other")])
    assert r.json()["data"] == [{"__name__": "other", "zone": "z"},
                                {"__name__": "up", "instance": "x", "job": "a"},
                                {"__name__": "up", "instance": "y", "job": "a"}]
    r = client.get("/api/v1/series", params={"match[]": "other", "start": "100", "end": "200"})
    assert r.json()["data"] == []
    assert client.get("/api/v1/labels").json()["data"] == ["__name__", "instance", "job", "zone"]
    assert client.post("/api/v1/labels", data={"match[]": "other"}).json()["data"] == ["__name__", "zone"]
    assert client.get("/api/v1/label/job/values").json() == {"status": "success", "data": ["a", "b"]}
    assert client.get("/api/v1/label/__name__/values", params={"match[]": 'up{job="b"}'}).json()["data"] == ["up"]
    assert client.get("/api/v1/label/nope/values").json()["data"] == []
