"""LogQL's parser, alone and inside PromQL: what parses to what, and errors with their position."""

from __future__ import annotations

import pytest
from pydock.collector.logql import parse
from pydock.collector.logql.ast import (
    LabelBinary,
    LabelCompare,
    LabelFilterStage,
    LineFilter,
    LogSelector,
    ParserStage,
    RangeAggregation,
    VectorAggregation,
)
from pydock.collector.promql import parse as promql_parse
from pydock.collector.promql.ast import BinaryExpr, Call, LogRangeExpr, MatrixSelector

from pydock.errors import PromQLError


def test_selector_and_pipeline() -> None:
    node = parse('{name="web", stream=~"std.*"} |= "a" != "b" |~ "c+" !~ "d" | json | level="error" '
                 'and status >= 500 or (x!="y", n < 1.5) | logfmt')
    assert isinstance(node, LogSelector)
    assert [(m.name, m.op, m.value) for m in node.matchers] == [("name", "=", "web"), ("stream", "=~", "std.*")]
    filters = [s for s in node.stages if isinstance(s, LineFilter)]
    assert [(f.op, f.value) for f in filters] == [("|=", "a"), ("!=", "b"), ("|~", "c+"), ("!~", "d")]
    assert [s.kind for s in node.stages if isinstance(s, ParserStage)] == ["json", "logfmt"]
    [lf] = [s for s in node.stages if isinstance(s, LabelFilterStage)]
    assert isinstance(lf.expr, LabelBinary) and lf.expr.op == "or"  # `and` binds tighter than `or`
    left = lf.expr.left
    assert isinstance(left, LabelBinary) and left.op == "and"
    assert isinstance(left.right, LabelCompare) and left.right.number == 500.0 and left.right.op == ">="


def test_metric_queries() -> None:
    node = parse('sum by (name) (rate({image="x"} |= "error" [1m]))')
    assert isinstance(node, VectorAggregation) and node.op == "sum" and node.grouping == ("name",)
    inner = node.expr
    assert isinstance(inner, RangeAggregation) and inner.func == "rate" and inner.range_ms == 60_000
    # the range may also come before the pipeline, as Loki allows
    node = parse('count_over_time({name="web"}[5m] |= "panic")')
    assert isinstance(node, RangeAggregation) and node.range_ms == 300_000
    assert [s.value for s in node.selector.stages] == ["panic"]  # type: ignore[union-attr]
    node = parse('max without (stream) (bytes_rate({host="h"}[30s]))')
    assert isinstance(node, VectorAggregation) and node.without and node.grouping == ("stream",)
    assert isinstance(parse('count(absent_over_time({name="x"}[1h])) by (name)'), VectorAggregation)


@pytest.mark.parametrize("text, column, reason", [
    ('{}', 1, "at least one matcher"),
    ('{name=""}', 1, "at least one matcher"),
    ('{name="web"} |= 3', 17, 'unexpected number "3" in line filter'),
    ('{name="web"} |~ "("', 17, "invalid regular expression"),
    ('{name="web" |= "x"', 13, 'expected "," or "}"'),
    ('{name=web}', 7, 'unexpected identifier "web" in label matching, expected string'),
    ('count_over_time({name="web"})', 29, "expected a range like [5m]"),
    ('count_over_time({name="web"}[5x])', 30, "bad number or duration syntax"),
    ('count_over_time(up[5m])', 17, "expected a log selector"),
    ('{name="web"} | regexp "(?P<x>.)"', 16, 'pipeline stage "regexp" is not supported'),
    ('{name="web"} | status > "x"', 23, 'operator ">" needs a number'),
    ('{name="web"} | level', 21, "in label filter, expected one of"),
    ('topk(3, count_over_time({a="b"}[1m]))', 1, "expected a range aggregation"),
    ('{name="web"} |= "x" )', 21, 'unexpected ")"'),
])
def test_errors_name_their_position(text: str, column: int, reason: str) -> None:
    with pytest.raises(PromQLError) as exc:
        parse(text)
    assert str(exc.value).startswith(f"1:{column}: parse error:"), str(exc.value)
    assert reason in str(exc.value)
    assert exc.value.column == column


def test_promql_embeds_logql_range_aggregations() -> None:
    node = promql_parse('count_over_time({name="web"} |= "panic" [5m]) > 0 and on(name) '
                        'container_memory_working_set_bytes > 1e9')
    assert isinstance(node, BinaryExpr) and node.op == "and"
    lhs = node.lhs
    assert isinstance(lhs, BinaryExpr) and isinstance(lhs.lhs, LogRangeExpr)
    assert lhs.lhs.text == 'count_over_time({name="web"} |= "panic" [5m])'
    # a bare braces selector on log labels is LogQL ...
    assert isinstance(promql_parse('rate({name="web", stream="stderr"}[1m])'), LogRangeExpr)
    assert isinstance(promql_parse('count_over_time({container_label_tier="front"}[1m])'), LogRangeExpr)
    # ... and everything else stays PromQL
    for text in ('count_over_time(up[5m])', 'rate({job="a"}[1m])', 'rate({__name__="x", name="web"}[1m])',
                 'count_over_time({name="web", __name__=~".+"}[5m])', 'absent_over_time({id="/"}[5m])',
                 'rate(foo{name="web"}[1m])'):
        node = promql_parse(text)
        assert isinstance(node, Call) and isinstance(node.args[0], MatrixSelector), text
    # inside a string or a comment it is only text
    assert not isinstance(promql_parse('foo{a="rate({name=\\"x\\"} |= 1"}'), LogRangeExpr)
    assert isinstance(promql_parse('up # rate({name="x"} |= "y" [1m])\n'), object)


def test_promql_reports_logql_errors_with_the_column_in_the_whole_expression() -> None:
    with pytest.raises(PromQLError) as exc:
        promql_parse('sum(rate({name="web"} |= 3 [1m]))')
    assert str(exc.value).startswith("1:26: parse error:") and "line filter" in str(exc.value)
    # the rest of the expression is PromQL again, with PromQL's errors
    with pytest.raises(PromQLError, match="1:35: parse error: unexpected character: '\\|'"):
        promql_parse('1 + rate({a="b"} | json [1m]) + x |')
