"""PromQL conformance against a real Prometheus (Debian's 2.42) on the same data.

One OpenMetrics file (conformance_data.py) is backfilled into Prometheus with promtool and imported
into the collector; every query below is asked of both HTTP APIs at several instants and as a range
query. Results must match: the same result type, the same series label sets, the same timestamps,
values equal within 1e-9 relative (NaN equals NaN), and an error on one side only if also on the
other. One Prometheus is started for the whole module and stopped by its PID.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import conformance_data as data  # tests/collector is on sys.path (no __init__.py)
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydock.collector.api.query import router
from pydock.collector.importer import import_openmetrics
from pydock.collector.promql import Engine
from pydock.collector.tsdb import TSDB

pytestmark = pytest.mark.peer

T0 = data.T0
# 10 min in; 7 s after stopping_gauge stops; inside the long gap; between samples, at a millisecond
# fraction; the last sample; exactly 5 min after the last sample (the lookback's inclusive edge); past
# every lookback.
INSTANTS = [T0 + 600, T0 + 1507, T0 + 2160, T0 + 2345.678, T0 + 3600, T0 + 3900, T0 + 3901.5]
RANGES = [(T0, T0 + 3900, 60), (T0 + 1000.25, T0 + 2500, 37)]

QUERIES = [
    # selectors, matchers, offset, @
    "http_requests_total", 'http_requests_total{job="api"}', 'http_requests_total{code!="200"}',
    'http_requests_total{instance=~"i.*",code=~"5.."}', 'http_requests_total{instance!~"i1"}',
    '{__name__="temperature"}', '{__name__=~"temp.*|stopping_gauge"}', "temperature offset 5m",
    "temperature offset 1h", "stopping_gauge", "starting_gauge", "nonexistent_metric",
    'temperature{nolabel=""}', 'temperature{room=""}', f"http_requests_total @ {T0 + 1800}",
    "temperature offset -2m", "http_requests_total[5m]", "temperature[2m] offset 1m", "flappy",
    "special_values", f"temperature @ {T0 + 1000} offset 1m", "temperature @ start()",
    "sum(temperature @ end())",
    # rate and friends
    "rate(http_requests_total[5m])", "rate(http_requests_total[1m])", "rate(http_requests_total[30s])",
    "irate(http_requests_total[5m])", "increase(http_requests_total[10m])", "increase(http_requests_total[1h])",
    "delta(temperature[5m])", "idelta(temperature[5m])",
    'rate(http_requests_total{job="api",instance="i1",code="200"}[15m])',
    "increase(http_requests_total[5m] offset 10m)", "rate(request_duration_seconds_count[5m])",
    "rate(request_duration_seconds_sum[5m]) / rate(request_duration_seconds_count[5m])",
    "deriv(temperature[10m])", "predict_linear(temperature[10m], 600)", "resets(http_requests_total[1h])",
    "changes(queue_length[30m])", "rate(stopping_gauge[10m])", "delta(special_values[5m])",
    f"irate(http_requests_total[1m] @ {T0 + 2000})", "increase(http_requests_total[2m])",
    'increase(http_requests_total{instance="i2"}[3m])', "rate(flappy[5m])", "irate(flappy[5m])",
    "idelta(special_values[1m])", "rate(temperature[5m])",
    # *_over_time
    "avg_over_time(temperature[10m])", "min_over_time(temperature[10m])", "max_over_time(temperature[10m])",
    "sum_over_time(temperature[10m])", "count_over_time(temperature[10m])",
    "last_over_time(temperature[10m])", "stddev_over_time(temperature[10m])",
    "stdvar_over_time(temperature[10m])", "present_over_time(temperature[10m])",
    "quantile_over_time(0.5, temperature[10m])", "quantile_over_time(0.9, temperature[10m])",
    "quantile_over_time(0, temperature[10m])", "quantile_over_time(1.5, temperature[10m])",
    "quantile_over_time(-1, temperature[10m])", "max_over_time(special_values[5m])",
    "min_over_time(flappy[10m])", "max_over_time(flappy[10m])", "avg_over_time(special_values[5m])",
    "sum_over_time(flappy[10m])", "count_over_time(temperature[3m])", "last_over_time(stopping_gauge[10m])",
    "absent_over_time(stopping_gauge[5m])", "absent_over_time(nonexistent[5m])",
    'absent_over_time(temperature{room="zzz",job="x"}[5m])', "stddev_over_time(http_requests_total[10m])",
    "avg_over_time(flappy[5m])", "quantile_over_time(0.25, http_requests_total[15m])",
    # functions on instant vectors
    "abs(temperature)", "ceil(temperature)", "floor(temperature)", "round(temperature)",
    "round(temperature, 0.1)", "round(temperature, 5)", "exp(temperature / 10)", "sqrt(abs(temperature))",
    "ln(abs(temperature) + 1)", "log2(queue_length)", "log10(queue_length + 1)", "sgn(temperature)",
    "clamp(temperature, -2, 5)", "clamp(temperature, 5, -2)", "clamp_min(temperature, 0)",
    "clamp_max(temperature, 0)", "clamp_max(special_values, 1)", "clamp_min(special_values, -1)",
    "time()", "timestamp(temperature)", "timestamp(rate(http_requests_total[5m]))", "vector(1)",
    "vector(time())", "scalar(stopping_gauge)", "scalar(temperature)", "scalar(nonexistent)",
    "absent(nonexistent)", "absent(temperature)", 'absent(nonexistent{job="x",instance=~"y"})',
    "absent(sum(nonexistent))", 'absent(nonexistent{job="x",job="y"})', "sqrt(special_values)",
    'label_replace(temperature, "dst", "$1-x", "instance", "i(.*)")',
    'label_replace(temperature, "room", "", "room", ".*")',
    'label_replace(temperature, "foo", "$2", "instance", "(i)(.)")',
    'label_replace(http_requests_total, "code", "x", "code", ".*")',
    'label_replace(temperature, "1abc", "x", "room", ".*")',
    'label_replace(temperature, "dst", "x", "room", "(")',
    'label_replace(temperature, "__name__", "renamed", "room", "a")',
    'label_join(node_info, "joined", "-", "job", "instance", "version")',
    "hour(vector(1700000000))", "day_of_week()",
    # histogram_quantile
    "histogram_quantile(0.5, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.9, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.99, rate(request_duration_seconds_bucket[10m]))",
    "histogram_quantile(0, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(-0.5, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(1.5, rate(request_duration_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.9, sum by (job, le) (rate(request_duration_seconds_bucket[10m])))",
    "histogram_quantile(0.5, broken_bucket)", "histogram_quantile(0.75, request_duration_seconds_bucket)",
    'histogram_quantile(0.5, request_duration_seconds_bucket{le!="+Inf"})',
    "histogram_quantile(0.5, sum by (job) (rate(request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.8, increase(request_duration_seconds_bucket[1m]))",
    # aggregations
    "sum(http_requests_total)", "sum by (job) (http_requests_total)", "sum without (instance) (http_requests_total)",
    "sum by (job, code) (rate(http_requests_total[5m]))", "avg by (job) (temperature)", "min(temperature)",
    "max by (room) (temperature)", "count(http_requests_total)", "count by (code) (http_requests_total)",
    "stddev(temperature)", "stdvar(temperature)", "topk(3, http_requests_total)", "bottomk(2, temperature)",
    "topk by (job) (1, http_requests_total)", "bottomk without (instance, code) (1, http_requests_total)",
    "quantile(0.5, temperature)", "quantile(0.9, http_requests_total)", "quantile by (job) (0.25, temperature)",
    'count_values("value", queue_length)', 'count_values by (job) ("v", queue_length)',
    "group by (job) (http_requests_total)", "sum(nonexistent)", "avg(special_values)", "max(special_values)",
    "min(special_values)", "sum(special_values)", "topk(2, special_values)", "bottomk(2, special_values)",
    "count(special_values)", 'sum by (__name__) ({__name__=~"temperature|stopping_gauge"})',
    "quantile(2, temperature)", "topk(0, temperature)", "avg without (room) (temperature)",
    "sum(rate(http_requests_total[5m])) by (instance)", "stddev by (job) (rate(http_requests_total[5m]))",
    'count_values("t", round(temperature))', "max(flappy)", "quantile(0.5, special_values)",
    # arithmetic and comparison
    "http_requests_total + 1", "2 * temperature", "temperature - temperature", "temperature / 0",
    "-temperature", "temperature % 3", "temperature ^ 2", "2 ^ temperature", "temperature atan2 1",
    "1 - temperature", "-temperature % 7", "0 / temperature", "special_values * 0", "special_values + special_values",
    "http_requests_total / on(job, instance, code) http_requests_total",
    "temperature > 20", "temperature > bool 20", "20 < temperature", "20 < bool temperature",
    "temperature == temperature", "temperature != bool 0", "special_values == special_values",
    "special_values != bool special_values", "http_requests_total >= http_requests_total offset 5m",
    "temperature <= 15", "temperature < bool on(job, instance, room) temperature offset 1m",
    # scalar arithmetic, precedence
    "1 + 2 * 3", "2 ^ 3 ^ 2", "-2 ^ 2", "1 / 0", "-1 / 0", "0 / 0", "5 % 0", "1 > bool 2", "(1 + 2) * 3",
    "time() - 1700000000", "scalar(stopping_gauge) * 2", "2 * temperature + 1 - temperature / 2",
    "-temperature ^ 2", "temperature > 10 and temperature < 25", "1 == bool 1 + 0", "7 % -3 * 2 - 1",
    # vector matching
    "http_requests_total * on(job, instance) group_left(version) node_info",
    "node_info * on(job, instance) group_right(version) http_requests_total",
    "http_requests_total + on(job) group_left node_info", "http_requests_total * on(job, instance) node_info",
    "dup_metric + on(job) dup_metric", "dup_metric + dup_metric",
    "rate(http_requests_total[5m]) / ignoring(code) group_left sum without (code) (rate(http_requests_total[5m]))",
    "sum by (job) (rate(http_requests_total[5m])) / on(job) sum by (job) (rate(request_duration_seconds_count[5m]))",
    "temperature * on(job, instance) group_left(version) node_info",
    'node_info * on(job) group_left dup_metric', "temperature + ignoring(room) queue_length",
    "queue_length - on(job, instance) group_right temperature",
    'http_requests_total * on(job, instance) group_left(version, missing) node_info',
    "temperature / on() group_left scalar_like", "temperature + on(job) group_left temperature",
    # set operators
    "http_requests_total and temperature", "http_requests_total and on(job, instance) temperature",
    "http_requests_total or temperature", "http_requests_total unless on(job) stopping_gauge",
    "temperature or on(room) nonexistent", "(temperature > 20) or temperature", "stopping_gauge or starting_gauge",
    "temperature unless temperature > 20", "queue_length and ignoring(instance) node_info{version=\"1.0\"}",
    'http_requests_total unless ignoring(code) http_requests_total{code="500"}',
    # subqueries
    "max_over_time(rate(http_requests_total[5m])[30m:1m])", "avg_over_time(temperature[10m:])",
    "rate(http_requests_total[5m:30s])", "min_over_time(sum(temperature)[15m:2m] offset 5m)",
    "temperature[5m:1m]", "sum_over_time(vector(1)[3m:1m])",
    # more edge cases: duplicates after dropping names, timestamps with modifiers, odd parameters
    'rate({__name__=~"request_duration_seconds_count|request_duration_seconds_sum"}[5m])',
    '-{__name__=~"request_duration_seconds_count|request_duration_seconds_sum"}',
    '{__name__=~"request_duration_seconds_count|request_duration_seconds_sum"} * 1',
    "timestamp(temperature offset 1m)", f"timestamp(temperature @ {T0 + 1000})", "timestamp((temperature))",
    'absent(temperature{job="api"} offset 1h)', "topk(1, -temperature)", "sort(temperature)",
    "sort_desc(http_requests_total)", "temperature + on() group_left vector(1)", "temperature and on() vector(1)",
    "http_requests_total offset 30m and on(job, instance, code) http_requests_total", "NaN", "Inf", "-Inf",
    "1e3 * temperature", "0x1f + temperature", "temperature > Inf", "temperature < bool NaN",
    "group(temperature)", "count(count by (job) (temperature))", "scalar(sum(temperature)) > bool 50",
    "rate(http_requests_total[1h:5m])", "max_over_time(temperature[1m:15s] offset 2m)",
    f"temperature @ {T0 + 1000} offset -5m", 'label_replace(temperature, "x", "$1$2", "job", "(a)(p)i")',
    'label_replace(temperature, "x", "${1}_$1x", "job", "(.*)")', "round(temperature, 0)",
    "clamp(temperature, NaN, 5)", "topk(2.7, temperature)", "bottomk(-1, temperature)",
    "absent(nonexistent) + 1", "count_over_time(flappy[10m] offset 1h)", "changes(flappy[10m])",
    "deriv(http_requests_total[1h])", "predict_linear(http_requests_total[15m], 3600)",
    "increase(http_requests_total[1m:15s])", "sum without () (temperature)", "avg by (nolabel) (temperature)",
    "count by (le) (request_duration_seconds_bucket)",
    'request_duration_seconds_bucket{le="+Inf"} - ignoring(le) request_duration_seconds_count',
    "2 + 3 * 4 ^ 2 / 8 - 1 % 3", "1 - -1", "2 ^ -1", "((temperature))[5m:1m]",
    "(rate(http_requests_total[5m]))", "temperature offset 5m > bool temperature",
    "sin(temperature)", "cos(temperature)", "tan(temperature)", "asin(special_values)", "acos(flappy / 10)",
    "atan(temperature)", "sinh(temperature)", "cosh(temperature)", "tanh(temperature)",
    "asinh(temperature)", "acosh(temperature)", "atanh(flappy / 6)", "deg(temperature)", "rad(temperature)",
    "pi()", "holt_winters(temperature[10m], 0.5, 0.5)", "holt_winters(temperature[10m], 1.5, 0.5)",
    "month(vector(1700000000))", "year()", "days_in_month(vector(1700000000))", "day_of_month()",
    "day_of_year(vector(1700000000))", "minute()", "stdvar by (job) (temperature)",
    'count_values("v", special_values)', "quantile_over_time(0.5, special_values[5m])",
    "sum by (job) (http_requests_total) / on(job) group_left sum by (job, instance) (http_requests_total)",
    "quantile_over_time(NaN, temperature[5m])", "quantile(NaN, temperature)", "topk(NaN, temperature)",
    "topk(scalar(stopping_gauge), temperature)", 'count_values("job", temperature)',
    'label_replace(temperature, "__name__", "", "room", ".*")', 'temperature{room=~"a|"}', '{__name__!=""}',
    "vector(1) + on() group_right temperature", "temperature * on(job) group_left(nonexistentlabel) queue_length",
    "node_info + on(job, instance) group_right(version) queue_length",
    "histogram_quantile(scalar(stopping_gauge) / 10, rate(request_duration_seconds_bucket[5m]))",
    'histogram_quantile(0.5, {__name__=~"request_duration_seconds_bucket|broken_bucket"})',
    'histogram_quantile(0.5, label_replace(request_duration_seconds_bucket, "le", "1", "le", "0.25"))',
    "holt_winters(flappy[10m], 0.1, 0.9)", "timestamp(timestamp(temperature))", "round(temperature, -1)",
    "0 ^ special_values", "special_values atan2 special_values", "sum_over_time(temperature[1h:7m])",
    "avg_over_time(temperature[59s:13s])", "rate(http_requests_total[29s] offset 1s)",
    "irate(http_requests_total[16s])", "-1 ^ 0.5", "(-1) ^ 0.5", "8 % 3 ^ 2", "time() % 60",
    "minute(special_values)", "year(special_values)", "day_of_month(special_values)", "year(vector(1e19))",
    "day_of_year(vector(951782400))", "minute(-temperature * 1e7)",
    "017", "019", "1_000", "0b101", "5.", "SUM(temperature)", "temperature AND temperature", "inf",
    'temperature{room=~"(?i)A"}', 'temperature{room!~"(?i)B"}', "temperature{,}", "temperature @ -1",
    "sum(temperature) @ 1700002000", "rate(temperature[5m:1m] @ 1700002000)",
    # parse errors and type errors
    'count_values("1a", temperature)', "temperature offset 0s", "temperature[5m:0s]", "temperature[0s]",
    'temperature{room="a"', "temperature ^^ 2", "1 and 2", "temperature + bool temperature",
    'label_replace(temperature, "a", "b", "c")', "round(temperature, 1, 2)", "abs(temperature[5m])",
    "temperature[5m] offset 1m offset 2m", "rate(temperature[5m])[5m]",
    "sum(temperature) by (job) without (room)", 'temperature @ "x"', "max_over_time(temperature[5m:1m:1m])",
    "sum(", "rate(temperature)", "1 > 2", "temperature{", "foo(bar)", 'topk("x", temperature)',
    "temperature + on(job) 1", "http_requests_total[5m] + 1", "sum by (job) temperature",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{tool} is not installed (scripts/setup-test-env installs it)")
        pytest.skip(f"{tool} is not installed")
    return path


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, TestClient]]:
    prometheus, promtool = _need("prometheus"), _need("promtool")
    d = tmp_path_factory.mktemp("conformance")
    om = d / "data.om"
    data.write(str(om))
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(d / "prom")],
                   check=True, capture_output=True, timeout=60)
    (d / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n  evaluation_interval: 1m\n")
    port = _free_port()
    with open(d / "prometheus.log", "wb") as log:
        proc = subprocess.Popen([prometheus, f"--config.file={d / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={d / 'prom'}", f"--web.listen-address=127.0.0.1:{port}",
                                 "--storage.tsdb.retention.time=100y"], stdout=log, stderr=subprocess.STDOUT)
    db = TSDB(d / "collector")
    try:
        import_openmetrics(om, db)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if http.get("/-/ready").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("Prometheus did not become ready: " + (d / "prometheus.log").read_text())
                time.sleep(0.1)
            app = FastAPI()
            app.state.tsdb = db
            app.state.engine = Engine(db)
            app.include_router(router)
            with TestClient(app) as ours:
                yield http, ours
    finally:
        proc.terminate()  # by its PID, whatever happened above
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        db.close()


def _num(s: str) -> float:
    return float(s)  # "NaN", "+Inf", "-Inf" parse too


def _same_value(a: str, b: str) -> bool:
    x, y = _num(a), _num(b)
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    if math.isinf(x) or math.isinf(y):
        return x == y
    return math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12)


def _key(metric: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(metric.items()))


def compare(theirs: dict[str, Any], ours: dict[str, Any]) -> str | None:
    """None when both answers agree, else a one-line reason."""
    if theirs["status"] != ours["status"]:
        return f"status {theirs['status']} vs {ours['status']}: {theirs.get('error') or ours.get('error')}"
    if theirs["status"] == "error":
        if theirs["errorType"] != ours["errorType"]:
            return f"errorType {theirs['errorType']} vs {ours['errorType']}"
        return None
    a, b = theirs["data"], ours["data"]
    if a["resultType"] != b["resultType"]:
        return f"resultType {a['resultType']} vs {b['resultType']}"
    kind = a["resultType"]
    if kind in ("scalar", "string"):
        if a["result"][0] != b["result"][0]:
            return f"time {a['result'][0]} vs {b['result'][0]}"
        same = _same_value(a["result"][1], b["result"][1]) if kind == "scalar" else a["result"][1] == b["result"][1]
        return None if same else f"value {a['result'][1]} vs {b['result'][1]}"
    ra = {_key(s["metric"]): s for s in a["result"]}
    rb = {_key(s["metric"]): s for s in b["result"]}
    if len(ra) != len(a["result"]) or len(rb) != len(b["result"]):
        return "duplicate label sets in a result"
    if set(ra) != set(rb):
        return f"series differ: only Prometheus {sorted(set(ra) - set(rb))[:3]}, only ours {sorted(set(rb) - set(ra))[:3]}"
    for k in ra:
        pa = [ra[k]["value"]] if kind == "vector" else ra[k]["values"]
        pb = [rb[k]["value"]] if kind == "vector" else rb[k]["values"]
        if [p[0] for p in pa] != [p[0] for p in pb]:
            return f"timestamps differ for {dict(k)}"
        for (t, x), (_, y) in zip(pa, pb):
            if not _same_value(x, y):
                return f"value at {t} for {dict(k)}: {x} vs {y}"
    return None


def test_queries_match_prometheus(peers: tuple[httpx.Client, TestClient]) -> None:
    prom, ours = peers
    assert len(QUERIES) >= 150
    assert len(set(QUERIES)) == len(QUERIES)
    checks = matched = 0
    kinds: dict[str, int] = {"errors": 0, "empty": 0, "with data": 0}
    mismatches: list[str] = []
    for q in QUERIES:
        asks: list[tuple[str, dict[str, Any]]] = [("/api/v1/query", {"query": q, "time": t}) for t in INSTANTS]
        asks += [("/api/v1/query_range", {"query": q, "start": s, "end": e, "step": st}) for s, e, st in RANGES]
        for path, params in asks:
            checks += 1
            theirs = prom.post(path, data=params).json()
            mine = ours.post(path, data=params).json()
            reason = compare(theirs, mine)
            if reason is None and q.startswith("sort") and path == "/api/v1/query":
                # sort() and sort_desc() define the order of an instant result: compare it too.
                order = [[s["value"][1] for s in r["data"]["result"]] for r in (theirs, mine)]
                reason = None if order[0] == order[1] else f"order {order[0][:5]} vs {order[1][:5]}"
            if reason is None:
                matched += 1
                if theirs["status"] == "error":
                    kinds["errors"] += 1
                else:
                    kinds["empty" if theirs["data"]["result"] in ([], None) else "with data"] += 1
            else:
                mismatches.append(f"{q!r} {path} {params.get('time', '')}: {reason}")
    print(f"\nconformance: {matched} of {checks} checks matched ({len(QUERIES)} queries x "
          f"{len(INSTANTS)} instants + {len(RANGES)} ranges); matched: {kinds}")
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches[:40])


def test_compare_detects_differences() -> None:
    def vec(*samples: tuple[dict[str, str], str]) -> dict[str, Any]:
        return {"status": "success", "data": {"resultType": "vector",
                                              "result": [{"metric": m, "value": [1, v]} for m, v in samples]}}
    base = vec(({"a": "1"}, "1.5"), ({"a": "2"}, "NaN"))
    assert compare(base, vec(({"a": "2"}, "NaN"), ({"a": "1"}, "1.5000000000001"))) is None
    assert compare(base, vec(({"a": "1"}, "1.5001"), ({"a": "2"}, "NaN"))) is not None
    assert compare(base, vec(({"a": "1"}, "1.5"), ({"a": "3"}, "NaN"))) is not None
    assert compare(base, vec(({"a": "1"}, "1.5"), ({"a": "2"}, "+Inf"))) is not None
    assert compare(base, {"status": "error", "errorType": "bad_data", "error": "x"}) is not None
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1, "2"]}}
    assert compare(base, scalar) is not None


def test_series_and_labels_match_prometheus(peers: tuple[httpx.Client, TestClient]) -> None:
    prom, ours = peers
    asks: list[tuple[str, list[tuple[str, str]]]] = [
        ("/api/v1/labels", []), ("/api/v1/label/job/values", []), ("/api/v1/label/__name__/values", []),
        ("/api/v1/label/le/values", []), ("/api/v1/label/nope/values", []),
        ("/api/v1/series", [("match[]", "temperature"), ("match[]", '{__name__=~"node_.*"}')]),
        ("/api/v1/series", [("match[]", 'http_requests_total{code="500"}')]),
        ("/api/v1/labels", [("match[]", "node_info")]),
        ("/api/v1/label/version/values", [("match[]", 'node_info{job="web"}')]),
        ("/api/v1/series", [("match[]", "stopping_gauge"), ("start", str(T0 + 2000)), ("end", str(T0 + 3000))]),
        ("/api/v1/series", [("match[]", "starting_gauge"), ("start", str(T0)), ("end", str(T0 + 1000))]),
        ("/api/v1/series", [("match[]", "temperature"), ("start", str(T0 + 100)), ("end", str(T0 + 200))]),
    ]
    for path, params in asks:
        a = prom.get(path, params=tuple(params)).json()
        b = ours.get(path, params=tuple(params)).json()
        assert a["status"] == b["status"] == "success", (path, a, b)
        if path.endswith("/series"):
            assert sorted(map(_key, a["data"])) == sorted(map(_key, b["data"])), path
        else:
            assert a["data"] == b["data"], path
