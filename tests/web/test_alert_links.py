"""An alert's generatorURL opens its container's page at the alert's window (rules engine, unit level),
the container page reads that window from its URL, and the log API filters on stream=event."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient
from pydock.collector.logstore import LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.collector.notify.model import Alert
from pydock.collector.promql import Engine
from pydock.collector.rulefiles import load_rule_file
from pydock.collector.rules import RuleManager
from pydock.collector.tsdb import TSDB
from pydock.collector.web.links import alert_generator_url, lookback_s
from webhelpers import logs_app

from pydock.units import timestamp

T0 = 1_700_000_000.0

RULES = """\
groups:
  - name: g
    interval: 10s
    rules:
      - alert: WebDown
        expr: up{name="web/1 <b>"} == 0
        for: 20s
      - alert: HostDown
        expr: up{host="h1"} == 0
      - alert: Panic
        expr: count_over_time({name="api"} |= "panic" [10m]) > 0
        for: 1m
"""


def window(url: str) -> tuple[str, float, float]:
    parts = urlsplit(url)
    q = parse_qs(parts.query)
    return parts.path, timestamp(q["from"][0]), timestamp(q["to"][0])


def test_generator_url_is_the_container_page_at_the_alert_window(tmp_path: Path) -> None:
    (tmp_path / "r.yml").write_text(RULES)
    tsdb = TSDB(tmp_path / "tsdb.sqlite")
    store = SQLiteLogStore(tmp_path / "logs.sqlite")
    sent: list[Alert] = []
    mgr = RuleManager(Engine(tsdb, logstore=store), tsdb.append, sent.extend)
    mgr.apply(load_rule_file(tmp_path / "r.yml", 60), {}, "http://c:9339", resend_delay=60)
    try:
        def up(t: float, web: float, host: float) -> None:
            tsdb.append([({"__name__": "up", "name": "web/1 <b>"}, int(t * 1000), web),
                         ({"__name__": "up", "host": "h1"}, int(t * 1000), host)])

        def run(t: float) -> dict[str, Alert]:
            samples, alerts = mgr.evaluate_group(mgr.groups[0], t)
            mgr.append(samples)
            return {a.labels["alertname"]: a for a in alerts}

        store.append([LogRecord("h1", "a" * 64, "api", "stderr", int((T0 + 5) * 1e9), "panic: boom", "1:1", 1)])
        up(T0, 0, 0)
        first = run(T0)
        # No container label: Prometheus's graph link, as before.
        assert first["HostDown"].generator_url == "http://c:9339/graph?g0.expr=up%7Bhost%3D%22h1%22%7D+%3D%3D+0&g0.tab=1"
        up(T0 + 20, 0, 0)
        fired = run(T0 + 20)["WebDown"]
        assert fired.starts_at == T0 + 20
        path, start, end = window(fired.generator_url)
        assert fired.generator_url.startswith("http://c:9339/containers/web%2F1%20%3Cb%3E?from=")
        assert path == "/containers/web%2F1%20%3Cb%3E"
        assert (start, end) == (T0 + 20 - 20 - 300, T0 + 20)  # startsAt - for - 5 min .. now
        up(T0 + 30, 1, 1)
        resolved = run(T0 + 30)["WebDown"]
        assert resolved.ends_at == T0 + 30
        assert window(resolved.generator_url)[1:] == (T0 - 300, T0 + 30)  # .. endsAt once resolved
        # A LogQL rule looks back over its range (10m) when that is longer than 5 minutes.
        run(T0 + 40)
        panic = run(T0 + 100)["Panic"]
        assert window(panic.generator_url) == ("/containers/api", T0 + 100 - 60 - 600, T0 + 100)
    finally:
        store.close()
        tsdb.close()


def test_generator_url_label_order_and_lookback() -> None:
    url = alert_generator_url("http://x", "e", 0, {"container": "c1", "container_id": "abc"}, T0, T0 + 1.5)
    assert url == "http://x/containers/c1?from=2023-11-14T22:08:20Z&to=2023-11-14T22:13:22Z"
    assert alert_generator_url("http://x", "e", 0, {"container_id": "abc"}, T0, T0).startswith("http://x/containers/abc?")
    assert alert_generator_url("http://x", "e", 0, {"name": "n", "container": "c"}, T0, T0).startswith("http://x/containers/n?")
    assert lookback_s('rate({name="a"} |= "x" [1m]) > 0') == 300
    assert lookback_s('count_over_time({name="a"} [1h]) > 0 and on(name) count_over_time({name="b"} [2h]) > 0') == 7200
    assert lookback_s("rate(up[1h]) > 0") == 300  # PromQL ranges are the charts' business


def test_container_page_takes_a_window(tmp_path: Path) -> None:
    store = SQLiteLogStore(tmp_path / "logs.sqlite")
    try:
        with TestClient(logs_app(store)) as client:
            r = client.get("/containers/web", params={"from": "2023-11-14T22:13:20Z", "to": "1700000400"})
            assert r.status_code == 200
            assert 'data-from="1700000000.000" data-to="1700000400.000"' in r.text
            assert 'id="golive" href="/containers/web"' in r.text and 'id="tail"' not in r.text
            r = client.get("/containers/web")
            assert "data-from" not in r.text and 'id="range"' in r.text and 'id="tail"' in r.text
            bad = client.get("/containers/web", params={"from": "<b>soon</b>"})
            assert bad.status_code == 200 and "data-from" not in bad.text
            assert "invalid from &#39;&lt;b&gt;soon&lt;/b&gt;&#39;" in bad.text
            assert "must be before" in client.get("/containers/web", params={"from": "1700000400", "to": "1700000000"}).text
    finally:
        store.close()


def test_logs_api_filters_on_stream_event(tmp_path: Path) -> None:
    store = SQLiteLogStore(tmp_path / "logs.sqlite")
    try:
        recs = [{"host": "h1", "container_id": "a" * 64, "container_name": "web", "stream": s, "time_ns": 10**18 + i,
                 "line": line, "file_id": "events" if s == "event" else "1:1", "offset": i}
                for i, (s, line) in enumerate([("stdout", "hello"), ("event", "container die (exitCode=137)"),
                                               ("stderr", "oops"), ("event", "container start")])]
        body = gzip.compress("".join(json.dumps(x) + "\n" for x in recs).encode())
        with TestClient(logs_app(store)) as client:
            assert client.post("/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"}).status_code == 200
            got = client.get("/api/v1/logs/query", params={"container": "web", "stream": "event"}).json()["data"]["lines"]
            assert [(x["stream"], x["line"]) for x in got] == [("event", "container start"),
                                                               ("event", "container die (exitCode=137)")]
            r = client.get("/api/v1/logs/query", params={"stream": "stdin"})
            assert r.status_code == 400 and "stdout, stderr or event" in r.text
            page = client.get("/logs").text
            assert '<option value="event">' in page
    finally:
        store.close()
