"""LogQL metric queries over a real SQLiteLogStore: filters, parsers, label filters, aggregations."""

from __future__ import annotations

import json

import pytest
from logql_helpers import T0, rec
from pydock.collector.logql import LogQLEvaluator, parse
from pydock.collector.logstore.sqlite import SQLiteLogStore

from pydock.errors import PromQLError

AT = (T0 + 300) * 1000  # ms: the evaluation time of the [5m] windows below


def fill(store: SQLiteLogStore) -> None:
    lines = []
    for i in range(10):
        t = T0 + 10 + i * 10  # T0+10 .. T0+100
        lines.append(rec("web", t, f"GET /x {200 if i % 3 else 500} panic: boom" if i == 4 else f"GET /x {i}"))
        lines.append(rec("web", t + 1, json.dumps({"level": "error" if i % 2 else "info", "status": 500 + i,
                                                   "req": {"path": "/a", "ms": i}}), stream="stderr"))
        lines.append(rec("db", t, f"level={'warn' if i < 3 else 'info'} msg=\"slow query\" took={i}ms"))
    lines.append(rec("web", T0 - 100, "panic: too old"))  # outside every window below
    store.append(lines)


def ev(store: SQLiteLogStore, q: str, t: int = AT) -> dict[tuple[tuple[str, str], ...], float]:
    node = parse(q)
    return dict(LogQLEvaluator(store).instant(node, t))  # type: ignore[arg-type]


def lbl(**kw: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(kw.items()))


def web(stream: str = "stdout", **extra: str) -> tuple[tuple[str, str], ...]:
    return lbl(container_id="webwebwebweb", host="h1", name="web", stream=stream, **extra)


def test_count_over_time_with_line_filters(store: SQLiteLogStore) -> None:
    fill(store)
    assert ev(store, 'count_over_time({name="web"} |= "panic" [5m])') == {web(): 1.0}
    assert ev(store, 'count_over_time({name="web", stream="stdout"}[5m])') == {web(): 10.0}
    assert ev(store, 'count_over_time({name="web", stream=~"std.*"} != "GET" [5m])') == {web("stderr"): 10.0}
    assert ev(store, 'count_over_time({name="web"} |~ "GET /x [0-3]$" [5m])') == {web(): 4.0}
    assert ev(store, 'count_over_time({name="web"} |= "GET" !~ "[5-9]$" |= "/x" [5m])') == {web(): 5.0}
    assert ev(store, 'count_over_time({name=~"w.*|d.*", stream="stdout"} |= "panic" [5m])') == {web(): 1.0}
    assert ev(store, 'count_over_time({host="h1", name!="web"} |= "slow" [5m])') == {
        lbl(container_id="dbdbdbdbdbdb", host="h1", name="db", stream="stdout"): 10.0}
    # the window is (t - 5m, t]: a line exactly at t - 5m is out, one at t is in
    assert ev(store, 'count_over_time({name="web", stream="stdout"}[5m])', (T0 + 310) * 1000) == {web(): 9.0}
    assert ev(store, 'count_over_time({name="web", stream="stdout"}[5m])', (T0 + 10) * 1000) == {web(): 2.0}
    assert ev(store, 'count_over_time({name="web"} |= "too old" [5m])', (T0 + 199) * 1000) == {web(): 1.0}
    assert ev(store, 'count_over_time({name="web"} |= "too old" [5m])', (T0 + 200) * 1000) == {}
    assert ev(store, 'count_over_time({name="nope"}[5m])') == {}


def test_json_and_logfmt_label_filters(store: SQLiteLogStore) -> None:
    fill(store)
    got = ev(store, 'count_over_time({name="web", stream="stderr"} | json | level="error" [5m])')
    assert len(got) == 5 and all(v == 1.0 for v in got.values())  # one series per extracted label set
    key = next(iter(got))
    assert dict(key)["req_path"] == "/a" and dict(key)["level"] == "error"  # nested keys flattened with _
    got = ev(store, 'sum by (name) (count_over_time({name="web"} | json | status >= 505 and level="info" [5m]))')
    assert got == {lbl(name="web"): 2.0}  # statuses 506, 508
    got = ev(store, 'sum(count_over_time({name="web"} | json | status < 502 or req_ms > 8 [5m]))')
    assert got == {(): 3.0}  # 500, 501, and ms=9
    got = ev(store, 'sum by (level) (count_over_time({name="db"} | logfmt | took > 2ms, msg=~"slow.*" [5m]))')
    assert got == {lbl(level="info"): 7.0}  # took=3ms..9ms, durations compared as seconds
    # a line the parser cannot read keeps an __error__ label, which a filter can drop
    got = ev(store, 'sum by (__error__) (count_over_time({name="web", stream="stdout"} | json [5m]))')
    assert got == {lbl(__error__="JSONParserErr"): 10.0}
    assert ev(store, 'count_over_time({name="web", stream="stdout"} | json | __error__="" [5m])') == {}


def test_rate_bytes_and_absent(store: SQLiteLogStore) -> None:
    fill(store)
    assert ev(store, 'rate({name="web", stream="stdout"}[5m])') == {web(): 10 / 300}
    want = sum(len(f"GET /x {i}".encode()) for i in range(10) if i != 4) + len(b"GET /x 200 panic: boom")
    assert ev(store, 'bytes_over_time({name="web", stream="stdout"}[5m])') == {web(): float(want)}
    assert ev(store, 'bytes_rate({name="web", stream="stdout"}[5m])') == {web(): want / 300}
    assert ev(store, 'absent_over_time({name="web"} |= "panic" [5m])') == {}
    assert ev(store, 'absent_over_time({name="web", stream=~"x.*"} |= "nothing" [5m])') == {lbl(name="web"): 1.0}


def test_vector_aggregations(store: SQLiteLogStore) -> None:
    fill(store)
    q = 'count_over_time({host="h1"}[5m])'
    assert ev(store, f"sum by (name) ({q})") == {lbl(name="web"): 20.0, lbl(name="db"): 10.0}
    assert ev(store, f"sum({q})") == {(): 30.0}
    assert ev(store, f"max without (stream, container_id, host) ({q})") == {lbl(name="web"): 10.0,
                                                                              lbl(name="db"): 10.0}
    assert ev(store, f"count({q})") == {(): 3.0}
    assert ev(store, f"avg by (host) ({q})") == {lbl(host="h1"): 10.0}
    assert ev(store, f"min({q}) by (host)") == {lbl(host="h1"): 10.0}


def test_range_evaluation_reads_the_store_once_per_query(store: SQLiteLogStore) -> None:
    fill(store)
    calls = []
    orig = store.query
    store.query = lambda q: (calls.append(q), orig(q))[1]  # type: ignore[method-assign]
    counted = store.count_lines
    store.count_lines = lambda *a: (calls.append(a), counted(*a))[1]  # type: ignore[method-assign]
    node = parse('count_over_time({name="web", stream="stdout"}[30s])')
    out = LogQLEvaluator(store).range(node, (T0 + 30) * 1000, (T0 + 120) * 1000, 30_000)  # type: ignore[arg-type]
    assert {t: dict(v).get(web()) for t, v in out.items()} == {
        (T0 + 30) * 1000: 3.0, (T0 + 60) * 1000: 3.0, (T0 + 90) * 1000: 3.0, (T0 + 120) * 1000: 1.0}
    assert len(calls) == 1


def test_no_store_and_line_limit(store: SQLiteLogStore) -> None:
    fill(store)
    with pytest.raises(PromQLError, match="log store"):
        LogQLEvaluator(None).instant(parse('count_over_time({name="web"}[5m])'), AT)  # type: ignore[arg-type]
    with pytest.raises(PromQLError, match="more than 5 lines"):  # a regex filter: lines are read
        LogQLEvaluator(store, max_lines=5).instant(parse('count_over_time({name="web"} |~ "." [5m])'), AT)  # type: ignore[arg-type]
