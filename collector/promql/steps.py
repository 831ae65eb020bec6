"""Range-vector functions over every step of a range query at once, one pass per series.

A range query asks for `rate(x[5m])` at each of its steps. Like Prometheus's engine, which walks
each series with one iterator that only moves forward, this walks each series' decoded samples
once: the window `[t - range, t]` of successive steps slides forward (binary search from the
previous edges, never from the start), and the usual functions are computed inline on the window's
edges instead of on a copied slice. `rate`, `increase` and `delta` locate the series' counter resets
once, so a window without a reset (nearly all of them) costs a few float operations; a window with
one goes through `functions.extrapolated_rate`. The float operations and their order are those of
`functions.range_function`, so every value is bit-identical to evaluating step by step.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import compress, islice

from pydock.collector.promql import functions as fn

Points = tuple[list[int], list[float]]


def over_steps(func: str, ts: Sequence[int], vs: Sequence[float], steps: Sequence[int],
               ends: Sequence[int], range_ms: int, scalars: list[float]) -> Points:
    """`func` over the window ending at `ends[k]` (non-decreasing) for each step `steps[k]`; returns
    the steps that have a value and the values. `ts`/`vs` are one series' samples, staleness
    markers already removed."""
    if func in ("rate", "increase", "delta"):
        return _extrapolated(ts, vs, steps, ends, range_ms, func != "delta", func == "rate")
    out_t: list[int] = []
    out_v: list[float] = []
    n = len(ts)
    i = j = 0
    for t, hi in zip(steps, ends):
        lo = hi - range_ms
        if i < n and ts[i] < lo:
            i = bisect_left(ts, lo, i)
        j = bisect_right(ts, hi, j)
        if i >= j:
            continue
        if func == "count_over_time":
            v: float | None = float(j - i)
        elif func == "last_over_time":
            v = vs[j - 1]
        elif func == "present_over_time":
            v = 1.0
        elif func in ("irate", "idelta"):
            k = max(i, j - 2)  # only the last two samples count
            v = fn.instant_value(ts[k:j], vs[k:j], func == "irate")
        else:
            v = fn.range_function(func, ts[i:j], vs[i:j], lo, hi, range_ms, t, scalars)
        if v is not None:
            out_t.append(t)
            out_v.append(v)
    return out_t, out_v


def _extrapolated(ts: Sequence[int], vs: Sequence[float], steps: Sequence[int], ends: Sequence[int],
                  range_ms: int, is_counter: bool, is_rate: bool) -> Points:
    """`functions.extrapolated_rate` over every window, inlined for windows without a counter reset."""
    out_t: list[int] = []
    out_v: list[float] = []
    n = len(ts)
    # Index k is a reset when vs[k] < vs[k-1]: the comparison extrapolated_rate's loop makes.
    resets = list(compress(range(1, n), map(operator.lt, islice(vs, 1, None), vs))) if is_counter else []
    n_resets = len(resets)
    range_s = range_ms / 1000
    i = j = 0
    for t, hi in zip(steps, ends):
        lo = hi - range_ms
        if i < n and ts[i] < lo:
            i = bisect_left(ts, lo, i)
        j = bisect_right(ts, hi, j)
        if j - i < 2:
            continue
        first = vs[i]
        if is_counter and (first < 0 or (n_resets and (r := bisect_right(resets, i)) < n_resets
                                         and resets[r] < j)):
            v = fn.extrapolated_rate(ts[i:j], vs[i:j], lo, hi, range_ms, True, is_rate)
            assert v is not None  # two samples or more always give a value
            out_t.append(t)
            out_v.append(v)
            continue
        result = vs[j - 1] - first
        t_first, t_last = ts[i], ts[j - 1]
        duration_to_start = (t_first - lo) / 1000
        duration_to_end = (hi - t_last) / 1000
        sampled = (t_last - t_first) / 1000
        avg = sampled / (j - i - 1)
        if is_counter and result > 0 and first >= 0:
            duration_to_zero = sampled * (first / result)
            duration_to_start = min(duration_to_start, duration_to_zero)
        threshold = avg * 1.1
        interval = sampled
        interval += duration_to_start if duration_to_start < threshold else avg / 2
        interval += duration_to_end if duration_to_end < threshold else avg / 2
        result = result * (interval / sampled)
        if is_rate:
            result = result / range_s
        out_t.append(t)
        out_v.append(result)
    return out_t, out_v
