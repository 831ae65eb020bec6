"""The PromQL syntax tree: one frozen dataclass per node kind, with the value type it evaluates to.

Times and durations are integer milliseconds, as in Prometheus's engine, so that range boundaries
and step alignment match it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydock.collector.labelmatch import Matcher

SCALAR, VECTOR, MATRIX, STRING = "scalar", "vector", "matrix", "string"
TYPE_NAMES = {SCALAR: "scalar", VECTOR: "instant vector", MATRIX: "range vector", STRING: "string"}

ARITHMETIC = ("+", "-", "*", "/", "%", "^", "atan2")
COMPARISON = ("==", "!=", "<", "<=", ">", ">=")
SET_OPS = ("and", "or", "unless")


class Node:
    """Base of every node; `type` is one of SCALAR, VECTOR, MATRIX, STRING."""

    type: str = ""
    pos: int = 0


@dataclass(frozen=True, eq=False)
class NumberLiteral(Node):
    value: float
    pos: int = 0
    type: str = SCALAR


@dataclass(frozen=True, eq=False)
class StringLiteral(Node):
    value: str
    pos: int = 0
    type: str = STRING


@dataclass(frozen=True, eq=False)
class VectorSelector(Node):
    name: str | None
    matchers: tuple[Matcher, ...]
    offset: int = 0  # ms
    at: float | str | None = None  # seconds, or "start" / "end" for @ start() / @ end()
    pos: int = 0
    type: str = VECTOR


@dataclass(frozen=True, eq=False)
class MatrixSelector(Node):
    selector: VectorSelector
    range: int  # ms
    pos: int = 0
    type: str = MATRIX


@dataclass(frozen=True, eq=False)
class SubqueryExpr(Node):
    expr: Node
    range: int
    step: int  # 0: the default evaluation interval
    offset: int = 0
    at: float | str | None = None
    pos: int = 0
    type: str = MATRIX


@dataclass(frozen=True, eq=False)
class ParenExpr(Node):
    expr: Node
    pos: int = 0

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.expr.type


@dataclass(frozen=True, eq=False)
class UnaryExpr(Node):
    op: str
    expr: Node
    pos: int = 0

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.expr.type


@dataclass(frozen=True, eq=False)
class VectorMatching:
    card: str  # "one-to-one", "many-to-one", "one-to-many", "many-to-many"
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class BinaryExpr(Node):
    op: str
    lhs: Node
    rhs: Node
    matching: VectorMatching | None = None  # only between two vectors
    return_bool: bool = False
    pos: int = 0

    @property
    def type(self) -> str:  # type: ignore[override]
        return SCALAR if self.lhs.type == SCALAR and self.rhs.type == SCALAR else VECTOR


@dataclass(frozen=True, eq=False)
class AggregateExpr(Node):
    op: str
    expr: Node
    param: Node | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False
    pos: int = 0
    type: str = VECTOR


@dataclass(frozen=True, eq=False)
class Call(Node):
    func: str
    args: tuple[Node, ...] = field(default=())
    return_type: str = VECTOR
    pos: int = 0

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.return_type


@dataclass(frozen=True, eq=False)
class LogRangeExpr(Node):
    """A LogQL range aggregation (`count_over_time({name="web"} |= "panic" [5m])`) inside PromQL:
    `query` is its pydock.collector.logql RangeAggregation; it evaluates to an instant vector."""

    query: Any
    text: str = ""
    pos: int = 0
    type: str = VECTOR
