"""PromQL for the collector: `parse(expr)` and `Engine(storage).instant/range`.

Written by hand (no maintained Python PromQL engine exists) after Prometheus 2.42's parser and
engine; docs/promql.md lists what is supported and where it differs.
"""

from pydock.collector.promql.engine import Engine, seconds_to_ms, step_to_ms
from pydock.collector.promql.parser import parse
from pydock.collector.promql.values import Matrix, Sample, Scalar, Series, String, Value, Vector

from pydock.errors import PromQLError

__all__ = [
           "Engine",
           "Matrix",
           "PromQLError",
           "Sample",
           "Scalar",
           "Series",
           "String",
           "Value",
           "Vector",
           "parse",
           "seconds_to_ms",
           "step_to_ms",
]
