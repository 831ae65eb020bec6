"""PromQL: parser precedence and errors, and the engine's semantics on hand-computed cases.

The cases mirror Prometheus's own (promql/testdata); test_conformance.py compares against a real
Prometheus on a larger data set.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydock.collector.promql import Engine, PromQLError, parse
from pydock.collector.promql.values import format_value
from pydock.collector.tsdb import STALE_NAN, TSDB


@pytest.fixture
def store(tmp_path: Path) -> TSDB:
    d = TSDB(tmp_path / "data")
    yield d
    d.close()


def vec(result: object) -> dict[tuple[tuple[str, str], ...], float]:
    return {s.metric: s.v for s in result.samples}  # type: ignore[attr-defined]


def one(result: object) -> float:
    [v] = vec(result).values()
    return v


@pytest.mark.parametrize("expr,value", [
    ("1 + 2 * 3", 7), ("2 ^ 3 ^ 2", 512), ("-2 ^ 2", -4), ("2 * 3 % 4", 2), ("1 - 2 - 3", -4),
    ("(1 + 2) * 3", 9), ("1 < bool 2 + 3", 1), ("2 > bool 1 == bool 1", 1), ("- -3", 3),
    ("10 / 4", 2.5), ("7 % -4", 3), ("-7 % 4", -3), ("2 ^ -1", 0.5), ("0x10 + 1e1 + .5", 26.5),
    ("1 atan2 1", math.atan2(1, 1)), ("time()", 100), ("+5", 5),
])
def test_scalar_precedence_and_associativity(store: TSDB, expr: str, value: float) -> None:
    r = Engine(store).instant(expr, 100)
    assert r.result_type == "scalar" and r.v == pytest.approx(value)


@pytest.mark.parametrize("expr,value", [("1 / 0", math.inf), ("-1 / 0", -math.inf), ("0 / 0", math.nan),
                                        ("1 % 0", math.nan), ("0 ^ -1", math.inf), ("(-8) ^ 0.5", math.nan)])
def test_ieee_results_where_python_would_raise(store: TSDB, expr: str, value: float) -> None:
    v = Engine(store).instant(expr, 100).v
    assert (math.isnan(v) and math.isnan(value)) or v == value


@pytest.mark.parametrize("expr,column", [
    ("sum(x", 6), ("rate(x)", 6), ("1 > 2", 3), ("x{", 3), ("foo(x)", 1), ("x +", 4), ("{}", 1),
    ('x{a=~"("}', 6), ("x[5m] offset", 13), ("x and 1", 3), ("1 + on(a) x", 3), ("x[5]", 3),
    ("sum by (a) x", 12), ('topk("a", x)', 6), ("x @ 1 @ 2", 7), ("x offset 1m offset 2m", 13),
    ("x + bool y", 5), ("x and on(a) group_left y", 13), ("rate(x[5m]", 11), ("x{a=1}", 5),
])
def test_parse_errors_carry_the_column(expr: str, column: int) -> None:
    with pytest.raises(PromQLError) as exc:
        parse(expr)
    assert exc.value.column == column, str(exc.value)
    assert str(exc.value).startswith(f"1:{column}: parse error:")


def test_parse_accepts_prometheus_syntax() -> None:
    for expr in ['sum without (a, b,) (rate(x{a="b",c!~"d|e",}[1h30m] offset -5m))',
                 "x @ start() + x @ end()", "max_over_time(deriv(x[5m:30s])[10m:])",
                 'label_replace(x, "a", "$1", "b", "(.*)") # comment', "`raw\\n` ", "x offset 5m @ 100",
                 "a * on(b) group_left(c) d", "a / ignoring(b) group_right e", "sum(x) by (le)",
                 "nan + Inf", 'x{on="1", by="2"}', "count_values('v', x)", "x[5m] @ 1e3"]:
        parse(expr)


def test_lookback_is_five_minutes_inclusive_and_staleness_ends_a_series(store: TSDB) -> None:
    store.append([({"__name__": "g", "k": "a"}, 0, 1.0), ({"__name__": "g", "k": "b"}, 0, 2.0),
                  ({"__name__": "g", "k": "b"}, 10_000, STALE_NAN)])
    e = Engine(store)
    assert vec(e.instant("g", 300)) == {(("__name__", "g"), ("k", "a")): 1.0}
    assert vec(e.instant("g", 300.001)) == {}
    assert set(vec(e.instant("g", 5))) == {(("__name__", "g"), ("k", "a")), (("__name__", "g"), ("k", "b"))}
    assert vec(e.instant("count_over_time(g[1m])", 20)) == {(("k", "a"),): 1.0, (("k", "b"),): 1.0}


def _counter(store: TSDB, name: str, points: list[tuple[int, float]]) -> None:
    store.append([({"__name__": name}, t * 1000, v) for t, v in points])


def test_rate_increase_delta_extrapolate_as_prometheus(store: TSDB) -> None:
    _counter(store, "c", [(10, 10), (20, 20), (30, 30), (40, 40), (50, 50)])
    _counter(store, "r", [(10, 10), (20, 20), (30, 5), (40, 15), (50, 25)])  # a reset
    _counter(store, "z", [(20, 2), (30, 4), (40, 6), (50, 8), (60, 10)])  # zero point clamps the start
    e = Engine(store)
    assert one(e.instant("rate(c[1m])", 60)) == pytest.approx(1.0)
    assert one(e.instant("increase(c[1m])", 60)) == pytest.approx(60.0)
    # 25 - 10 + 20 (the value before the reset) = 35 over 40 s, extrapolated to 60 s.
    assert one(e.instant("increase(r[1m])", 60)) == pytest.approx(35 * 60 / 40)
    # delta() ignores resets: 25 - 10 = 15 over 40 s -> 60 s.
    assert one(e.instant("delta(r[1m])", 60)) == pytest.approx(15 * 60 / 40)
    # Without the clamp the start would extrapolate by half an interval: 8 * 45/40 = 9; with it 10.
    assert one(e.instant("increase(z[1m])", 60)) == pytest.approx(10.0)
    assert one(e.instant("irate(r[1m])", 60)) == pytest.approx(1.0)
    assert one(e.instant("idelta(r[1m])", 60)) == pytest.approx(10.0)
    assert one(e.instant("resets(r[1m])", 60)) == 1 and one(e.instant("changes(r[1m])", 60)) == 4
    assert vec(e.instant("rate(c[15s])", 60)) == {}  # one sample: no rate
    # Far from the end (gap > 1.1 x average interval): half an interval there, the full 10 s at the start.
    assert one(e.instant("increase(c[5m])", 300)) == pytest.approx(40 * (40 + 10 + 5) / 40)


def test_over_time_functions(store: TSDB) -> None:
    _counter(store, "g", [(0, 4), (10, 1), (20, 3), (30, 2)])
    e = Engine(store)
    want = {"avg": 2.5, "min": 1, "max": 4, "sum": 10, "count": 4, "last": 2, "stdvar": 1.25,
            "stddev": math.sqrt(1.25), "present": 1}
    for fn, value in want.items():
        assert one(e.instant(f"{fn}_over_time(g[1m])", 30)) == pytest.approx(value), fn
    assert one(e.instant("quantile_over_time(0.5, g[1m])", 30)) == pytest.approx(2.5)
    assert one(e.instant("quantile_over_time(2, g[1m])", 30)) == math.inf
    assert vec(e.instant("absent_over_time(g[1m])", 30)) == {}
    assert vec(e.instant('absent_over_time(nope{a="b"}[1m])', 30)) == {(("a", "b"),): 1.0}


def _two_jobs(store: TSDB) -> None:
    rows = [({"__name__": "m", "job": "a", "inst": "1"}, 5.0), ({"__name__": "m", "job": "a", "inst": "2"}, 7.0),
            ({"__name__": "m", "job": "b", "inst": "1"}, 1.0), ({"__name__": "info", "job": "a", "v": "x"}, 1.0),
            ({"__name__": "info", "job": "b", "v": "y"}, 1.0), ({"__name__": "dup", "job": "a", "i": "1"}, 1.0),
            ({"__name__": "dup", "job": "a", "i": "2"}, 1.0)]
    store.append([(lb, 0, v) for lb, v in rows])


def test_binary_operators_matching_and_name_dropping(store: TSDB) -> None:
    _two_jobs(store)
    e = Engine(store)
    assert all(("__name__", "m") not in k for k in vec(e.instant("m + 1", 10)))
    assert set(vec(e.instant("m > 4", 10))) == {(("__name__", "m"), ("inst", "1"), ("job", "a")),
                                                 (("__name__", "m"), ("inst", "2"), ("job", "a"))}
    assert sorted(vec(e.instant("m > bool 4", 10)).values()) == [0.0, 1.0, 1.0]
    assert vec(e.instant("1 < m", 10)) == {(("__name__", "m"), ("inst", "1"), ("job", "a")): 5.0,
                                           (("__name__", "m"), ("inst", "2"), ("job", "a")): 7.0}
    r = vec(e.instant("m * on(job) group_left(v) info", 10))
    assert r == {(("inst", "1"), ("job", "a"), ("v", "x")): 5.0, (("inst", "2"), ("job", "a"), ("v", "x")): 7.0,
                 (("inst", "1"), ("job", "b"), ("v", "y")): 1.0}
    assert vec(e.instant("info / on(job) group_right m", 10))[(("inst", "2"), ("job", "a"))] == pytest.approx(1 / 7)
    assert len(vec(e.instant("m and on(job) info", 10))) == 3
    assert len(vec(e.instant('m unless on(job) info{v="x"}', 10))) == 1
    assert len(vec(e.instant('m or info', 10))) == 5
    with pytest.raises(PromQLError):
        e.instant("m - ignoring(inst) m", 10)  # without inst, job a has two series on each side
    with pytest.raises(PromQLError) as exc:
        e.instant("m * on(job) info", 10)  # two m series for job a: must be group_left
    assert exc.value.kind == "execution" and "many-to-one matching must be explicit" in str(exc.value)
    with pytest.raises(PromQLError) as exc:
        e.instant("info * on(job) group_left dup", 10)  # the "one" side has duplicates
    assert "many-to-many matching not allowed" in str(exc.value)


def test_aggregations(store: TSDB) -> None:
    _two_jobs(store)
    e = Engine(store)
    assert vec(e.instant("sum by (job) (m)", 10)) == {(("job", "a"),): 12.0, (("job", "b"),): 1.0}
    assert vec(e.instant("max without (inst) (m)", 10)) == {(("job", "a"),): 7.0, (("job", "b"),): 1.0}
    assert one(e.instant("avg(m)", 10)) == pytest.approx(13 / 3)
    assert one(e.instant("count(m)", 10)) == 3 and one(e.instant("min(m)", 10)) == 1
    assert one(e.instant("stddev(m)", 10)) == pytest.approx(math.sqrt(56 / 9))
    assert one(e.instant("quantile(0.5, m)", 10)) == 5
    assert set(vec(e.instant("topk(2, m)", 10)).values()) == {5.0, 7.0}
    assert (("__name__", "m"), ("inst", "1"), ("job", "b")) in vec(e.instant("bottomk(1, m)", 10))
    assert vec(e.instant('count_values("val", m)', 10))[(("val", "7"),)] == 1
    assert vec(e.instant("sum by (__name__) (m)", 10)) == {(("__name__", "m"),): 13.0}
    assert vec(e.instant("topk(0, m)", 10)) == {}


def test_histogram_quantile_interpolates_and_fixes_monotonicity(store: TSDB) -> None:
    buckets = {"0.1": 10, "0.5": 20, "1": 30, "+Inf": 40}
    store.append([({"__name__": "h_bucket", "le": le, "j": "x"}, 0, float(c)) for le, c in buckets.items()])
    store.append([({"__name__": "n_bucket", "le": le}, 0, float(c))
                  for le, c in {"1": 10, "2": 8, "+Inf": 20}.items()])
    e = Engine(store)
    assert vec(e.instant("histogram_quantile(0.5, h_bucket)", 10)) == {(("j", "x"),): pytest.approx(0.5)}
    assert one(e.instant("histogram_quantile(0.9, h_bucket)", 10)) == 1.0  # in +Inf: the last finite bound
    assert one(e.instant("histogram_quantile(0.05, h_bucket)", 10)) == pytest.approx(0.02)  # from 0
    assert one(e.instant("histogram_quantile(-1, h_bucket)", 10)) == -math.inf
    # 2's count 8 < 10 is raised to 10, so q=0.5 (rank 10) falls at the top of the first bucket.
    assert one(e.instant("histogram_quantile(0.5, n_bucket)", 10)) == pytest.approx(1.0)


def test_functions_on_instant_vectors(store: TSDB) -> None:
    store.append([({"__name__": "v", "s": "a"}, 1000, -2.5), ({"__name__": "v", "s": "b"}, 2000, 3.7)])
    e = Engine(store)
    assert sorted(vec(e.instant("abs(v)", 10)).values()) == [2.5, 3.7]
    assert sorted(vec(e.instant("ceil(v)", 10)).values()) == [-2, 4]
    assert sorted(vec(e.instant("floor(v)", 10)).values()) == [-3, 3]
    assert sorted(vec(e.instant("round(v)", 10)).values()) == [-2, 4]  # ties round up
    assert sorted(vec(e.instant("round(v, 0.5)", 10)).values()) == [-2.5, 3.5]
    assert sorted(vec(e.instant("clamp(v, -1, 1)", 10)).values()) == [-1, 1]
    assert vec(e.instant("clamp(v, 1, -1)", 10)) == {}
    assert sorted(vec(e.instant("clamp_min(v, 0)", 10)).values()) == [0, 3.7]
    assert sorted(vec(e.instant("clamp_max(v, 0)", 10)).values()) == [-2.5, 0]
    assert sorted(vec(e.instant("timestamp(v)", 10)).values()) == [1, 2]  # the samples' own times
    assert sorted(vec(e.instant("timestamp(v + 0)", 10)).values()) == [10, 10]
    assert e.instant("scalar(v)", 10).v != e.instant("scalar(v)", 10).v  # two series -> NaN
    assert e.instant('scalar(v{s="a"})', 10).v == -2.5
    assert vec(e.instant("vector(3)", 10)) == {(): 3.0}
    assert vec(e.instant('absent(nope{a="b", c=~"d"})', 10)) == {(("a", "b"),): 1.0}
    assert vec(e.instant("absent(v)", 10)) == {}
    r = vec(e.instant('label_replace(v, "t", "$1-${1}x", "s", "(a)")', 10))
    assert (("__name__", "v"), ("s", "a"), ("t", "a-ax")) in r and (("__name__", "v"), ("s", "b")) in r
    with pytest.raises(PromQLError):
        e.instant('label_replace(v, "s", "x", "s", ".*")', 10)  # both series end up identical


def test_offset_at_and_subqueries(store: TSDB) -> None:
    _counter(store, "s", [(t, float(t)) for t in range(0, 601, 10)])
    e = Engine(store)
    assert one(e.instant("s offset 1m", 300)) == 240
    assert one(e.instant("s @ 100", 500)) == 100
    assert one(e.instant("s @ 100 offset 10s", 500)) == 90
    assert one(e.instant("s offset -1m", 300)) == 360
    # Subquery steps are aligned to multiples of the step: 240, 260, ..., 300.
    r = e.instant("s[1m:20s]", 300)
    assert r.result_type == "matrix" and [t for t, _ in r.series[0].points] == [240_000, 260_000, 280_000,
                                                                                300_000]
    assert one(e.instant("sum_over_time(s[1m:20s])", 305)) == 260 + 280 + 300  # window (245, 305]


def test_range_query_shape_and_duplicate_labelset_errors(store: TSDB) -> None:
    _counter(store, "a", [(t, float(t)) for t in range(0, 301, 15)])
    _counter(store, "b", [(t, float(t)) for t in range(0, 301, 15)])
    e = Engine(store)
    m = e.range("a * 2", 60, 120, 30)
    assert [s.points for s in m.series] == [((60_000, 120.0), (90_000, 180.0), (120_000, 240.0))]
    assert e.range("time()", 0, 20, 10).series[0].points == ((0, 0.0), (10_000, 10.0), (20_000, 20.0))
    with pytest.raises(PromQLError):
        e.instant('rate({__name__=~"a|b"}[1m])', 100)
    with pytest.raises(PromQLError):
        e.range('-{__name__=~"a|b"}', 60, 120, 30)
    with pytest.raises(PromQLError):
        e.range("a[1m]", 60, 120, 30)
    with pytest.raises(PromQLError):
        e.range("a", 120, 60, 30)


def test_json_values_follow_go_formatting(store: TSDB) -> None:
    assert [format_value(v) for v in (1e-10, 1e21, 2.0, -0.0, math.nan, math.inf, -math.inf, 0.1)] == [
        "0.0000000001", "1000000000000000000000", "2", "-0", "NaN", "+Inf", "-Inf", "0.1"]
    e = Engine(store)
    assert e.instant("1/0", 1.5).to_json() == {"resultType": "scalar", "result": [1.5, "+Inf"]}
    assert e.instant('"hi"', 2).to_json() == {"resultType": "string", "result": [2, "hi"]}


@pytest.mark.parametrize("expr", [
    "rate(c[1m])", "irate(c[45s])", "increase(c[2m] offset 30s)", "delta(c[1m])", "avg_over_time(c[2m])",
    "quantile_over_time(0.3, c[2m])", "last_over_time(c[1m])", "predict_linear(c[2m], 60)",
    "rate(c[1m] @ 200)", "max_over_time(rate(c[1m])[2m:20s])", 'rate({__name__=~"c"}[1m])', 'rate(d[1m])',
    "increase(c[5m])", "rate(n[1m])", "increase(n[2m])", "idelta(c[1m])", "irate(n[1m])", "count_over_time(c[1m])",
    "present_over_time(c[1m])", "last_over_time(c[1m] offset -30s)", "c", "c offset 1m", "n @ 300", "rate(c[1m]) * 2",
    "sum(rate(n[1m])) + sum(rate(c[1m]))", "timestamp(c)",
])
def test_range_queries_equal_instant_queries_at_each_step(store: TSDB, expr: str) -> None:
    _counter(store, "c", [(t, float(t * 3 % 500)) for t in range(0, 600, 15)])  # with resets
    store.append([({"__name__": "c"}, 700_000, STALE_NAN)])
    _counter(store, "d", [(t, 1.0) for t in range(600, 900, 15)])
    _counter(store, "n", [(t, float(t % 200 - 150)) for t in range(0, 800, 20)])  # negative, with resets
    e = Engine(store)
    by_step: dict[tuple[tuple[str, str], ...], list[tuple[int, float]]] = {}
    for t in range(30, 901, 45):
        for s in e.instant(expr, t).samples:
            by_step.setdefault(s.metric, []).append((t * 1000, s.v))
    got = {s.metric: list(s.points) for s in e.range(expr, 30, 900, 45).series}
    assert got == by_step


def test_duplicate_series_after_dropping_names_fail_range_queries_too(store: TSDB) -> None:
    _counter(store, "a", [(t, float(t)) for t in range(0, 301, 15)])
    _counter(store, "b", [(t, float(t)) for t in range(0, 301, 15)])
    with pytest.raises(PromQLError, match="same labelset"):
        Engine(store).range('rate({__name__=~"a|b"}[1m])', 60, 120, 30)
