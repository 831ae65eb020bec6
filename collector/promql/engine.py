"""PromQL evaluation: instant and range queries over any storage with `select` (the TSDB).

Prometheus evaluates a range query node by node over all steps; this engine evaluates the whole
tree once per step, which gives the same values because every node's value at a step depends
only on that step (subquery steps are aligned to multiples of their interval, as Prometheus
aligns them). Each selector's samples are read from storage once per query, for the union of
the windows that all steps need, and sliced per step with binary search. The hot cases go series
by series over all steps instead, as Prometheus does: a range function over a selector
(`rate(x[5m])`, one sliding window per series, steps.py) and an instant selector; at the top of a
range query their per-series arrays are the result, with no per-step vectors in between.

Semantics kept from Prometheus 2.42: a 5-minute lookback whose lower edge is inclusive, staleness
markers end a series at once, range windows closed at both ends, `rate` extrapolation,
metric-name dropping, and "vector cannot contain metrics with the same labelset" checks.
"""

from __future__ import annotations

import math
import struct
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from pydock.collector.promql import functions as fn
from pydock.collector.promql import operators as ops
from pydock.collector.promql.ast import (
    COMPARISON,
    MATRIX,
    SCALAR,
    SET_OPS,
    STRING,
    TYPE_NAMES,
    AggregateExpr,
    BinaryExpr,
    Call,
    LogRangeExpr,
    MatrixSelector,
    Node,
    NumberLiteral,
    ParenExpr,
    StringLiteral,
    SubqueryExpr,
    UnaryExpr,
    VectorSelector,
)
from pydock.collector.promql.limits import QueryContext, QueryGate, QueryLimits
from pydock.collector.promql.operators import VecT, drop_name, exec_error
from pydock.collector.promql.parser import parse
from pydock.collector.promql.steps import over_steps
from pydock.collector.promql.values import (
    Labels,
    Matrix,
    Sample,
    Scalar,
    Series,
    String,
    Value,
    Vector,
    labels_of,
)
from pydock.collector.promql.vectorized import OVER_TIME, extrapolated_all, extrapolated_one, over_time_one
from pydock.collector.tsdb import STALE_NAN_BITS, FlatSelection, Matcher, is_stale_nan

from pydock.errors import PromQLError

LOOKBACK_MS = 5 * 60 * 1000
_FLAT_FUNCS = frozenset(("rate", "increase", "delta", *OVER_TIME))  # instant forms over all series at once
MAX_POINTS = 11_000


class Storage(Protocol):
    def select(self, matchers: Iterable[Matcher], start_ms: int, end_ms: int) -> Iterable[
            tuple[dict[str, str], list[tuple[int, float]]]]: ...


def seconds_to_ms(t: float) -> int:
    """Prometheus's API time conversion: seconds rounded to the millisecond (as parseTime does)."""
    if not math.isfinite(t):
        raise PromQLError(f"cannot parse {t!r} to a valid timestamp")
    whole = math.trunc(t)
    frac = round((t - whole) * 1000) / 1000
    return int(whole) * 1000 + int(frac * 1e9) // 1_000_000


def step_to_ms(step: float) -> int:
    """A float step in seconds -> ms the way Go's time.Duration and durationMilliseconds truncate."""
    return int(step * 1e9) // 1_000_000


@dataclass
class _Series:
    labels: Labels
    ts: list[int]
    vs: list[float]
    has_stale: bool


MatT = list[tuple[Labels, list[int], list[float]]]


class Engine:
    """Evaluates PromQL against `storage` (anything with TSDB's `select`, ideally `select_arrays`)."""

    def __init__(self, storage: Any, lookback_delta_ms: int = LOOKBACK_MS,
                 default_subquery_step_ms: int = 60_000, limits: QueryLimits | None = None,
                 logstore: Any = None) -> None:
        self.storage = storage
        self.logstore = logstore  # a LogStore for LogQL range aggregations; the app sets it after opening one
        self.lookback_ms = lookback_delta_ms
        self.subquery_step_ms = default_subquery_step_ms
        self.limits = limits or QueryLimits()
        self.gate = QueryGate(self.limits)

    def cancel_all(self, close: bool = False) -> None:
        """Cancel the running queries (they raise "query was canceled"); `close` refuses new ones."""
        self.gate.cancel_all(close)

    @staticmethod
    def parse(expr: str) -> Node:
        return parse(expr)

    def logql(self) -> Any:
        """The LogQL evaluator over `logstore`, with container labels (image, container_label_*) read
        from the metrics' `container_last_seen` (cAdvisor) and `pydock_container_state` series."""
        from pydock.collector.logql import LogQLEvaluator

        return LogQLEvaluator(self.logstore, self._container_labels)

    def _container_labels(self, start_ms: int, end_ms: int) -> dict[str, dict[str, str]]:
        series = getattr(self.storage, "series", None)
        if series is None:
            return {}
        out: dict[str, dict[str, str]] = {}
        for lb in series([("__name__", "=~", "container_last_seen|pydock_container_state"), ("name", "!=", "")],
                         start_ms - self.lookback_ms, end_ms):
            out[lb["name"]] = {k: v for k, v in lb.items()
                               if k == "image" or (k.startswith("container_label_") and v)}
        return out

    def instant(self, expr: str | Node, t: float) -> Value:
        """Evaluate at `t` (unix seconds): a Vector, Scalar, String, or Matrix for range selectors."""
        node = parse(expr) if isinstance(expr, str) else expr
        t_ms = seconds_to_ms(t)
        with self.gate.enter() as ctx:
            ev = _Evaluator(self, node, t_ms, t_ms, 0, ctx)
            val = ev.eval(node, t_ms)
        if node.type == SCALAR:
            return Scalar(t_ms, float(val))
        if node.type == STRING:
            return String(t_ms, str(val))
        if node.type == MATRIX:
            return Matrix(tuple(Series(m, ts, vs) for m, ts, vs in val))
        return Vector(tuple(Sample(m, t_ms, v) for m, v in val))

    def range(self, expr: str | Node, start: float, end: float, step: float) -> Matrix:
        node = parse(expr) if isinstance(expr, str) else expr
        if node.type not in (SCALAR, "vector"):
            raise PromQLError(f"invalid expression type \"{TYPE_NAMES[node.type]}\" for range query, "
                              "must be Scalar or instant Vector")
        start_ms, end_ms, step_ms = seconds_to_ms(start), seconds_to_ms(end), step_to_ms(step)
        if end_ms < start_ms:
            raise PromQLError("end timestamp must not be before start time")
        if step_ms <= 0:
            raise PromQLError("zero or negative query resolution step widths are not accepted. "
                              "Try a positive integer")
        if (end_ms - start_ms) // step_ms > MAX_POINTS:
            raise PromQLError("exceeded maximum resolution of 11,000 points per timeseries. "
                              "Try decreasing the query resolution (?step=XX)")
        with self.gate.enter() as ctx:
            return self._range(node, start_ms, end_ms, step_ms, ctx)

    def _range(self, node: Node, start_ms: int, end_ms: int, step_ms: int, ctx: QueryContext) -> Matrix:
        ev = _Evaluator(self, node, start_ms, end_ms, step_ms, ctx)
        whole = ev.all_steps(node)
        if whole is not None:
            return Matrix(tuple(Series(m, ts, vs) for m, ts, vs in sorted(whole, key=_first)))
        series: dict[Labels, tuple[list[int], list[float]]] = {}
        for t in ev.steps:
            val = ev.eval(node, t)
            if node.type == SCALAR:
                ctx.charge(1)
                ts, vs = series.setdefault((), ([], []))
                ts.append(t)
                vs.append(float(val))
            else:
                ctx.charge(len(val))
                for m, v in val:
                    ts, vs = series.setdefault(m, ([], []))
                    ts.append(t)
                    vs.append(v)
        return Matrix(tuple(Series(m, ts, vs) for m, (ts, vs) in sorted(series.items())))


def _without_stale(s: _Series) -> tuple[list[int], list[float]]:
    if not s.has_stale:
        return s.ts, s.vs
    keep = [k for k, v in enumerate(s.vs) if not (math.isnan(v) and is_stale_nan(v))]
    return [s.ts[k] for k in keep], [s.vs[k] for k in keep]


_STALE_BYTES = struct.pack("=Q", STALE_NAN_BITS)  # native order, as array.tobytes()


def _may_hold_stale(vs: Sequence[float]) -> bool:
    """Whether `vs` may hold a staleness marker. For the TSDB's arrays, a search of their bytes for
    the marker's (a match across two values is possible and only costs the exact per-value checks
    that follow wherever has_stale is set); otherwise per value."""
    if isinstance(vs, array) and vs.typecode == "d":
        return _STALE_BYTES in vs.tobytes()
    return any(map(math.isnan, vs)) and any(map(is_stale_nan, vs))


def _flat_without_stale(flat: FlatSelection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A flat read's timestamps, values and per-series counts as numpy arrays, staleness markers
    (the one NaN payload, not other NaNs) removed."""
    t_all = np.frombuffer(flat.ts, dtype=np.int64) if flat.ts else np.zeros(0, dtype=np.int64)
    v_all = np.frombuffer(flat.vs, dtype=np.float64) if flat.vs else np.zeros(0, dtype=np.float64)
    lens = np.array(flat.counts, dtype=np.int64)
    if not _may_hold_stale(flat.vs):
        return t_all, v_all, lens
    keep = v_all.view(np.uint64) != STALE_NAN_BITS
    series = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    return t_all[keep], v_all[keep], np.bincount(series[keep], minlength=len(lens)).astype(np.int64)


class _SeriesBySelector(dict[int, list[_Series]]):
    """Per selector, its series as `_Series` (one object and two arrays each): made from the flat
    read the first time a per-series path asks, so the all-series paths never pay for them."""

    def __init__(self, flat: dict[int, FlatSelection]) -> None:
        super().__init__()
        self._flat = flat

    def __missing__(self, key: int) -> list[_Series]:
        flat = self._flat[key]
        stale = _may_hold_stale(flat.vs)  # one search of all values; per series only where it found one
        out = []
        a = 0
        for labels, n in zip(flat.keys, flat.counts):
            ts, vs = flat.ts[a:a + n], flat.vs[a:a + n]
            out.append(_Series(labels, ts, vs, stale and _may_hold_stale(vs)))
            a += n
        self[key] = out
        return out


def _first(row: tuple[Labels, list[int], list[float]]) -> Labels:
    return row[0]


def _go_round(x: float) -> int:
    """Go's math.Round: halves away from zero (Python's round() goes to even)."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def _one_metric_name(arg: Node) -> bool:
    """True when a range argument selects a single metric name, so dropping it cannot merge series."""
    arg = _unparen(arg)
    sel = arg.selector if isinstance(arg, MatrixSelector) else None
    return sel is not None and any(m.name == "__name__" and m.op == "=" for m in sel.matchers)


def _unparen(node: Node) -> Node:
    while isinstance(node, ParenExpr):
        node = node.expr
    return node


class _Evaluator:
    def __init__(self, engine: Engine, root: Node, start: int, end: int, interval: int,
                 ctx: QueryContext) -> None:
        self.engine = engine
        self.ctx = ctx
        self.start, self.end = start, end
        self.lookback = engine.lookback_ms
        self.windows: dict[int, tuple[VectorSelector, int, int]] = {}
        self.flat: dict[int, FlatSelection] = {}  # what select_flat read, per selector
        self.data = _SeriesBySelector(self.flat)  # the same as _Series, made on first use
        self.sources: dict[int, dict[Labels, Labels]] = {}
        self.sub_cache: dict[tuple[int, int], Any] = {}
        # Range queries: the top-level steps, and results of range functions computed for all of them
        # at once (one pass per series instead of one pass over all series per step).
        self.steps: list[int] = list(range(start, end + 1, interval)) if interval > 0 else []
        self.step_results: dict[int, dict[int, VecT]] = {}
        self.in_subquery = 0
        self.log_windows: dict[int, tuple[LogRangeExpr, int, int]] = {}
        self.log_data: dict[int, Any] = {}
        self._plan(root, start, end)
        self._fetch()

    # --- reading storage once per selector ------------------------------------------------------

    def at_ms(self, at: float | str | None, t: int) -> int:
        if at is None:
            return t
        if at == "start":
            return self.start
        if at == "end":
            return self.end
        assert isinstance(at, float)
        return _go_round(at * 1000)

    def _window(self, sel: VectorSelector, lo: int, hi: int) -> None:
        key = id(sel)
        if key in self.windows:
            _, a, b = self.windows[key]
            lo, hi = min(lo, a), max(hi, b)
        self.windows[key] = (sel, lo, hi)

    def _plan(self, node: Node, start: int, end: int) -> None:
        if isinstance(node, VectorSelector):
            t0, t1 = self.at_ms(node.at, start), self.at_ms(node.at, end)
            self._window(node, t0 - node.offset - self.lookback, t1 - node.offset)
        elif isinstance(node, MatrixSelector):
            s = node.selector
            t0, t1 = self.at_ms(s.at, start), self.at_ms(s.at, end)
            self._window(s, t0 - s.offset - node.range, t1 - s.offset)
        elif isinstance(node, SubqueryExpr):
            t0, t1 = self.at_ms(node.at, start), self.at_ms(node.at, end)
            self._plan(node.expr, t0 - node.offset - node.range, t1 - node.offset)
        elif isinstance(node, (ParenExpr, UnaryExpr)):
            self._plan(node.expr, start, end)
        elif isinstance(node, BinaryExpr):
            self._plan(node.lhs, start, end)
            self._plan(node.rhs, start, end)
        elif isinstance(node, AggregateExpr):
            self._plan(node.expr, start, end)
            if node.param is not None:
                self._plan(node.param, start, end)
        elif isinstance(node, Call):
            for a in node.args:
                self._plan(a, start, end)
        elif isinstance(node, LogRangeExpr):
            prev = self.log_windows.get(id(node))
            if prev is not None:
                start, end = min(start, prev[1]), max(end, prev[2])
            self.log_windows[id(node)] = (node, start, end)

    def _fetch(self) -> None:
        if self.log_windows:
            logql = self.engine.logql()
            for key, (lnode, lo, hi) in self.log_windows.items():
                prepared = logql.prepare(lnode.query, lo, hi)
                self.ctx.charge(sum(len(s.times) for s in prepared.series.values()))
                self.log_data[key] = prepared
        storage = self.engine.storage
        for key, (sel, lo, hi) in self.windows.items():
            # An instant query reads all series end to end (its all-series paths use that as it is);
            # a range query wants each series' own arrays, without a second copy of everything.
            if not self.steps and hasattr(storage, "select_flat"):
                flat = storage.select_flat(sel.matchers, lo, hi)
                self.ctx.charge(len(flat.ts))  # every point loaded stays in memory for the whole query
                self.flat[key] = flat
                continue
            pairs = hasattr(storage, "select_columns")
            if pairs:
                rows = storage.select_columns(sel.matchers, lo, hi, label_pairs=True)
            elif hasattr(storage, "select_arrays"):
                rows = storage.select_arrays(sel.matchers, lo, hi)
            else:
                rows = []
                for labels, pts in storage.select(sel.matchers, lo, hi):
                    rows.append((labels, [p[0] for p in pts], [p[1] for p in pts]))
            out = []
            for labels, ts, vs in rows:
                self.ctx.charge(len(ts))
                out.append(_Series(labels if pairs else labels_of(labels), ts, vs, _may_hold_stale(vs)))
            self.data[key] = out

    # --- evaluation -----------------------------------------------------------------------------

    def eval(self, node: Node, t: int) -> Any:
        self.ctx.check()
        if isinstance(node, NumberLiteral):
            return node.value
        if isinstance(node, StringLiteral):
            return node.value
        if isinstance(node, ParenExpr):
            return self.eval(node.expr, t)
        if isinstance(node, VectorSelector):
            return [(s.labels, v) for s, _, v in self.select_instant(node, t)]
        if isinstance(node, MatrixSelector):
            return self.select_range(node, t)[0]
        if isinstance(node, SubqueryExpr):
            return self.subquery(node, t)[0]
        if isinstance(node, UnaryExpr):
            val = self.eval(node.expr, t)
            if node.op == "+":
                return val
            if node.expr.type == SCALAR:
                return -val
            out = [(drop_name(m), -v) for m, v in val]
            self.track(node, [(o[0], m) for o, (m, _) in zip(out, val)])
            return out
        if isinstance(node, BinaryExpr):
            return self.binary(node, t)
        if isinstance(node, AggregateExpr):
            return self.aggregate(node, t)
        if isinstance(node, Call):
            return self.call(node, t)
        if isinstance(node, LogRangeExpr):
            return self.log_data[id(node)].at(t)
        raise exec_error(f"unhandled expression {type(node).__name__}")

    def track(self, node: Node, pairs: Iterable[tuple[Labels, Labels]]) -> None:
        """Whole-result duplicate check (matrix functions, unary minus): two input series that end up
        with one label set at any step is an error, as Prometheus's ContainsSameLabelset."""
        seen = self.sources.setdefault(id(node), {})
        for out, src in pairs:
            prev = seen.setdefault(out, src)
            if prev != src:
                raise exec_error("vector cannot contain metrics with the same labelset")

    def check_dups(self, vec: VecT) -> VecT:
        """Per-step duplicate check, as Prometheus's rangeEval makes at every step."""
        if len(vec) > 1:
            seen = set()
            for m, _ in vec:
                if m in seen:
                    raise exec_error("vector cannot contain metrics with the same labelset")
                seen.add(m)
        return vec

    def select_instant(self, node: VectorSelector, t: int) -> list[tuple[_Series, int, float]]:
        ref = self.at_ms(node.at, t) - node.offset
        low = ref - self.lookback
        out = []
        for s in self.data[id(node)]:
            i = bisect_right(s.ts, ref) - 1
            if i < 0:
                continue
            st = s.ts[i]
            if st < low:
                continue
            v = s.vs[i]
            if s.has_stale and math.isnan(v) and is_stale_nan(v):
                continue
            out.append((s, st, v))
        return out

    def select_range(self, node: MatrixSelector, t: int) -> tuple[MatT, int, int]:
        sel = node.selector
        hi = self.at_ms(sel.at, t) - sel.offset
        lo = hi - node.range
        out: MatT = []
        for s in self.data[id(sel)]:
            i = bisect_left(s.ts, lo)
            j = bisect_right(s.ts, hi)
            if i >= j:
                continue
            ts, vs = s.ts[i:j], s.vs[i:j]
            if s.has_stale:
                keep = [k for k, v in enumerate(vs) if not (math.isnan(v) and is_stale_nan(v))]
                if len(keep) != len(vs):
                    ts = [ts[k] for k in keep]
                    vs = [vs[k] for k in keep]
                if not ts:
                    continue
            out.append((s.labels, ts, vs))
        return out, lo, hi

    def subquery(self, node: SubqueryExpr, t: int) -> tuple[MatT, int, int]:
        hi = self.at_ms(node.at, t) - node.offset
        lo = hi - node.range
        step = node.step or self.engine.subquery_step_ms
        first = step * (lo // step if lo >= 0 else -(-lo // step))  # Go's division truncates toward 0
        if first < lo:
            first += step
        series: dict[Labels, tuple[list[int], list[float]]] = {}
        st = first
        ctx = self.ctx
        # Each step counts as at least one sample (its cache entry is memory too), so a subquery like
        # `x[100y:1ms]` is refused before its first step instead of running until memory is gone.
        ctx.need((hi - first) // step + 1 if hi >= first else 0)
        self.in_subquery += 1
        try:
            while st <= hi:
                # Inner steps sit on a global grid, so successive outer steps share most of them.
                key = (id(node), st)
                inner = self.sub_cache.get(key)
                if inner is None:
                    inner = self.sub_cache[key] = self.eval(node.expr, st)
                    ctx.charge(len(inner) or 1)
                else:
                    ctx.check()
                for m, v in inner:
                    ts, vs = series.setdefault(m, ([], []))
                    ts.append(st)
                    vs.append(v)
                st += step
        finally:
            self.in_subquery -= 1
        return [(m, ts, vs) for m, (ts, vs) in series.items()], lo, hi

    def binary(self, node: BinaryExpr, t: int) -> Any:
        lhs = self.eval(node.lhs, t)
        rhs = self.eval(node.rhs, t)
        lt, rt = node.lhs.type, node.rhs.type
        if lt == SCALAR and rt == SCALAR:
            return ops.scalar_binop(node.op, lhs, rhs)
        if lt != SCALAR and rt == SCALAR:
            return self.check_dups(ops.vector_scalar(node.op, lhs, rhs, False, node.return_bool))
        if lt == SCALAR:
            return self.check_dups(ops.vector_scalar(node.op, rhs, lhs, True, node.return_bool))
        assert node.matching is not None
        if node.op in SET_OPS:
            return self.check_dups(ops.set_op(node.op, lhs, rhs, node.matching))
        return self.check_dups(ops.vector_binop(node.op, lhs, rhs, node.matching, node.return_bool))

    def aggregate(self, node: AggregateExpr, t: int) -> VecT:
        param: float | str | None = None
        if node.param is not None:
            param = self.eval(node.param, t)
            if isinstance(param, int):
                param = float(param)
        vec = self.eval(node.expr, t)
        return ops.aggregate(node.op, vec, node.grouping, node.without, param)

    def call(self, node: Call, t: int) -> Any:
        name = node.func
        args = node.args
        if name == "time":
            return t / 1000
        if name == "pi":
            return math.pi
        if name == "vector":
            return [((), self.eval(args[0], t))]
        if name == "scalar":
            vec = self.eval(args[0], t)
            return vec[0][1] if len(vec) == 1 else math.nan
        if name == "timestamp":
            inner = _unparen(args[0])
            if isinstance(inner, VectorSelector):
                # Sample timestamps, not the evaluation time, as Prometheus special-cases this.
                out = [(drop_name(s.labels), st / 1000) for s, st, _ in self.select_instant(inner, t)]
            else:
                out = [(drop_name(m), t / 1000) for m, _ in self.eval(args[0], t)]
            return self.check_dups(out)
        if name == "absent":
            vec = self.eval(args[0], t)
            return [] if vec else [(self.absent_labels(args[0]), 1.0)]
        if name == "absent_over_time":
            mat = self.matrix_arg(args[0], t)[0]
            return [] if mat else [(self.absent_labels(args[0]), 1.0)]
        if any(a.type == MATRIX for a in args):
            return self.range_call(node, t)
        if name == "histogram_quantile":
            q = self.eval(args[0], t)
            return self.check_dups(ops.histogram_quantile(q, self.eval(args[1], t)))
        if name == "label_replace":
            vec = self.eval(args[0], t)
            strs = [self.eval(a, t) for a in args[1:]]
            return self.check_dups(fn.label_replace(vec, *strs))
        if name == "label_join":
            vec = self.eval(args[0], t)
            strs = [self.eval(a, t) for a in args[1:]]
            return self.check_dups(fn.label_join(vec, strs[0], strs[1], strs[2:]))
        if name in fn.DATE_FUNCS:
            vec = self.eval(args[0], t) if args else None
            return self.check_dups(fn.date_function(name, vec, t))
        vec = self.eval(args[0], t)
        scalars = [self.eval(a, t) for a in args[1:]]
        return self.check_dups(fn.simple_function(name, vec, scalars))

    def absent_labels(self, arg: Node) -> Labels:
        if isinstance(arg, MatrixSelector):
            arg = arg.selector
        if not isinstance(arg, VectorSelector):
            return ()
        out: dict[str, str] = {}
        empty: list[str] = []
        for m in arg.matchers:
            if m.name == "__name__":
                continue
            if m.op == "=" and m.name not in out:
                out[m.name] = m.value
            else:
                empty.append(m.name)
        for name in empty:
            out.pop(name, None)
        return tuple(sorted(out.items()))

    def matrix_arg(self, arg: Node, t: int) -> tuple[MatT, int, int]:
        arg = _unparen(arg)
        if isinstance(arg, MatrixSelector):
            return self.select_range(arg, t)
        if isinstance(arg, SubqueryExpr):
            return self.subquery(arg, t)
        raise exec_error("expected a range vector")

    def range_call(self, node: Call, t: int) -> VecT:
        idx = next(i for i, a in enumerate(node.args) if a.type == MATRIX)
        if self.steps and not self.in_subquery:
            done = self.step_results.get(id(node))
            if done is None and self._all_steps_ok(node, idx):
                done = self.step_results[id(node)] = self._range_call_all_steps(node, idx)
            if done is not None:
                return done.get(t, [])
        if not self.in_subquery and node.func in _FLAT_FUNCS:
            fast = self._flat_instant(node, idx, t)
            if fast is not None:
                return fast
        scalars = [self.eval(a, t) for i, a in enumerate(node.args) if i != idx]
        mat, lo, hi = self.matrix_arg(node.args[idx], t)
        rng = hi - lo
        keep_name = node.func == "last_over_time"  # the one function 2.42 leaves the name on
        out: VecT = []
        pairs = []
        func = node.func
        for m, ts, vs in mat:
            v = fn.range_function(func, ts, vs, lo, hi, rng, t, scalars)
            if v is not None:
                dm = m if keep_name else drop_name(m)
                out.append((dm, v))
                pairs.append((dm, m))
        if not keep_name and not _one_metric_name(node.args[idx]):
            self.track(node, pairs)  # dropping names may have made two series one
        return out

    def _flat_instant(self, node: Call, idx: int, t: int) -> VecT | None:
        """rate/increase/delta or avg/sum/count/min/max_over_time of a plain range selector at one
        instant, all series in one numpy pass over the TSDB's flat read (vectorized.py): the same
        values as `fn.range_function` series by series, with no Python object per series on the way.
        None where it does not apply (one series, a span too wide for its keys, too few series)."""
        arg = _unparen(node.args[idx])
        if not isinstance(arg, MatrixSelector):
            return None
        sel = arg.selector
        flat = self.flat.get(id(sel))
        if flat is None or len(flat.keys) < 2:
            return None
        hi = self.at_ms(sel.at, t) - sel.offset
        func = node.func
        t_all, v_all, lens = _flat_without_stale(flat)
        values: list[float | None] | None
        if func in OVER_TIME:
            values = over_time_one(func, t_all, v_all, lens, hi - arg.range, hi)
        else:
            try:
                values = extrapolated_one(t_all, v_all, lens, hi, arg.range, func != "delta", func == "rate")
            except OverflowError:
                values = None
        if values is None:
            return None
        out: VecT = []
        pairs = []
        check = not _one_metric_name(node.args[idx])  # dropping names may make two series one
        for labels, v in zip(flat.keys, values):
            if v is not None:
                dm = drop_name(labels)
                out.append((dm, v))
                if check:
                    pairs.append((dm, labels))
        if check:
            self.track(node, pairs)
        return out

    def _all_steps_ok(self, node: Call, idx: int) -> bool:
        """The all-steps path needs a plain range selector and constant scalar arguments."""
        return isinstance(_unparen(node.args[idx]), MatrixSelector) and all(
            isinstance(_unparen(a), NumberLiteral) for i, a in enumerate(node.args) if i != idx)

    def _range_call_all_steps(self, node: Call, idx: int) -> dict[int, VecT]:
        """`_range_rows` regrouped by step, for a range function inside a larger expression."""
        out: dict[int, VecT] = {t: [] for t in self.steps}
        for m, ts, vs in self._range_rows(node, idx):
            for t, v in zip(ts, vs):
                out[t].append((m, v))
        return out

    def _range_rows(self, node: Call, idx: int) -> MatT:
        """A range function over a selector for every step of a range query, series by series, as
        Prometheus evaluates it; the values are the same as step by step."""
        arg = _unparen(node.args[idx])
        assert isinstance(arg, MatrixSelector)
        sel = arg.selector
        scalars = [_unparen(a).value for i, a in enumerate(node.args) if i != idx]  # type: ignore[attr-defined]
        keep_name = node.func == "last_over_time"
        func, rng = node.func, arg.range
        ends = [self.at_ms(sel.at, t) - sel.offset for t in self.steps]
        rows: MatT = []
        pairs = []
        data = self.data[id(sel)]
        inputs = [_without_stale(s) for s in data]
        results = None
        if func in ("rate", "increase", "delta") and len(data) > 1:
            try:  # every window of every series in a few array operations (vectorized.py)
                results = extrapolated_all(inputs, self.steps, ends, rng, func != "delta", func == "rate")
            except OverflowError:
                results = None
        for n, s in enumerate(data):
            if results is not None:
                out_t, out_v = results[n]
            else:
                ts, vs = inputs[n]
                out_t, out_v = over_steps(func, ts, vs, self.steps, ends, rng, scalars)
            self.ctx.charge(len(out_t))
            if out_t:
                dm = s.labels if keep_name else drop_name(s.labels)
                rows.append((dm, out_t, out_v))
                pairs.append((dm, s.labels))
        if not keep_name and not _one_metric_name(arg):
            self.track(node, pairs)
        return rows

    def _selector_rows(self, node: VectorSelector) -> MatT:
        """An instant selector at every step: per series, the newest sample in each step's lookback
        window, found by walking forward from the previous step's sample."""
        ends = [self.at_ms(node.at, t) - node.offset for t in self.steps]
        lookback = self.lookback
        rows: MatT = []
        for s in self.data[id(node)]:
            ts, vs, stale = s.ts, s.vs, s.has_stale
            out_t: list[int] = []
            out_v: list[float] = []
            i = 0
            for t, ref in zip(self.steps, ends):
                i = bisect_right(ts, ref, i)
                if i == 0 or ts[i - 1] < ref - lookback:
                    continue
                v = vs[i - 1]
                if stale and math.isnan(v) and is_stale_nan(v):
                    continue
                out_t.append(t)
                out_v.append(v)
            self.ctx.charge(len(out_t))
            if out_t:
                rows.append((s.labels, out_t, out_v))
        return rows

    def all_steps(self, node: Node) -> MatT | None:
        """The whole result of a range query at once, for the expressions that allow it (a range
        function over a selector, an instant selector); None for the others, which go step by step."""
        node = _unparen(node)
        if not self.steps:
            return None
        if isinstance(node, VectorSelector):
            return self._selector_rows(node)
        if (isinstance(node, Call) and node.func != "absent_over_time"
                and any(a.type == MATRIX for a in node.args)):
            idx = next(i for i, a in enumerate(node.args) if a.type == MATRIX)
            if self._all_steps_ok(node, idx):
                return self._range_rows(node, idx)
        return None


__all__ = ["COMPARISON", "Engine", "seconds_to_ms", "step_to_ms"]
