"""LogQL's syntax tree: frozen dataclasses for log selectors, pipeline stages and metric queries.

Times are integer milliseconds, as in the PromQL tree, so a LogQL range aggregation sits inside a
PromQL expression without unit conversions at the seam.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydock.collector.labelmatch import Matcher

# Labels the log store keeps per line (`name` is the container name, as cAdvisor's `name`).
STORE_LABELS = ("name", "host", "stream", "container_id")
# Labels a selector may use that come from the container metrics (image, container labels), joined
# on `name`; see evaluator.Metadata.
METADATA_LABELS = ("image",)
METADATA_PREFIX = "container_label_"

RANGE_FUNCS = ("count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time")
VECTOR_AGGS = ("sum", "min", "max", "avg", "count")


def is_log_label(name: str) -> bool:
    """A label a braces-only selector may name and still be read as LogQL (docs/logql.md)."""
    return name in STORE_LABELS or name in METADATA_LABELS or name.startswith(METADATA_PREFIX)


@dataclass(frozen=True, eq=False)
class LineFilter:
    """`|= "x"`, `!= "x"`, `|~ "re"`, `!~ "re"`: substring or unanchored RE2 search of the line."""

    op: str
    value: str
    pattern: re.Pattern[str] | None = None
    pos: int = 0

    def keep(self, line: str) -> bool:
        if self.op == "|=":
            return self.value in line
        if self.op == "!=":
            return self.value not in line
        assert self.pattern is not None
        found = self.pattern.search(line) is not None
        return found if self.op == "|~" else not found


@dataclass(frozen=True, eq=False)
class ParserStage:
    """`| json` or `| logfmt`: extracts labels from the line."""

    kind: str
    pos: int = 0


@dataclass(frozen=True, eq=False)
class LabelCompare:
    """`name op value`: string ops (=, !=, =~, !~) or numeric ones (==, !=, >, >=, <, <=)."""

    name: str
    op: str
    text: str = ""
    number: float | None = None  # set for numeric comparisons
    matcher: Matcher | None = None
    pos: int = 0


@dataclass(frozen=True, eq=False)
class LabelBinary:
    op: str  # "and" | "or"
    left: LabelExpr
    right: LabelExpr


LabelExpr = LabelCompare | LabelBinary


@dataclass(frozen=True, eq=False)
class LabelFilterStage:
    expr: LabelExpr
    pos: int = 0


Stage = LineFilter | ParserStage | LabelFilterStage


@dataclass(frozen=True, eq=False)
class LogSelector:
    """A stream selector and its pipeline: what a log query returns."""

    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()
    pos: int = 0

    @property
    def has_parser(self) -> bool:
        return any(isinstance(s, ParserStage) for s in self.stages)


@dataclass(frozen=True, eq=False)
class RangeAggregation:
    """`func(selector [range])`: one sample per stream (after the pipeline) at each evaluation time."""

    func: str
    selector: LogSelector
    range_ms: int
    pos: int = 0
    end: int = 0  # offset just past the closing parenthesis in the source text


@dataclass(frozen=True, eq=False)
class VectorAggregation:
    op: str
    expr: RangeAggregation | VectorAggregation
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: int = 0


MetricExpr = RangeAggregation | VectorAggregation
Expr = LogSelector | MetricExpr
