"""Evaluating LogQL metric queries over any `LogStore` (its `query` with cursors, nothing more).

A range aggregation is prepared once for the union of the windows a query needs (one instant, or every
step of a range query): the store is read once, each line goes through the pipeline once, and each
step slices the resulting per-series time arrays with binary search, as the PromQL engine does with
the TSDB. Windows are Loki's: (t - range, t], left-open and right-closed.

Labels a selector names that the store does not keep (`image`, `container_label_*`) are looked up in
the container metrics through `metadata` (a callable: window -> {container name: labels}); the
PromQL engine passes one that reads cAdvisor's `container_last_seen` series from the TSDB.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydock.collector.logql import pipeline
from pydock.collector.logql.ast import (
    STORE_LABELS,
    LogSelector,
    MetricExpr,
    RangeAggregation,
    VectorAggregation,
)
from pydock.collector.logstore import LogQuery, LogRecord

from pydock.errors import PromQLError

Labels = tuple[tuple[str, str], ...]
Vector = list[tuple[Labels, float]]
Metadata = Callable[[int, int], dict[str, dict[str, str]]]  # (start_ms, end_ms) -> name -> labels
PAGE = 5000
MAX_LINES = 5_000_000


def stream_labels(r: LogRecord) -> dict[str, str]:
    return {"name": r.container_name, "host": r.host, "stream": r.stream, "container_id": r.container_id}


def exec_error(msg: str) -> PromQLError:
    return PromQLError(msg, kind="execution")


@dataclass
class _Series:
    times: list[int] = field(default_factory=list)  # ns, ascending
    cum_bytes: list[int] = field(default_factory=lambda: [0])


@dataclass
class Prepared:
    """A range aggregation's lines for a span of evaluation times, ready to be sliced per step."""

    node: RangeAggregation
    series: dict[Labels, _Series]

    def at(self, t_ms: int) -> Vector:
        node = self.node
        hi = t_ms * 1_000_000
        lo = hi - node.range_ms * 1_000_000
        seconds = node.range_ms / 1000
        out: Vector = []
        for labels, s in self.series.items():
            i, j = bisect_right(s.times, lo), bisect_right(s.times, hi)
            if i >= j:
                continue
            if node.func == "count_over_time":
                out.append((labels, float(j - i)))
            elif node.func == "rate":
                out.append((labels, (j - i) / seconds))
            elif node.func == "bytes_over_time":
                out.append((labels, float(s.cum_bytes[j] - s.cum_bytes[i])))
            elif node.func == "bytes_rate":
                out.append((labels, (s.cum_bytes[j] - s.cum_bytes[i]) / seconds))
            elif node.func == "absent_over_time":
                return []
        if node.func == "absent_over_time":
            return [(absent_labels(node.selector), 1.0)]
        return out


def absent_labels(sel: LogSelector) -> Labels:
    """Loki's absent_over_time labels: the selector's equality matchers (a label matched twice is left out)."""
    out: dict[str, str] = {}
    twice: set[str] = set()
    for m in sel.matchers:
        if m.op == "=" and m.name not in out:
            out[m.name] = m.value
        else:
            twice.add(m.name)
    return tuple(sorted((k, v) for k, v in out.items() if k not in twice))


class LogQLEvaluator:
    """`store`: a LogStore; `metadata`: container labels from the metrics (see module docstring)."""

    def __init__(self, store: Any, metadata: Metadata | None = None, max_lines: int = MAX_LINES) -> None:
        self.store = store
        self.metadata = metadata
        self.max_lines = max_lines

    # --- reading lines -------------------------------------------------------------------------

    def records(self, sel: LogSelector, start_ns: int, end_ns: int, meta_window: tuple[int, int] | None = None
                ) -> Iterator[tuple[dict[str, str], LogRecord]]:
        """Lines in [start_ns, end_ns) whose stream labels match the selector, newest first, each with
        its stream labels (plus container metadata when the selector asks for it)."""
        if self.store is None:
            raise exec_error("LogQL needs the collector's log store, and this engine has none")
        eq = {m.name: m.value for m in sel.matchers if m.op == "="}
        needs_meta = any(m.name not in STORE_LABELS for m in sel.matchers)
        meta: dict[str, dict[str, str]] = {}
        containers: list[str] = [eq["name"]] if "name" in eq else [eq["container_id"]] if "container_id" in eq else [""]
        if needs_meta:
            if self.metadata is None:
                names = ", ".join(sorted({m.name for m in sel.matchers if m.name not in STORE_LABELS}))
                raise exec_error(f"log selector label(s) {names} need the container metrics, and this engine "
                                 "has none")
            w = meta_window or (start_ns // 1_000_000, end_ns // 1_000_000)
            meta = self.metadata(*w)
            meta_matchers = [m for m in sel.matchers if m.name not in STORE_LABELS]
            meta = {n: lb for n, lb in meta.items() if all(m.matches(lb.get(m.name, "")) for m in meta_matchers)}
            if "name" not in eq:
                if not meta:
                    return
                containers = sorted(meta) if len(meta) <= 50 else [""]
        read = 0
        for container in containers:
            q = LogQuery(container=container, host=eq.get("host", ""), stream=eq.get("stream", ""),
                         start_ns=max(start_ns, 1), end_ns=end_ns, limit=PAGE)
            while True:
                page = self.store.query(q)
                read += len(page.records)
                if read > self.max_lines:
                    raise exec_error(f"the log query reads more than {self.max_lines} lines; narrow the selector "
                                     "or the range")
                for r in page.records:
                    labels = stream_labels(r)
                    if needs_meta:
                        extra = meta.get(r.container_name)
                        if extra is None:
                            continue
                        labels.update(extra)
                    if all(m.matches(labels.get(m.name, "")) for m in sel.matchers):
                        yield labels, r
                if not page.next_cursor:
                    break
                q = LogQuery(q.text, q.container, q.host, q.stream, q.start_ns, q.end_ns, PAGE, page.next_cursor)

    def lines(self, sel: LogSelector, start_ns: int, end_ns: int, limit: int = 100
              ) -> list[tuple[Labels, LogRecord]]:
        """A log query: the newest `limit` lines through the pipeline, with their labels."""
        out: list[tuple[Labels, LogRecord]] = []
        for labels, r in self.records(sel, start_ns, end_ns):
            got = pipeline.run(sel.stages, r.line, labels)
            if got is not None:
                out.append((tuple(sorted(got.items())), r))
                if len(out) >= limit:
                    break
        return out

    # --- metric queries ------------------------------------------------------------------------

    def prepare(self, node: RangeAggregation, start_ms: int, end_ms: int) -> Prepared:
        """Lines for every evaluation time in [start_ms, end_ms]."""
        lo_ns = (start_ms - node.range_ms) * 1_000_000 + 1  # windows are left-open
        hi_ns = end_ms * 1_000_000 + 1
        with_bytes = node.func in ("bytes_over_time", "bytes_rate")
        series: dict[Labels, _Series] = {}
        stages = node.selector.stages
        rows: list[tuple[Labels, int, int]] = []
        for labels, r in self.records(node.selector, lo_ns, hi_ns, (start_ms - node.range_ms, end_ms)):
            got = pipeline.run(stages, r.line, labels)
            if got is None:
                continue
            rows.append((tuple(sorted(got.items())), r.time_ns, len(r.line.encode()) if with_bytes else 0))
        rows.reverse()  # the store answers newest first
        rows.sort(key=lambda x: x[1])  # stable: equal times keep their storage order
        for key, t, nbytes in rows:
            s = series.get(key)
            if s is None:
                s = series[key] = _Series()
            s.times.append(t)
            s.cum_bytes.append(s.cum_bytes[-1] + nbytes)
        return Prepared(node, series)

    def instant(self, expr: MetricExpr, t_ms: int) -> Vector:
        return self.range(expr, t_ms, t_ms, 1).get(t_ms, [])

    def range(self, expr: MetricExpr, start_ms: int, end_ms: int, step_ms: int) -> dict[int, Vector]:
        """The metric query at every step: {t_ms: vector}."""
        prepared: dict[int, Prepared] = {}

        def collect(e: MetricExpr) -> None:
            if isinstance(e, RangeAggregation):
                prepared[id(e)] = self.prepare(e, start_ms, end_ms)
            else:
                collect(e.expr)

        collect(expr)
        return {t: self._eval(expr, t, prepared) for t in range(start_ms, end_ms + 1, step_ms)}

    def _eval(self, e: MetricExpr, t: int, prepared: dict[int, Prepared]) -> Vector:
        if isinstance(e, RangeAggregation):
            return prepared[id(e)].at(t)
        return aggregate(e, self._eval(e.expr, t, prepared))


def aggregate(e: VectorAggregation, vec: Vector) -> Vector:
    groups: dict[Labels, list[float]] = {}
    for labels, v in vec:
        if e.without:
            key = tuple((k, x) for k, x in labels if k not in e.grouping)
        else:
            key = tuple((k, x) for k, x in labels if k in e.grouping)
        groups.setdefault(key, []).append(v)
    ops: dict[str, Callable[[list[float]], float]] = {
        "sum": sum, "min": min, "max": max, "avg": lambda vs: sum(vs) / len(vs), "count": lambda vs: float(len(vs))}
    return sorted((k, float(ops[e.op](vs))) for k, vs in groups.items())
