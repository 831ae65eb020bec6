"""PromQL's result types, and their JSON form in Prometheus's HTTP API.

Labels are a sorted tuple of (name, value) pairs: hashable, cheap to compare, and already in the
order Prometheus prints them. Times are integer milliseconds; the JSON shows seconds.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Labels = tuple[tuple[str, str], ...]


def labels_of(d: dict[str, str]) -> Labels:
    return tuple(sorted(d.items()))


def format_value(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64): shortest digits that round-trip, never an exponent."""
    if math.isnan(v):
        return "NaN"
    if v == math.inf:
        return "+Inf"
    if v == -math.inf:
        return "-Inf"
    r = repr(v)
    if "e" not in r:  # repr's shortest digits, already positional: only Go's "2" for "2.0" differs
        return r.removesuffix(".0")
    s = format(Decimal(r), "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s


def format_values(vs: Sequence[float]) -> list[str]:
    """`format_value` of many values at once: repr at C speed, then only the rare values that need
    more than dropping a trailing ".0" (exponents, NaN, infinities) go through `format_value`."""
    joined = "|".join(map(repr, vs)) + "|"
    if "e" in joined or "n" in joined:  # an exponent, "nan" or "inf" somewhere
        return [format_value(v) for v in vs]
    out = joined.replace(".0|", "|").split("|")
    out.pop()
    return out


def json_time(t_ms: int) -> float | int:
    return t_ms // 1000 if t_ms % 1000 == 0 else t_ms / 1000


def json_times(ts: Sequence[int]) -> list[float | int]:
    """`json_time` of many timestamps; whole seconds (the usual case) at C speed."""
    if any(map((1000).__rmod__, ts)):
        return [json_time(t) for t in ts]
    return list(map((1000).__rfloordiv__, ts))


def labels_json(metric: Labels) -> dict[str, str]:
    return dict(metric)


_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # as the API's JSONResponse


_LABELS_TEXT: dict[Labels, str] = {}
_LABELS_TEXT_MAX = 100_000  # label sets remembered (a cache, cleared when full)


def _labels_text(metric: Labels) -> str:
    # Dashboards ask for the same series again and again: encode each label set once.
    text = _LABELS_TEXT.get(metric)
    if text is None:
        if len(_LABELS_TEXT) >= _LABELS_TEXT_MAX:
            _LABELS_TEXT.clear()
        text = _LABELS_TEXT[metric] = _ENCODER.encode(dict(metric))
    return text


def labels_str(metric: Labels) -> str:
    """`name{a="b"}` as Prometheus prints a label set in error messages."""
    name = ""
    parts = []
    for k, v in metric:
        if k == "__name__":
            name = v
        else:
            parts.append(f'{k}="{v}"'.replace("\n", "\\n"))
    return name + "{" + ", ".join(parts) + "}"


@dataclass(frozen=True)
class Sample:
    metric: Labels
    t: int
    v: float


@dataclass(frozen=True)
class Series:
    """One series of a matrix, its timestamps and values as parallel sequences (no object per point)."""

    metric: Labels
    ts: Sequence[int]
    vs: Sequence[float]

    @property
    def points(self) -> tuple[tuple[int, float], ...]:
        return tuple(zip(self.ts, self.vs))


@dataclass(frozen=True)
class Scalar:
    t: int
    v: float
    result_type = "scalar"

    def to_json(self) -> dict[str, Any]:
        return {"resultType": "scalar", "result": [json_time(self.t), format_value(self.v)]}


@dataclass(frozen=True)
class String:
    t: int
    value: str
    result_type = "string"

    def to_json(self) -> dict[str, Any]:
        return {"resultType": "string", "result": [json_time(self.t), self.value]}


@dataclass(frozen=True)
class Vector:
    samples: tuple[Sample, ...]
    result_type = "vector"

    def to_json(self) -> dict[str, Any]:
        return {"resultType": "vector", "result": [
            {"metric": labels_json(s.metric), "value": [json_time(s.t), format_value(s.v)]}
            for s in self.samples]}

    def json_text(self) -> str:
        """`json.dumps(self.to_json())` in the API's compact form, built as text."""
        values = format_values([s.v for s in self.samples])
        parts = [f'{{"metric":{_labels_text(s.metric)},"value":[{json_time(s.t)},"{v}"]}}'
                 for s, v in zip(self.samples, values)]
        return '{"resultType":"vector","result":[' + ",".join(parts) + "]}"


@dataclass(frozen=True)
class Matrix:
    series: tuple[Series, ...]
    result_type = "matrix"

    def to_json(self) -> dict[str, Any]:
        return {"resultType": "matrix", "result": [
            {"metric": labels_json(s.metric),
             "values": list(zip(json_times(s.ts), format_values(s.vs)))}  # pairs as tuples: JSON arrays
            for s in self.series]}

    def json_text(self) -> str:
        """`json.dumps(self.to_json())` in the API's compact form, built as text: a range query's
        points are most of its cost, and the series of one query mostly share their timestamps,
        so each distinct timestamp list is formatted once."""
        parts = []
        last_ts: Sequence[int] | None = None
        pre: list[str] = []
        for s in self.series:
            if last_ts is None or s.ts is not last_ts and list(s.ts) != list(last_ts):
                pre = [f'[{t},"' for t in json_times(s.ts)]
            last_ts = s.ts
            points = '"],'.join(map(operator.add, pre, format_values(s.vs)))
            parts.append(f'{{"metric":{_labels_text(s.metric)},"values":[{points}"]]}}' if points
                         else f'{{"metric":{_labels_text(s.metric)},"values":[]}}')
        return '{"resultType":"matrix","result":[' + ",".join(parts) + "]}"


Value = Scalar | String | Vector | Matrix
