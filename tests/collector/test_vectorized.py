"""The numpy rate/increase/delta over all series and steps gives the bits steps.over_steps gives."""

from __future__ import annotations

import math
import random
import struct

import pytest
from pydock.collector.promql.steps import over_steps
from pydock.collector.promql.vectorized import extrapolated_all


def _bits(vs: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in vs]


def _series(rng: random.Random) -> tuple[list[int], list[float]]:
    n = rng.choice([0, 1, 2, 5, 40, 240])
    ts = sorted(rng.sample(range(0, 3_600_000, 1000), n))
    v = rng.choice([-5.0, 0.0, 10.0])
    vs = []
    for _ in ts:
        r = rng.random()
        if r < 0.05:
            v = rng.uniform(0, 3)  # a counter reset
        elif r < 0.07:
            v = rng.choice([math.nan, math.inf, -math.inf])
        else:
            v = (v if math.isfinite(v) else 1.0) + rng.uniform(0, 20)
        vs.append(v)
    return ts, vs


@pytest.mark.parametrize("func", ["rate", "increase", "delta"])
@pytest.mark.parametrize("seed", range(6))
def test_bit_identical_to_the_per_series_walk(func: str, seed: int) -> None:
    rng = random.Random(seed)
    series = [_series(rng) for _ in range(30)]
    step = rng.choice([15_000, 60_000, 7_000])
    steps = list(range(-300_000, 3_900_000, step))
    offset = rng.choice([0, 0, 120_000])
    ends = [t - offset for t in steps]
    rng_ms = rng.choice([60_000, 300_000, 1_000])
    got = extrapolated_all(series, steps, ends, rng_ms, func != "delta", func == "rate")
    for (ts, vs), (out_t, out_v) in zip(series, got):
        want_t, want_v = over_steps(func, ts, vs, steps, ends, rng_ms, [])
        assert out_t == want_t
        assert _bits(out_v) == _bits(want_v)


def test_matrix_json_text_is_the_json_of_to_json() -> None:
    import json

    from pydock.collector.promql.values import Matrix, Series

    shared = [1000, 2000, 3000]
    m = Matrix((Series((("__name__", "a"), ("x", 'q"\\ü\n')), shared, [1.0, math.nan, 1e-7]),
                Series((("y", "1"),), shared, [math.inf, -math.inf, 2.5e21]),
                Series((("y", "2"),), [1500, 2500], [-0.0, 3.25]),
                Series((("y", "3"),), [], [])))
    want = json.dumps(m.to_json(), ensure_ascii=False, separators=(",", ":"))
    assert m.json_text() == want


def test_vector_json_text_is_the_json_of_to_json() -> None:
    import json

    from pydock.collector.promql.values import Sample, Vector

    v = Vector((Sample((("__name__", "a"), ("x", 'q"\\ü\n')), 1500, math.nan), Sample((), 2000, -0.0),
                Sample((("y", "1"),), 1_700_000_000_123, 1e-7), Sample((("y", "2"),), 0, math.inf)))
    assert v.json_text() == json.dumps(v.to_json(), ensure_ascii=False, separators=(",", ":"))
    assert Vector(()).json_text() == '{"resultType":"vector","result":[]}'
