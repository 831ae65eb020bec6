"""Evaluating LogQL metric queries over any `LogStore` (its `query` with cursors, nothing more).

A range aggregation is prepared once for the union of the windows a query needs (one instant, or every
step of a range query): the store is read once, each line goes through the pipeline once, and each
step slices the resulting per-series time arrays with binary search, as the PromQL engine does with
the TSDB. Windows are Loki's: (t - range, t], left-open and right-closed.

Labels a selector names that the store does not keep (`image`, `container_label_*`) are looked up in
the container metrics through `metadata` (a callable: window -> {container name: labels}); the
PromQL engine passes one that reads cAdvisor's `container_last_seen` series from the TSDB.

Pushdown (docs/logql.md, Cost): the `|=` and `!=` needles of a pipeline go to the store as
`LogQuery.contains`/`excludes` (SQLite applies them with instr() and narrows whole tokens through
FTS5; the pipeline still runs on what comes back, so a store that ignores them stays correct). When
the pipeline is only such filters and the selector only names stored labels, a store that is a
`LineCounter` counts in SQL per stream and time bucket, and no line reaches Python at all.
"""

from __future__ import annotations

import dataclasses
import math
import time
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydock.collector.logql import pipeline
from pydock.collector.logql.ast import (
    STORE_LABELS,
    LineFilter,
    LogSelector,
    MetricExpr,
    RangeAggregation,
    VectorAggregation,
)
from pydock.collector.logstore import LineCounter, LogQuery, LogRecord

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
    times: list[int] = field(default_factory=list)  # ns, ascending: a line's time, or a bucket's upper end
    cum_count: list[int] = field(default_factory=lambda: [0])
    cum_bytes: list[int] = field(default_factory=lambda: [0])

    def add(self, t: int, count: int, nbytes: int) -> None:
        self.times.append(t)
        self.cum_count.append(self.cum_count[-1] + count)
        self.cum_bytes.append(self.cum_bytes[-1] + nbytes)


def substring_filters(sel: LogSelector) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The `|=` and `!=` needles of the pipeline: every line it keeps holds each of the first and none
    of the second (line filters always test the original line, wherever they stand)."""
    keep = tuple(st.value for st in sel.stages if isinstance(st, LineFilter) and st.op == "|=")
    drop = tuple(st.value for st in sel.stages if isinstance(st, LineFilter) and st.op == "!=")
    return keep, drop


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
            n = s.cum_count[j] - s.cum_count[i]
            if n == 0:
                continue
            if node.func == "count_over_time":
                out.append((labels, float(n)))
            elif node.func == "rate":
                out.append((labels, n / seconds))
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

    def records(self, sel: LogSelector, start_ns: int, end_ns: int, meta_window: tuple[int, int] | None = None,
                cursor: str = "", single_scan: bool = False,
                ) -> Iterator[tuple[dict[str, str], LogRecord, str]]:
        """Lines in [start_ns, end_ns) whose stream labels match the selector, newest first, each with
        its stream labels (plus container metadata when the selector asks for it) and the store's cursor
        that continues after it ("" when the store gives none). `single_scan`: one pass over the store
        in its order, from `cursor`, even when the selector names several containers (log queries page
        with it)."""
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
            w = meta_window or (start_ns // 1_000_000, (end_ns or time.time_ns()) // 1_000_000)
            meta = self.metadata(*w)
            meta_matchers = [m for m in sel.matchers if m.name not in STORE_LABELS]
            meta = {n: lb for n, lb in meta.items() if all(m.matches(lb.get(m.name, "")) for m in meta_matchers)}
            if "name" not in eq:
                if not meta:
                    return
                containers = sorted(meta) if len(meta) <= 50 and not single_scan else [""]
        keep, drop = substring_filters(sel)
        read = 0
        for container in containers:
            q = LogQuery(container=container, host=eq.get("host", ""), stream=eq.get("stream", ""),
                         start_ns=max(start_ns, 1), end_ns=end_ns, limit=PAGE, cursor=cursor,
                         contains=keep, excludes=drop)
            while True:
                page = self.store.query(q)
                read += len(page.records)
                if read > self.max_lines:
                    raise exec_error(f"the log query reads more than {self.max_lines} lines; narrow the selector "
                                     "or the range")
                cursors = page.cursors if len(page.cursors) == len(page.records) else [""] * len(page.records)
                for r, after in zip(page.records, cursors):
                    labels = stream_labels(r)
                    if needs_meta:
                        extra = meta.get(r.container_name)
                        if extra is None:
                            continue
                        labels.update(extra)
                    if all(m.matches(labels.get(m.name, "")) for m in sel.matchers):
                        yield labels, r, after
                if not page.next_cursor:
                    break
                q = dataclasses.replace(q, cursor=page.next_cursor)

    def lines(self, sel: LogSelector, start_ns: int, end_ns: int, limit: int = 100
              ) -> list[tuple[Labels, LogRecord]]:
        """A log query: the newest `limit` lines through the pipeline, with their labels."""
        return self.lines_page(sel, start_ns, end_ns, limit)[0]

    def lines_page(self, sel: LogSelector, start_ns: int, end_ns: int, limit: int = 100, cursor: str = ""
                   ) -> tuple[list[tuple[Labels, LogRecord]], str]:
        """A page of a log query, newest first, and the cursor of the next page ("" on the last page,
        or when the store gives no cursors per line)."""
        out: list[tuple[Labels, LogRecord]] = []
        last = ""
        for labels, r, after in self.records(sel, start_ns, end_ns, cursor=cursor, single_scan=True):
            got = pipeline.run(sel.stages, r.line, labels)
            if got is not None:
                if len(out) >= limit:
                    return out, last  # a line beyond the page exists: there is a next page
                out.append((tuple(sorted(got.items())), r))
                last = after
        return out, ""

    # --- metric queries ------------------------------------------------------------------------

    def prepare(self, node: RangeAggregation, start_ms: int, end_ms: int, step_ms: int = 0) -> Prepared:
        """Lines for every evaluation time in [start_ms, end_ms] (every `step_ms` from start_ms)."""
        lo_ns = (start_ms - node.range_ms) * 1_000_000 + 1  # windows are left-open
        hi_ns = end_ms * 1_000_000 + 1
        counted = self._count_in_store(node, start_ms, end_ms, step_ms)
        if counted is not None:
            return counted
        with_bytes = node.func in ("bytes_over_time", "bytes_rate")
        series: dict[Labels, _Series] = {}
        stages = node.selector.stages
        rows: list[tuple[Labels, int, int]] = []
        for labels, r, _ in self.records(node.selector, lo_ns, hi_ns, (start_ms - node.range_ms, end_ms)):
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
            s.add(t, 1, nbytes)
        return Prepared(node, series)

    def _count_in_store(self, node: RangeAggregation, start_ms: int, end_ms: int, step_ms: int
                        ) -> Prepared | None:
        """Counts from the store (LineCounter) when that is exact: the pipeline is only `|=`/`!=`
        filters (instr() in SQL is the same case-sensitive substring test) and every matcher names a
        stored label. Buckets are aligned on the first window's start and gcd(step, range) wide, so every
        window (t - range, t] is a whole number of buckets; one bucket of `range` for an instant (rules);
        1 ns when the evaluation times are not known (the PromQL engine's range queries): then a bucket
        is one line time, still exact, with as many rows as distinct matching times at most."""
        sel = node.selector
        if not isinstance(self.store, LineCounter) or self.store is None:
            return None
        if any(not (isinstance(st, LineFilter) and st.op in ("|=", "!=")) for st in sel.stages):
            return None
        if any(m.name not in STORE_LABELS for m in sel.matchers):
            return None
        range_ns = node.range_ms * 1_000_000
        if end_ms == start_ms:
            bucket_ns = range_ns
        elif step_ms:
            bucket_ns = math.gcd(range_ns, step_ms * 1_000_000)
        else:
            bucket_ns = 1
        base_ns = (start_ms - node.range_ms) * 1_000_000
        hi_ns = end_ms * 1_000_000
        if bucket_ns <= 0:
            return None
        eq = {m.name: m.value for m in sel.matchers if m.op == "="}
        keep, drop = substring_filters(sel)
        q = LogQuery(container=eq.get("name", "") or eq.get("container_id", ""), host=eq.get("host", ""),
                     stream=eq.get("stream", ""), start_ns=base_ns + 1, end_ns=hi_ns + 1, contains=keep,
                     excludes=drop)
        series: dict[Labels, _Series] = {}
        for (host, cid, name, stream), bucket, count, nbytes in sorted(self.store.count_lines(q, base_ns, bucket_ns),
                                                                       key=lambda x: x[1]):
            labels = {"name": name, "host": host, "stream": stream, "container_id": cid}
            if not all(m.matches(labels.get(m.name, "")) for m in sel.matchers):
                continue
            key = tuple(sorted(labels.items()))
            s = series.get(key)
            if s is None:
                s = series[key] = _Series()
            s.add(base_ns + (bucket + 1) * bucket_ns, count, nbytes)
        return Prepared(node, series)

    def instant(self, expr: MetricExpr, t_ms: int) -> Vector:
        return self.range(expr, t_ms, t_ms, 1).get(t_ms, [])

    def range(self, expr: MetricExpr, start_ms: int, end_ms: int, step_ms: int) -> dict[int, Vector]:
        """The metric query at every step: {t_ms: vector}."""
        prepared: dict[int, Prepared] = {}

        def collect(e: MetricExpr) -> None:
            if isinstance(e, RangeAggregation):
                prepared[id(e)] = self.prepare(e, start_ms, end_ms, step_ms)
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
