"""Binary operators with vector matching, and aggregations, as prometheus/promql/engine.go does them.

A vector here is a list of (labels, value) pairs; labels are sorted tuples of (name, value).
The order of floating-point operations follows Prometheus's so results agree to the last bit.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

from pydock.collector.promql import gomath
from pydock.collector.promql.ast import ARITHMETIC, COMPARISON, VectorMatching
from pydock.collector.promql.values import Labels, format_value, labels_str

from pydock.errors import PromQLError

VecT = list[tuple[Labels, float]]
NAME = "__name__"
_DROP_NAME_OPS = ("+", "-", "*", "/", "%", "^")  # not atan2 nor comparisons, as in Prometheus


@functools.lru_cache(maxsize=1 << 16)
def _is_label_name(s: str) -> bool:
    return bool(s) and (s[0].isascii() and (s[0].isalpha() or s[0] == "_")) and all(
        c.isascii() and (c.isalnum() or c == "_") for c in s)


def drop_name(m: Labels) -> Labels:
    if m and m[0][0] == NAME:  # where sorting puts it unless a label name starts with a capital
        return m[1:]
    return tuple(p for p in m if p[0] != NAME)


def exec_error(msg: str) -> PromQLError:
    return PromQLError(msg, kind="execution")


def elem_binop(op: str, a: float, b: float) -> tuple[float, bool]:
    """vectorElemBinop: the value and whether to keep it (comparisons filter, keeping `a`)."""
    if op == "+":
        return a + b, True
    if op == "-":
        return a - b, True
    if op == "*":
        return a * b, True
    if op == "/":
        return gomath.div(a, b), True
    if op == "^":
        return gomath.pow_(a, b), True
    if op == "%":
        return gomath.mod(a, b), True
    if op == "atan2":
        return math.atan2(a, b), True
    if op == "==":
        return a, a == b
    if op == "!=":
        return a, a != b
    if op == ">":
        return a, a > b
    if op == "<":
        return a, a < b
    if op == ">=":
        return a, a >= b
    if op == "<=":
        return a, a <= b
    raise exec_error(f"operator {op!r} not allowed for operations between vectors")


def scalar_binop(op: str, a: float, b: float) -> float:
    v, keep = elem_binop(op, a, b)
    if op in COMPARISON:
        return 1.0 if keep else 0.0
    return v


def vector_scalar(op: str, vec: VecT, s: float, swap: bool, return_bool: bool) -> VecT:
    out: VecT = []
    drop = op in _DROP_NAME_OPS or return_bool
    for m, v in vec:
        lv, rv = (s, v) if swap else (v, s)
        value, keep = elem_binop(op, lv, rv)
        if op in COMPARISON and swap:
            value = rv  # a filter keeps the vector's own value even when the scalar is on the left
        if return_bool:
            value, keep = (1.0 if keep else 0.0), True
        if keep:
            out.append((drop_name(m) if drop else m, value))
    return out


def signature_func(on: bool, names: Sequence[str]) -> Callable[[Labels], Labels]:
    keep = frozenset(names)
    if on:
        return lambda m: tuple(p for p in m if p[0] in keep)
    return lambda m: tuple(p for p in m if p[0] not in keep and p[0] != NAME)


def set_op(op: str, lhs: VecT, rhs: VecT, matching: VectorMatching) -> VecT:
    sig = signature_func(matching.on, matching.labels)
    if op == "and":
        right = {sig(m) for m, _ in rhs}
        return [s for s in lhs if sig(s[0]) in right]
    if op == "unless":
        right = {sig(m) for m, _ in rhs}
        return [s for s in lhs if sig(s[0]) not in right]
    left = {sig(m) for m, _ in lhs}
    return list(lhs) + [s for s in rhs if sig(s[0]) not in left]


def _result_metric(lhs: Labels, rhs: Labels, op: str, matching: VectorMatching) -> Labels:
    d = dict(lhs)
    if op in _DROP_NAME_OPS:
        d.pop(NAME, None)
    if matching.card == "one-to-one":
        if matching.on:
            keep = set(matching.labels)
            d = {k: v for k, v in d.items() if k in keep}
        else:
            for k in matching.labels:
                d.pop(k, None)
    if matching.include:
        r = dict(rhs)
        for k in matching.include:
            if r.get(k, ""):
                d[k] = r[k]
            else:
                d.pop(k, None)
    return tuple(sorted(d.items()))


def vector_binop(op: str, lhs: VecT, rhs: VecT, matching: VectorMatching, return_bool: bool) -> VecT:
    sig = signature_func(matching.on, matching.labels)
    if matching.card == "one-to-many":
        lhs, rhs = rhs, lhs
    right: dict[Labels, tuple[Labels, float]] = {}
    for m, v in rhs:
        s = sig(m)
        if s in right:
            side = "left" if matching.card == "one-to-many" else "right"
            raise exec_error(
                f"found duplicate series for the match group {labels_str(s)} on the {side} hand-side of the "
                f"operation: [{labels_str(m)}, {labels_str(right[s][0])}];many-to-many matching not "
                "allowed: matching labels must be unique on one side")
        right[s] = (m, v)
    matched: dict[Labels, set[Labels] | None] = {}
    out: VecT = []
    for lm, lv in lhs:
        s = sig(lm)
        found = right.get(s)
        if found is None:
            continue
        rm, rv = found
        vl, vr = (rv, lv) if matching.card == "one-to-many" else (lv, rv)
        value, keep = elem_binop(op, vl, vr)
        if return_bool:
            value = 1.0 if keep else 0.0
        elif not keep:
            continue
        metric = _result_metric(lm, rm, op, matching)
        if return_bool:
            metric = drop_name(metric)
        if matching.card == "one-to-one":
            if s in matched:
                raise exec_error("multiple matches for labels: many-to-one matching must be explicit "
                                 "(group_left/group_right)")
            matched[s] = None
        else:
            inserted = matched.get(s)
            if inserted is None:
                inserted = set()
                matched[s] = inserted
            elif metric in inserted:
                raise exec_error("multiple matches for labels: grouping labels must ensure unique matches")
            inserted.add(metric)
        out.append((metric, value))
    return out


# --- aggregation ---------------------------------------------------------------------------------

def _less(a: float, b: float) -> bool:
    """vectorByValueHeap.Less: NaN sorts first."""
    return True if math.isnan(a) else a < b


def _rless(a: float, b: float) -> bool:
    """vectorByReverseValueHeap.Less."""
    return True if math.isnan(a) else a > b


def _heap_up(h: list[tuple[Labels, float]], j: int, less: Callable[[float, float], bool]) -> None:
    while True:
        i = (j - 1) // 2
        if i == j or j <= 0 or not less(h[j][1], h[i][1]):
            break
        h[i], h[j] = h[j], h[i]
        j = i


def _heap_down(h: list[tuple[Labels, float]], i0: int, n: int, less: Callable[[float, float], bool]) -> None:
    i = i0
    while True:
        j1 = 2 * i + 1
        if j1 >= n or j1 < 0:
            break
        j = j1
        j2 = j1 + 1
        if j2 < n and less(h[j2][1], h[j1][1]):
            j = j2
        if not less(h[j][1], h[i][1]):
            break
        h[i], h[j] = h[j], h[i]
        i = j


def _heap_push(h: list[tuple[Labels, float]], x: tuple[Labels, float], less: Callable[[float, float], bool]) -> None:
    h.append(x)
    _heap_up(h, len(h) - 1, less)


def _heap_pop(h: list[tuple[Labels, float]], less: Callable[[float, float], bool]) -> None:
    n = len(h) - 1
    h[0], h[n] = h[n], h[0]
    _heap_down(h, 0, n, less)
    h.pop()


def quantile(q: float, values: list[float]) -> float:
    """Prometheus's quantile(): linear interpolation between the closest ranks, NaN sorted first."""
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    if math.isnan(q):
        return math.nan  # as Prometheus 2.42 answers (checked against it)
    vals = sorted(values, key=lambda v: (0, 0.0) if math.isnan(v) else (1, v))
    n = float(len(vals))
    rank = q * (n - 1)
    lower = max(0.0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return vals[int(lower)] * (1 - weight) + vals[int(upper)] * weight


def aggregate(op: str, vec: VecT, grouping: Sequence[str], without: bool, param: float | str | None) -> VecT:
    k = 0
    if op in ("topk", "bottomk"):
        assert isinstance(param, float)
        kk = gomath.to_int64(param)
        if kk is None:
            raise exec_error(f"Scalar value {format_value(param)} overflows int64")
        k = kk
        if k < 1:
            return []
    value_label = ""
    groups_names = list(grouping)
    if op == "count_values":
        assert isinstance(param, str)
        value_label = param
        if not _is_label_name(value_label):
            raise exec_error(f'invalid label name "{value_label}"')
        if not without:
            groups_names.append(value_label)
    names = frozenset(groups_names)
    groups: dict[Labels, list] = {}  # key -> [labels, value, mean, count, heap]
    order: list[Labels] = []
    for metric, v in vec:
        if op == "count_values":
            d = dict(metric)
            d[value_label] = format_value(v)
            metric = tuple(sorted(d.items()))
        if without:  # list comprehensions: a third faster than generators at one key per sample
            key = tuple([p for p in metric if p[0] not in names and p[0] != NAME])
        else:
            key = tuple([p for p in metric if p[0] in names])
        g = groups.get(key)
        if g is None:
            g = [key, v, v, 1, []]
            groups[key] = g
            order.append(key)
            if op in ("stddev", "stdvar"):
                g[1] = 0.0
            elif op in ("topk", "quantile"):
                _heap_push(g[4], (metric, v), _less)
            elif op == "bottomk":
                _heap_push(g[4], (metric, v), _rless)
            elif op == "group":
                g[1] = 1.0
            continue
        if op == "sum":
            g[1] += v
        elif op == "avg":
            g[3] += 1
            mean = g[2]
            if math.isinf(mean):
                if math.isinf(v) and (mean > 0) == (v > 0):
                    continue
                if not math.isinf(v) and not math.isnan(v):
                    continue
            g[2] = mean + (v / g[3] - mean / g[3])
        elif op == "max":
            if g[1] < v or g[1] != g[1]:
                g[1] = v
        elif op == "min":
            if g[1] > v or g[1] != g[1]:
                g[1] = v
        elif op in ("count", "count_values"):
            g[3] += 1
        elif op in ("stddev", "stdvar"):
            g[3] += 1
            delta = v - g[2]
            g[2] += delta / g[3]
            g[1] += delta * (v - g[2])
        elif op == "topk":
            h = g[4]
            if len(h) < k or h[0][1] < v or h[0][1] != h[0][1]:
                if len(h) == k:
                    _heap_pop(h, _less)
                _heap_push(h, (metric, v), _less)
        elif op == "bottomk":
            h = g[4]
            if len(h) < k or h[0][1] > v or h[0][1] != h[0][1]:
                if len(h) == k:
                    _heap_pop(h, _rless)
                _heap_push(h, (metric, v), _rless)
        elif op == "quantile":
            g[4].append((metric, v))
    out: VecT = []
    for key in order:
        g = groups[key]
        if op == "avg":
            value = g[2]
        elif op in ("count", "count_values"):
            value = float(g[3])
        elif op == "stdvar":
            value = g[1] / g[3]
        elif op == "stddev":
            value = gomath.sqrt(g[1] / g[3])
        elif op in ("topk", "bottomk"):
            # Prometheus returns each group best first (NaN last), and instant results keep that order.
            sign = -1.0 if op == "topk" else 1.0
            out.extend(sorted(g[4], key=lambda s: (1, 0.0) if math.isnan(s[1]) else (0, sign * s[1])))
            continue
        elif op == "quantile":
            assert isinstance(param, float)
            value = quantile(param, [v for _, v in g[4]])
        else:
            value = g[1]
        out.append((g[0], value))
    return out


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """bucketQuantile: `buckets` are (upper bound, cumulative count)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    buckets = sorted(buckets, key=lambda b: b[0])
    if buckets[-1][0] != math.inf:
        return math.nan
    merged: list[list[float]] = []
    for ub, c in buckets:  # coalesceBuckets: equal bounds add up
        if merged and merged[-1][0] == ub:
            merged[-1][1] += c
        else:
            merged.append([ub, c])
    top = -math.inf
    for bk in merged:  # ensureMonotonic: a count never goes down
        if bk[1] > top:
            top = bk[1]
        elif bk[1] < top:
            bk[1] = top
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    n = len(merged) - 1
    b = next((i for i in range(n) if merged[i][1] >= rank), n)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    bucket_start = 0.0
    bucket_end = merged[b][0]
    count = merged[b][1]
    if b > 0:
        bucket_start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return bucket_start + (bucket_end - bucket_start) * (rank / count)


def histogram_quantile(q: float, vec: VecT) -> VecT:
    groups: dict[tuple[Labels, str], tuple[Labels, list[tuple[float, float]]]] = {}
    for metric, v in vec:
        d = dict(metric)
        try:
            ub = float(d.get("le", "x"))
        except ValueError:
            continue  # no or malformed bucket label: skipped, as Prometheus does
        name = d.pop(NAME, "")
        d.pop("le", None)
        out_labels = tuple(sorted(d.items()))
        # The metric name is part of the group so two histograms never merge (prometheus#9910).
        g = groups.setdefault((out_labels, name), (out_labels, []))
        g[1].append((ub, v))
    return [(lab, bucket_quantile(q, b)) for lab, b in groups.values() if b]


__all__ = [
    "ARITHMETIC",
    "aggregate",
    "drop_name",
    "histogram_quantile",
    "quantile",
    "scalar_binop",
    "set_op",
    "vector_binop",
    "vector_scalar",
]
