"""`rate`, `increase` and `delta` over every step of a range query for all series at once, with numpy.

steps.py walks each series window by window in Python (about 1.7 us per window); here every window
of every series is one element of a few array operations. All series' samples go into one array,
each timestamp keyed by its series (`series * span + t`) so that one `searchsorted` finds every
window's edges. The float operations and their order are those of `functions.extrapolated_rate`
(IEEE-754 doubles both ways, int64 differences converted exactly below 2**53), so the values are
bit-identical; windows with a counter reset, or a negative first value, go through
`functions.extrapolated_rate` itself, as steps.py does. At one instant (`extrapolated_one`) the
series come as the TSDB's flat read; `over_time_one` does avg/sum/count/min/max_over_time there.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from itertools import compress
from typing import cast

import numpy as np
from pydock.collector.promql import functions as fn

Points = tuple[list[int], list[float]]


def extrapolated_all(series: Sequence[tuple[Sequence[int], Sequence[float]]], steps: Sequence[int],
                     ends: Sequence[int], range_ms: int, is_counter: bool, is_rate: bool) -> list[Points]:
    """For each series (timestamps, values; staleness markers removed), the steps that have a value
    and the values, as `steps.over_steps` returns them for rate/increase/delta."""
    k = len(steps)
    if not series or not k:
        return [([], []) for _ in series]
    lens = np.fromiter((len(s[0]) for s in series), dtype=np.int64, count=len(series))
    got = _extrapolate(_flat([s[0] for s in series], "q", np.int64), _flat([s[1] for s in series], "d", np.float64),
                       lens, ends, range_ms, is_counter, is_rate)
    if got is None:
        return [([], []) for _ in series]
    vals, ok = got
    oks: list[list[bool]] = ok.tolist()
    full = cast(list[bool], ok.all(axis=1).tolist())
    steps_l = list(steps)
    out: list[Points] = []
    for s in range(len(series)):
        if full[s]:  # the usual row: every step has a value; the step list is shared, never mutated
            out.append((steps_l, vals[s * k:(s + 1) * k]))
            continue
        mask = oks[s]
        out.append((list(compress(steps_l, mask)), list(compress(vals[s * k:(s + 1) * k], mask))))
    return out


def extrapolated_one(t_all: np.ndarray, v_all: np.ndarray, lens: np.ndarray, end: int, range_ms: int,
                     is_counter: bool, is_rate: bool) -> list[float | None]:
    """The same at one instant (`end`, the window's right edge) over series laid end to end (series s
    is the `lens[s]` samples after those of series 0..s-1; staleness markers removed), as the TSDB's
    `select_flat` returns them: per series the value, or None where the window holds fewer than two
    samples. What an instant query's rate() wants, with no Python object per series on the way in."""
    got = _extrapolate(t_all, v_all, lens, [end], range_ms, is_counter, is_rate)
    if got is None:
        return [None] * len(lens)
    vals, ok = got
    return [v if o else None for v, o in zip(vals, ok[:, 0].tolist())]


def _extrapolate(t_all: np.ndarray, v_all: np.ndarray, lens: np.ndarray, ends: Sequence[int], range_ms: int,
                 is_counter: bool, is_rate: bool) -> tuple[list[float], np.ndarray] | None:
    """Every series (laid end to end, `lens` samples each) at every window end: the values,
    row-major (series, step), and which are set; None when no series has a sample."""
    n_series, k = len(lens), len(ends)
    total = int(lens.sum())
    if total == 0:
        return None
    sid = np.repeat(np.arange(n_series, dtype=np.int64), lens)

    his = np.asarray(ends, dtype=np.int64)
    los = his - range_ms
    base = min(int(t_all.min()), int(los[0])) - 1
    top = max(int(t_all.max()), int(his[-1])) + 1
    span = top - base + 1
    if span * n_series >= 2**62:  # keys would overflow: leave it to the per-series path
        raise OverflowError("time span too wide for one key array")
    keys = sid * span + (t_all - base)
    row = (np.arange(n_series, dtype=np.int64) * span)[:, None]
    i = np.searchsorted(keys, row + (los - base)[None, :], "left")
    j = np.searchsorted(keys, row + (his - base)[None, :], "right")
    ok = (j - i) >= 2
    ii = np.where(ok, i, 0)
    jl = np.where(ok, j - 1, 0)

    with np.errstate(all="ignore"):
        first = v_all[ii]
        last = v_all[jl]
        result = last - first
        t_first, t_last = t_all[ii], t_all[jl]
        lo2, hi2 = los[None, :], his[None, :]
        to_start = (t_first - lo2) / 1000
        to_end = (hi2 - t_last) / 1000
        sampled = (t_last - t_first) / 1000
        avg = sampled / (j - i - 1)
        if is_counter:
            clamp = (result > 0) & (first >= 0)
            to_zero = sampled * (first / result)
            to_start = np.where(clamp, np.minimum(to_start, to_zero), to_start)
        threshold = avg * 1.1
        half = avg / 2
        interval = (sampled + np.where(to_start < threshold, to_start, half)) + np.where(
            to_end < threshold, to_end, half)
        result = result * (interval / sampled)
        if is_rate:
            result = result / (range_ms / 1000)

    vals = result.ravel().tolist()
    if is_counter:
        # A reset at index r (same series as r-1) lies inside the window when i < r < j.
        reset = np.zeros(total, dtype=np.int64)
        reset[1:] = (v_all[1:] < v_all[:-1]) & (sid[1:] == sid[:-1])
        before = np.cumsum(reset)  # resets at indices <= x
        slow = ok & ((before[jl] - before[ii] > 0) | (first < 0))
        for flat in np.flatnonzero(slow).tolist():
            s, step = divmod(flat, k)
            a, b = int(i[s, step]), int(j[s, step])
            hi = int(his[step])
            v = fn.extrapolated_rate(t_all[a:b].tolist(), v_all[a:b].tolist(), hi - range_ms, hi, range_ms, True,
                                     is_rate)
            assert v is not None
            vals[flat] = v
    return vals, ok


def _flat(cols: list[Sequence[int]] | list[Sequence[float]], typecode: str, dtype: type) -> np.ndarray:
    """All columns end to end. The TSDB's array.array columns are appended with memcpy into one
    array (one numpy conversion per series was most of an instant query's time here)."""
    if all(type(c) is array and c.typecode == typecode for c in cols):
        flat = array(typecode)
        for c in cols:
            flat.extend(c)  # type: ignore[arg-type]
        return np.frombuffer(flat, dtype=dtype) if len(flat) else np.zeros(0, dtype=dtype)
    return np.concatenate([_column(c, dtype) for c in cols])


def _column(xs: Sequence[int] | Sequence[float], dtype: type) -> np.ndarray:
    """A zero-copy view of an array.array of the right type (what the TSDB returns), else a copy."""
    if isinstance(xs, array) and xs.itemsize == 8 and xs.typecode in ("q", "d"):
        return np.frombuffer(xs, dtype=dtype) if len(xs) else np.zeros(0, dtype=dtype)
    return np.array(xs, dtype=dtype)


OVER_TIME = ("avg_over_time", "sum_over_time", "count_over_time", "min_over_time", "max_over_time")


def over_time_one(func: str, t_all: np.ndarray, v_all: np.ndarray, lens: np.ndarray, lo: int, hi: int
                  ) -> list[float | None] | None:
    """avg/sum/count/min/max_over_time at one instant over series laid end to end (as
    `extrapolated_one` takes them): per series the value over its samples in [lo, hi], or None where
    there are none. The folds of functions.py (Kahan sums, the mean's infinity rules, NaN in min and
    max) run position by position for all series at once, each series seeing the same operations in
    the same order, so the bits are the same. None (use the per-series path) when the series are
    too few for the walk over positions to pay."""
    n_series = len(lens)
    if n_series == 0 or len(t_all) == 0:
        return [None] * n_series
    sid = np.repeat(np.arange(n_series, dtype=np.int64), lens)
    base = min(int(t_all.min()), lo) - 1
    span = max(int(t_all.max()), hi) + 1 - base + 1
    if span * n_series >= 2**62:
        return None
    keys = sid * span + (t_all - base)
    row = np.arange(n_series, dtype=np.int64) * span
    i = np.searchsorted(keys, row + (lo - base), "left")
    j = np.searchsorted(keys, row + (hi - base), "right")
    count = j - i
    longest = int(count.max())
    if longest * 100 > int(count.sum()):  # a position costs ~40 us, a sample on the per-series path ~0.4 us
        return None
    got = count > 0
    last = len(v_all) - 1
    with np.errstate(all="ignore"):
        if func == "count_over_time":
            out = count.astype(np.float64)
        elif func in ("min_over_time", "max_over_time"):
            out = v_all[np.minimum(i, last)]
            for p in range(1, longest):
                v = v_all[np.minimum(i + p, last)]
                better = (v < out) if func == "min_over_time" else (v > out)
                out = np.where((p < count) & (better | np.isnan(out)), v, out)
        elif func == "sum_over_time":
            s = np.zeros(n_series)
            c = np.zeros(n_series)
            for p in range(longest):
                v = v_all[np.minimum(i + p, last)]
                s, c = _kahan_where(p < count, v, s, c)
            out = np.where(np.isinf(s), s, s + c)
        else:  # avg_over_time
            mean = np.zeros(n_series)
            c = np.zeros(n_series)
            n = np.zeros(n_series)
            for p in range(longest):
                active = p < count
                v = v_all[np.minimum(i + p, last)]
                n = np.where(active, n + 1, n)
                inf_mean, inf_v = np.isinf(mean), np.isinf(v)
                skip = inf_mean & ((inf_v & ((mean > 0) == (v > 0))) | (~inf_v & ~np.isnan(v)))
                inc = v / n - mean / n
                t = mean + inc
                upd = active & ~skip
                c = np.where(upd, c + np.where(np.abs(mean) >= np.abs(inc), (mean - t) + inc, (inc - t) + mean), c)
                mean = np.where(upd, t, mean)
            out = np.where(np.isinf(mean), mean, mean + c)
    return [v if g else None for v, g in zip(out.tolist(), got.tolist())]


def _kahan_where(active: np.ndarray, inc: np.ndarray, s: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """gomath.kahan_inc for every series at once, where `active`."""
    t = s + inc
    c2 = c + np.where(np.abs(s) >= np.abs(inc), (s - t) + inc, (inc - t) + s)
    return np.where(active, t, s), np.where(active, c2, c)
