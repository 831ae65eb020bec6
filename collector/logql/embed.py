"""Where a PromQL expression holds a LogQL range aggregation: the rule that tells them apart.

A call to one of LogQL's range functions (count_over_time, rate, bytes_over_time, bytes_rate,
absent_over_time) whose argument starts with a braces-only selector `{...}` is LogQL when
  1. the selector is followed by a log pipeline (`|=`, `!=`, `|~`, `!~`, `| json`, ...), before or
     after its `[range]`; or
  2. it has no pipeline and every matcher names a log label: name, host, stream, container_id,
     image or container_label_* (so no `__name__`, `job`, `instance`, `id`, ...).
Everything else is PromQL, unchanged: `count_over_time(up[5m])`, `rate({__name__="x"}[1m])`,
`rate({job="a"}[1m])`. To force PromQL on a case rule 2 would read as LogQL, add
`__name__=~".+"` to the selector.

`find_log_ranges` returns those calls by start offset; the PromQL lexer turns each into one token.
"""

from __future__ import annotations

import re

from pydock.collector.logql.ast import RANGE_FUNCS, RangeAggregation, is_log_label
from pydock.collector.logql.parser import parse_range_at
from pydock.collector.promql.lexer import _string

from pydock.errors import PromQLError

_CANDIDATE = re.compile(r"(?<![A-Za-z0-9_:])(" + "|".join(RANGE_FUNCS) + r")\s*\(\s*\{")
_PIPE = re.compile(r"\s*(\||!=|!~)")


def _in_code(expr: str, upto: int) -> bool:
    """Whether offset `upto` is outside strings and comments."""
    i = 0
    while i < upto:
        c = expr[i]
        if c in "\"'`":
            try:
                i += len(_string(expr, i).text)
            except PromQLError:
                return False  # the PromQL lexer reports the broken string
            continue
        if c == "#":
            nl = expr.find("\n", i)
            if nl < 0 or nl >= upto:
                return False
            i = nl
        i += 1
    return i == upto


def _close_brace(expr: str, i: int) -> int:
    """Offset just past the `}` matching the `{` at i (strings skipped), or -1."""
    i += 1
    while i < len(expr):
        c = expr[i]
        if c in "\"'`":
            try:
                i += len(_string(expr, i).text)
            except PromQLError:
                return -1
            continue
        if c == "}":
            return i + 1
        i += 1
    return -1


def _has_pipeline(expr: str, brace: int) -> bool:
    end = _close_brace(expr, brace)
    if end < 0:
        return False
    if _PIPE.match(expr, end):
        return True
    m = re.compile(r"\s*\[[^\]]*\]").match(expr, end)
    return bool(m and _PIPE.match(expr, m.end()))


def find_log_ranges(expr: str) -> dict[int, RangeAggregation]:
    """LogQL range aggregations in a PromQL expression, by the offset of their function name; a call
    that is LogQL by rule 1 but malformed raises its LogQL parse error."""
    out: dict[int, RangeAggregation] = {}
    skip_to = 0
    for m in _CANDIDATE.finditer(expr):
        start = m.start()
        if start < skip_to or not _in_code(expr, start):
            continue
        brace = m.end() - 1
        piped = _has_pipeline(expr, brace)
        try:
            node = parse_range_at(expr, start)
        except PromQLError:
            if piped:
                raise
            continue  # PromQL's, or malformed in a way the PromQL parser reports
        if piped or (node.selector.matchers and all(is_log_label(x.name) for x in node.selector.matchers)):
            out[start] = node
            skip_to = node.end
    return out


__all__ = ["find_log_ranges"]
