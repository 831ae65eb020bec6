"""`rate`, `increase` and `delta` over every step of a range query for all series at once, with numpy.

steps.py walks each series window by window in Python (about 1.7 us per window); here every window
of every series is one element of a few array operations. All series' samples go into one array,
each timestamp keyed by its series (`series * span + t`) so that one `searchsorted` finds every
window's edges. The float operations and their order are those of `functions.extrapolated_rate`
(IEEE-754 doubles both ways, int64 differences converted exactly below 2**53), so the values are
bit-identical; windows with a counter reset, or a negative first value, go through
`functions.extrapolated_rate` itself, as steps.py does.
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
    got = _extrapolate(series, ends, range_ms, is_counter, is_rate)
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


def extrapolated_one(series: Sequence[tuple[Sequence[int], Sequence[float]]], end: int, range_ms: int,
                     is_counter: bool, is_rate: bool) -> list[float | None]:
    """The same at one instant (`end`, the window's right edge): per series the value, or None where
    the window holds fewer than two samples. What an instant query's rate() wants, without lists
    per series."""
    got = _extrapolate(series, [end], range_ms, is_counter, is_rate) if series else None
    if got is None:
        return [None] * len(series)
    vals, ok = got
    return [v if o else None for v, o in zip(vals, ok[:, 0].tolist())]


def _extrapolate(series: Sequence[tuple[Sequence[int], Sequence[float]]], ends: Sequence[int], range_ms: int,
                 is_counter: bool, is_rate: bool) -> tuple[list[float], np.ndarray] | None:
    """Every series at every window end: the values, row-major (series, step), and which are set;
    None when no series has a sample."""
    n_series, k = len(series), len(ends)
    lens = np.fromiter((len(s[0]) for s in series), dtype=np.int64, count=n_series)
    total = int(lens.sum())
    if total == 0:
        return None
    t_all = _flat([s[0] for s in series], "q", np.int64)
    v_all = _flat([s[1] for s in series], "d", np.float64)
    starts = np.zeros(n_series, dtype=np.int64)
    np.cumsum(lens[:-1], out=starts[1:])
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
            a, b = int(i[s, step]) - int(starts[s]), int(j[s, step]) - int(starts[s])
            ts, vs = series[s]
            hi = int(his[step])
            v = fn.extrapolated_rate(ts[a:b], vs[a:b], hi - range_ms, hi, range_ms, True, is_rate)
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
