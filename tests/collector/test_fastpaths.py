"""The collector's fast paths give what the general code gives: the instant rate/increase/delta over
all series at once (engine + vectorized.py), numpy chunk encoding (chunkenc.py), and the bulk import's
line splitting (importer.py)."""

from __future__ import annotations

import math
import random
import struct
from array import array
from pathlib import Path

import pytest
from pydock.collector import chunkenc, importer
from pydock.collector.promql import Engine
from pydock.collector.promql.vectorized import OVER_TIME, extrapolated_all, over_time_one
from pydock.collector.tsdb import STALE_NAN, TSDB, Matcher

T0 = 1_700_000_000


def _bits(v: float) -> bytes:
    return struct.pack("<d", v)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    rng = random.Random(3)
    db = TSDB(tmp_path_factory.mktemp("fast") / "data")
    batch = []
    for s in range(40):
        ts, vs, v = [], [], rng.choice([-3.0, 0.0, 100.0])
        for i in range(rng.choice([0, 1, 2, 30, 300])):
            if rng.random() < 0.3 and i % 50 == 7:
                continue
            r = rng.random()
            v = rng.uniform(0, 3) if r < 0.04 else (v if math.isfinite(v) else 1.0) + rng.uniform(0, 9)
            if r > 0.98:
                v = rng.choice([math.nan, math.inf, STALE_NAN])
            ts.append((T0 + 15 * i) * 1000 + rng.randint(0, 900))
            vs.append(v)
        if ts:
            batch.append(({"__name__": "m", "s": str(s)}, ts, vs))
    db.append_series(batch)
    return Engine(db)


@pytest.mark.parametrize("expr", ["rate(m[5m])", "increase(m[1m])", "delta(m[2m])", "rate(m[5m] offset 3m)",
                                  f"increase(m[10m] @ {T0 + 2000})", "rate((m[45s]))"])
def test_instant_all_series_at_once_matches_series_by_series(engine: Engine, expr: str) -> None:
    for t in (T0 + 100, T0 + 1234.5, T0 + 3000, T0 + 4480, T0 + 9000):
        whole = {s.metric: s.v for s in engine.instant(expr, t).samples}
        for n in range(40):
            one = engine.instant(expr.replace("m[", f'm{{s="{n}"}}['), t)
            got = [s.v for s in one.samples]  # one series: the per-series path
            key = (("s", str(n)),)
            assert [_bits(v) for v in got] == ([_bits(whole[key])] if key in whole else [])


def test_array_columns_give_the_same_bits_as_lists() -> None:
    rng = random.Random(5)
    series = []
    for _ in range(20):
        ts = sorted(rng.sample(range(0, 600_000, 1000), rng.choice([0, 1, 3, 200])))
        series.append((ts, [float(i) + rng.random() for i in range(len(ts))]))
    arrays = [(array("q", ts), array("d", vs)) for ts, vs in series]
    steps = [300_000, 450_000, 600_000]
    for func in ("rate", "increase", "delta"):
        want = extrapolated_all(series, steps, steps, 120_000, func != "delta", func == "rate")
        got = extrapolated_all(arrays, steps, steps, 120_000, func != "delta", func == "rate")
        assert [(t, [_bits(v) for v in vs]) for t, vs in got] == [(t, [_bits(v) for v in vs]) for t, vs in want]


@pytest.mark.parametrize("cache", [4096, 3])
def test_flat_read_is_every_sample_in_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cache: int) -> None:
    """`select_flat` (the engine's read) against the samples as written, bit for bit: packed chunks
    and the head, cut at both ends, staleness markers, other NaNs, -0.0 and infinities kept; with a
    chunk cache too small for one read too (its hits and misses are filled in separately)."""
    from pydock.collector import tsdb

    monkeypatch.setattr(tsdb, "CHUNK_CACHE", cache)
    rng = random.Random(11)
    db = TSDB(tmp_path / "data")
    written: dict[str, tuple[list[int], list[float]]] = {}
    batch = []
    for s in range(30):
        n = rng.choice([0, 1, 5, 240, 700])
        ts = sorted(rng.sample(range(0, 3 * 3_600_000, 1000), n))
        vs = [rng.choice([STALE_NAN, math.nan, -0.0, math.inf, -math.inf, 5e-324]) if rng.random() < 0.1
              else rng.uniform(-1e6, 1e6) for _ in ts]
        written[str(s)] = (ts, vs)
        if ts:
            batch.append(({"__name__": "f", "s": str(s)}, ts, vs))
    db.append_series(batch)
    for i in range(3):  # scrape-like appends: these stay in the head
        t = 3 * 3_600_000 + 1000 * (i + 1)
        db.append([({"__name__": "f", "s": str(s)}, t, -0.0 if s % 3 else STALE_NAN) for s in range(0, 30, 2)])
        for s in range(0, 30, 2):
            written[str(s)][0].append(t)
            written[str(s)][1].append(-0.0 if s % 3 else STALE_NAN)
    for lo, hi in ((0, 10**8), (3_600_000, 3_600_000), (3_000_000, 7_300_000), (10_790_000, 10_802_000),
                   (-5, -1)):
        for matchers in ([("__name__", "=", "f")], [("__name__", "=", "f"), ("s", "=~", "1.*")],
                         [("s", "!=", "3")]):
            flat = db.select_flat(matchers, lo, hi)
            want = []
            for key, (ts, vs) in written.items():
                if not all(Matcher(*m).matches({"__name__": "f", "s": key}[m[0]]) for m in matchers):
                    continue
                keep = [k for k, t in enumerate(ts) if lo <= t <= hi]
                if keep:
                    want.append(((("__name__", "f"), ("s", key)), [ts[k] for k in keep],
                                 [_bits(vs[k]) for k in keep]))
            got, a = [], 0
            for key, n in zip(flat.keys, flat.counts):
                got.append((key, flat.ts[a:a + n].tolist(), [_bits(v) for v in flat.vs[a:a + n]]))
                a += n
            assert a == len(flat.ts) == len(flat.vs)
            assert flat.sids == sorted(flat.sids)  # series id order, as the per-series reads gave
            assert sorted(got) == sorted(want)
    db.close()


def test_instant_fast_path_drops_only_the_staleness_marker(tmp_path: Path) -> None:
    """Other NaNs stay in the window, -0.0 and infinities too; the markers alone go. Same bits as the
    per-series path for each series."""
    db = TSDB(tmp_path / "data")
    t0 = T0 * 1000
    vals = {"stale": [1.0, 2.0, STALE_NAN, 4.0], "nan": [1.0, math.nan, 3.0, 4.0], "zero": [-0.0, -0.0, 0.0, 1.0],
            "inf": [1.0, math.inf, math.inf, 2.0], "reset": [5.0, 1.0, 2.0, 3.0], "short": [STALE_NAN, 1.0, STALE_NAN, 2.0]}
    db.append_series([({"__name__": "x", "k": k}, [t0 + 15_000 * i for i in range(4)], vs) for k, vs in vals.items()])
    eng = Engine(db)
    for expr in ("rate(x[1m])", "increase(x[50s])", "delta(x[1m])"):
        whole = {dict(s.metric)["k"]: s.v for s in eng.instant(expr, T0 + 45).samples}
        for k in vals:
            one = [s.v for s in eng.instant(expr.replace("x[", f'x{{k="{k}"}}['), T0 + 45).samples]
            assert [_bits(v) for v in one] == ([_bits(whole[k])] if k in whole else []), (expr, k)
    assert "short" in whole  # two samples left once its two markers are gone
    db.close()


@pytest.mark.parametrize("func", OVER_TIME)
@pytest.mark.parametrize("seed", range(4))
def test_over_time_all_series_at_once_matches_the_per_series_folds(func: str, seed: int) -> None:
    """Kahan sums, the mean's infinity rules and NaN in min/max, position by position for all series,
    against functions.range_function series by series: same bits, same series without a value."""
    import numpy as np
    from pydock.collector.promql import functions as fn

    rng = random.Random(seed)
    special = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e308, -1e308, 5e-324, 1e16, -1.0]
    series = []
    for _ in range(1500):
        ts = sorted(rng.sample(range(0, 200_000, 1000), rng.choice([0, 1, 2, 8, 30, 30])))
        pick = rng.random()
        vs = [rng.choice(special) if rng.random() < pick else rng.uniform(-1e3, 1e3) for _ in ts]
        series.append((ts, vs))
    t_all = np.array([t for ts, _ in series for t in ts], dtype=np.int64)
    v_all = np.array([v for _, vs in series for v in vs], dtype=np.float64)
    lens = np.array([len(ts) for ts, _ in series], dtype=np.int64)
    ran = 0
    for lo, hi in ((50_000, 110_000), (0, 199_000), (20_000, 39_000), (-5_000, 3_000), (120_000, 120_000)):
        got = over_time_one(func, t_all, v_all, lens, lo, hi)
        if got is None:  # windows too small for the walk over positions to pay
            continue
        ran += 1
        want = []
        for ts, vs in series:
            keep = [k for k, t in enumerate(ts) if lo <= t <= hi]
            want.append(fn.range_function(func, [ts[k] for k in keep], [vs[k] for k in keep], lo, hi, hi - lo,
                                          hi, []) if keep else None)
        assert [None if v is None else _bits(v) for v in got] == [None if v is None else _bits(v) for v in want]
    assert ran >= 3


def test_over_time_through_the_engine_matches_series_by_series(tmp_path: Path) -> None:
    """The engine's flat path for *_over_time (enough series for it to apply), staleness markers and
    other NaNs included, against each series queried alone (the per-series path)."""
    rng = random.Random(9)
    db = TSDB(tmp_path / "data")
    t0 = T0 * 1000
    db.append_series([({"__name__": "g", "s": str(s)}, [t0 + 15_000 * i for i in range(20)],
                       [rng.choice([STALE_NAN, math.nan, math.inf, -0.0]) if rng.random() < 0.1 else rng.uniform(-9, 9)
                        for _ in range(20)]) for s in range(250)])
    eng = Engine(db)
    for func in OVER_TIME:
        whole = {dict(s.metric)["s"]: s.v for s in eng.instant(f"{func}(g[2m])", T0 + 200).samples}
        assert len(whole) == 250
        for n in range(0, 250, 7):
            one = [s.v for s in eng.instant(f'{func}(g{{s="{n}"}}[2m])', T0 + 200).samples]
            assert [_bits(v) for v in one] == [_bits(whole[str(n)])], (func, n)
    db.close()


def test_over_time_leaves_few_long_windows_to_the_per_series_path() -> None:
    import numpy as np

    ts = np.arange(0, 3_600_000, 1000, dtype=np.int64)
    two = np.concatenate([ts, ts])
    assert over_time_one("avg_over_time", two, two.astype(np.float64), np.array([3600, 3600]), 0, 3_600_000) is None


def test_append_series_exact_stores_what_the_converting_path_stores(tmp_path: Path) -> None:
    """`exact=True` (the import's lists kept as they are) against the default, which converts every
    sample: same samples read back, a label set twice in one batch included, the caller's lists
    untouched."""
    a_ts, a_vs = [1000, 2000, 3000], [1.0, -0.0, STALE_NAN]
    b_ts, b_vs = [4000, 5000], [math.inf, 2.5]
    got = []
    for exact in (False, True):
        db = TSDB(tmp_path / f"exact{exact}")
        db.append_series([({"__name__": "e", "k": "1"}, a_ts, a_vs), ({"k": "2", "__name__": "e"}, [1000], [7.0]),
                          ({"k": "1", "__name__": "e"}, b_ts, b_vs)], exact=exact)
        flat = db.select_flat([("__name__", "=", "e")], 0, 10_000)
        got.append((flat.keys, flat.counts, flat.ts.tolist(), [_bits(v) for v in flat.vs]))
        db.close()
    assert got[0] == got[1]
    assert (a_ts, b_ts, len(a_vs), len(b_vs)) == ([1000, 2000, 3000], [4000, 5000], 3, 2)


# --- chunk encoding: numpy against the per-value reference it replaced --------------------------

def _ref_integral(vs: list[float]) -> bool:
    return all(v.is_integer() and abs(v) < 2.0**53 and not (v == 0 and math.copysign(1.0, v) < 0) for v in vs)


def _ref_decimal(vs: list[float]) -> int | None:
    v0 = vs[0]
    if not math.isfinite(v0):
        return None
    for first in range(1, 10):
        if round(v0 * 10.0**first) / 10.0**first == v0:
            break
    else:
        return None
    for d in range(first, 10):
        try:
            ks = [round(v * 10.0**d) for v in vs]
        except (ValueError, OverflowError):
            return None
        if any(abs(k) >= 2.0**53 for k in ks):
            return None
        if array("d", [k / 10.0**d for k in ks]).tobytes() == array("d", vs).tobytes():
            return d
    return None


SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 2.0**53, 2.0**53 - 1, -(2.0**53), 1e300, 5e-324,
            STALE_NAN, 0.1, 0.5, 2.5, 1e-9, 123456789.123456789, 1e16 + 2]


@pytest.mark.parametrize("seed", range(4))
def test_numpy_encoding_chooses_as_the_per_value_checks_and_round_trips(seed: int) -> None:
    rng = random.Random(seed)
    makers = [lambda: float(rng.randint(-10**6, 10**6)), lambda: round(rng.uniform(-99, 99), rng.randint(1, 9)),
              lambda: rng.uniform(-1e6, 1e6), lambda: rng.choice(SPECIALS),
              lambda: rng.randint(0, 20) / 10 ** rng.randint(0, 12)]
    for _ in range(500):
        n = rng.choice([9, 10, 50, 240])
        mix = rng.sample(makers, rng.choice([1, 1, 2]))
        vs = [rng.choice(mix)() for _ in range(n)]
        ts = sorted(rng.sample(range(10**12, 10**12 + 10**7), n))
        blob = chunkenc.encode(ts, vs)
        d = _ref_decimal(vs)
        want = chunkenc.INT if _ref_integral(vs) else chunkenc.DECIMAL if d is not None else chunkenc.FLOAT
        assert blob[0] == want, vs
        if want == chunkenc.DECIMAL:
            assert blob[1] == d
        got_t, got_v = chunkenc.decode(blob, n)
        assert got_t == ts and array("d", got_v).tobytes() == array("d", vs).tobytes()


# --- bulk import: the line-splitting path against the full parser ------------------------------

EDGES = '''# HELP x Help with "quotes" and \\\\ and spaces.
# TYPE x counter
x_total{a="sp ace",b="q\\"uote",c="back\\\\slash",d="new\\nline"} 1 1700000000
x_total{a="sp ace",b="q\\"uote",c="back\\\\slash",d="new\\nline"} 2.5e3 1700000015.25
x_total{a="#",b="}{"} NaN 1700000000
x_total{a="#",b="}{"} +Inf 1700000001
x_total{a="#",b="}{"} -Inf 1700000002.0019
# a comment 1 2
g 0.1 1700000000

g 1e-9 -17.5
g 3 1700000100
h{z="1",y="2"} 4 1700000000
h{z="1",y="2"} 4 1699999999
# EOF
after_eof x y
'''


def _same(a: importer._Parsed, b: importer._Parsed) -> None:
    assert list(a) == list(b)
    for key in a:
        assert a[key][0] == b[key][0] and a[key][1] == b[key][1]
        assert [_bits(v) for v in a[key][2]] == [_bits(v) for v in b[key][2]]


def test_import_fast_path_matches_the_full_parser(tmp_path: Path) -> None:
    f = tmp_path / "in.om"
    f.write_text(EDGES)
    _same(importer._parse_fast(f), importer._parse_slow(f))
    rng = random.Random(1)
    lines = [f'm{{i="{s % 7}",s="{s}"}} {rng.random() * 10**rng.randint(-5, 9)} {T0 + 15 * t + rng.random()}'
             for t in range(300) for s in range(200)]  # interleaved, over many read blocks
    f.write_text("\n".join(lines))  # no newline at the end
    _same(importer._parse_fast(f), importer._parse_slow(f))


@pytest.mark.parametrize("text", [
    'x 1 1 # {trace_id="a"} 1 1\n',  # an exemplar
    "x 1 1\nx 2\n",  # a missing timestamp
    'x{a="1",b="2"} 1 1\nx{b="2",a="1"} 2 2\n', "g 1 1\ng{} 2 2\n",  # one label set written two ways
    "x 1 1\nx abc 2\n", "x 1 inf\n", "x 1 1e300\n", "x{a=b} 1 1\n",
])
def test_import_fast_path_leaves_the_unusual_to_the_full_parser(tmp_path: Path, text: str) -> None:
    f = tmp_path / "odd.om"
    f.write_text(text)
    with pytest.raises(importer._Unusual):
        importer._parse_fast(f)


# --- scrape: the keyed parser's split path against the full parser -----------------------------

GOLDEN = Path(__file__).parent.parent / "agent" / "golden"
EDGE_EXPOSITION = '''# HELP e Escapes, spaces and hashes in label values.
# TYPE e gauge
e{a="sp ace",b="q\\"uote",c="back\\\\slash",d="new\\nline",f="# x",g="} 1 2"} 1
e{a="sp ace",b="q\\"uote",c="back\\\\slash",d="new\\nline",f="# x",g="} 1 2"} 2 1700000000
e{ a = "spaced" , b="x" } 3
e{} 4
e 5 -1700000000123
n NaN
n{x="1"} +Inf 1700000000000
n{x="2"} -Inf
n{x="3"} 1e-300 12
n{x="4"} -0.0
n{x="5"}\t6
n{x="6"}  7
n{x="7"} 8\t9
n{x="8"}9
up 1\r

   # indented comment 1 2
trail 1.5e3 \t
'''
OM_EXPOSITION = '''# TYPE a counter
# HELP a A counter.
a_total{x="1"} 3 1700000000.25 # {trace_id="ab c"} 1 1700000000.1
a_total{x="1"} 4 1700000000.5
a_total{x="2"} 5
a_created{x="1"} 1699999999.123
b NaN 17e8
# EOF
after 1
'''


def _keyed_twice(text: str, om: bool) -> tuple[list[tuple[dict[str, str], bytes, int | None]], int]:
    from pydock.collector.exposition import parse_exposition_keyed

    known: dict[str, dict[str, str]] = {}
    for series, labels, _, _ in parse_exposition_keyed(text, om, known):
        if labels is not None:
            known[series] = labels
    out, fast = [], 0
    for series, labels, v, ts in parse_exposition_keyed(text, om, known):
        fast += labels is None
        out.append((known[series] if labels is None else labels, _bits(v), ts))
    return out, fast


@pytest.mark.parametrize("text,om,odd", [(EDGE_EXPOSITION, False, 5), (OM_EXPOSITION, True, 1),
                                         ((GOLDEN / "v1.prom").read_text(), False, 0),
                                         ((GOLDEN / "v2.prom").read_text(), False, 0),
                                         ((GOLDEN / "v2.prom").read_text(), True, 0)])
def test_keyed_parser_split_path_matches_the_full_parser(text: str, om: bool, odd: int) -> None:
    from pydock.collector.exposition import parse_exposition

    want = [(lb, _bits(v), ts) for lb, v, ts in parse_exposition(text, om)]
    got, fast = _keyed_twice(text, om)
    assert got == want
    assert fast >= len(want) - odd  # the second pass split the usual lines (odd ones: tabs, an exemplar...)


@pytest.mark.parametrize("bad", ['x{a="1"} abc', 'x{a="1"} 1 NaN', 'x{a="1"} 1 +Inf', 'x{a="1"} 1 2 3',
                                 'x{a="1"} # 1', 'x{a="1"}'])
def test_keyed_parser_names_the_same_errors(bad: str) -> None:
    from pydock.collector.exposition import ParseError, parse_exposition, parse_exposition_keyed

    text = 'x{a="1"} 1\n' + bad + "\n"
    with pytest.raises(ParseError) as full:
        list(parse_exposition(text))
    with pytest.raises(ParseError) as keyed:
        list(parse_exposition_keyed(text, False, {'x{a="1"}'}))
    assert str(keyed.value) == str(full.value)
