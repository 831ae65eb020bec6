"""LogQL for the collector: log-pattern rules and queries over the log store (docs/logql.md).

`parse(text)` reads a LogQL query; `LogQLEvaluator(store)` evaluates metric queries over any
`LogStore`. Inside PromQL, a LogQL range aggregation (`count_over_time({name="web"} |= "panic" [5m])`)
is one more expression node: `embed.find_log_ranges` marks it for the PromQL lexer and the engine
evaluates it through `LogQLEvaluator`, so rules, `/api/v1/query` and `/api/v1/query_range` take both.
"""

from pydock.collector.logql.ast import RangeAggregation, VectorAggregation
from pydock.collector.logql.evaluator import LogQLEvaluator
from pydock.collector.logql.parser import parse, parse_range_at

__all__ = ["LogQLEvaluator", "RangeAggregation", "VectorAggregation", "parse", "parse_range_at"]
