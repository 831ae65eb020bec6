"""dashboards/grafana/pydock.json: every panel query and template query evaluates without error
against the collector's Prometheus API (and returns data, with cAdvisor-named series stored)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings

DASHBOARD = Path(__file__).resolve().parents[2] / "dashboards" / "grafana" / "pydock.json"
GRAFANA_VARS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "1h", "$instance": ".*", "$name": ".+"}


def panel_exprs(d: dict) -> list[str]:
    return [t["expr"] for p in d["panels"] for t in p.get("targets", [])]


def grafana_expand(expr: str) -> str:
    for k in sorted(GRAFANA_VARS, key=len, reverse=True):
        expr = expr.replace(k, GRAFANA_VARS[k])
    return expr


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    d = json.loads(DASHBOARD.read_text())
    names = set()
    for e in panel_exprs(d) + [v["definition"] for v in d["templating"]["list"] if v.get("definition")]:
        names |= set(re.findall(r"\b((?:container|machine|pydock)_[a-z_]+|up)\b", e))
    app = create_app(CollectorSettings(config_path=None, data_dir=tmp_path))
    now_ms = int(time.time() * 1000)
    samples = []
    for name in sorted(names):
        for c, cname in enumerate(("web", "db")):
            labels = {"__name__": name, "job": "pydock-agent", "instance": "node-1:9338", "name": cname,
                      "id": f"/pydock/{c}", "image": "busybox", "interface": "eth0", "device": "/dev/vda",
                      "stream": "stdout"}
            for i in range(40):  # 10 minutes at 15 s: counters grow, gauges stay positive
                samples.append((labels, now_ms - (39 - i) * 15_000, float((i + 1) * (c + 2) * 1000)))
    app.state.tsdb.append(samples)
    with TestClient(app) as c:
        yield c


def test_every_dashboard_query_evaluates(client: TestClient) -> None:
    d = json.loads(DASHBOARD.read_text())
    exprs = panel_exprs(d)
    assert len(exprs) >= 15
    end = time.time()
    for expr in exprs:
        q = grafana_expand(expr)
        r = client.get("/api/v1/query_range", params={"query": q, "start": end - 600, "end": end, "step": 15})
        body = r.json()
        assert r.status_code == 200 and body["status"] == "success", (expr, body)
        assert body["data"]["result"], f"no data for {expr}"
        r = client.get("/api/v1/query", params={"query": q, "time": end})
        assert r.json()["status"] == "success", (expr, r.json())


def test_template_variables_resolve(client: TestClient) -> None:
    d = json.loads(DASHBOARD.read_text())
    for var in d["templating"]["list"]:
        if var["type"] != "query":
            continue
        # Grafana turns label_values(SELECTOR, LABEL) into /api/v1/series?match[]=SELECTOR and reads LABEL.
        m = re.fullmatch(r"label_values\((.*), (\w+)\)", var["definition"])
        assert m, var["definition"]
        selector, label = grafana_expand(m.group(1)), m.group(2)
        r = client.get("/api/v1/series", params={"match[]": selector})
        assert r.status_code == 200 and r.json()["status"] == "success", r.json()
        assert {s[label] for s in r.json()["data"]} >= ({"node-1:9338"} if label == "instance" else {"web", "db"})
