"""Running a LogQL pipeline over one line: line filters, the json and logfmt parsers, label filters.

Follows Loki's logql/log package: extracted keys are sanitised to label names (any other character
becomes `_`; nested JSON objects are flattened with `_`; arrays are skipped), a key that collides
with a stream label gets the suffix `_extracted`, and a line a parser cannot read keeps its labels
plus `__error__` (`JSONParserErr`, `LogfmtParserErr`), which a label filter `__error__=""` drops.
Unlike Loki, a metric query over such lines does not fail: they are counted under their `__error__`
label. A numeric label filter on a value that is not a number (nor a duration like `1.5s`) is false.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from pydock.collector.logql.ast import (
    LabelBinary,
    LabelCompare,
    LabelExpr,
    LabelFilterStage,
    LineFilter,
    ParserStage,
    Stage,
)

_BAD_KEY_CHAR = re.compile(r"[^a-zA-Z0-9_]")
_GO_DURATION = re.compile(r"^([-+]?)((?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|ms|s|m|h))+$")
_DUR_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def sanitize_key(key: str) -> str:
    key = _BAD_KEY_CHAR.sub("_", key)
    return "_" + key if key[:1].isdigit() else key


def _put(out: dict[str, str], stream: dict[str, str], key: str, value: str) -> None:
    if not key:
        return
    if key in stream:
        key += "_extracted"
    out[key] = value


def _flatten(obj: dict[str, object], prefix: str, out: dict[str, str], stream: dict[str, str]) -> None:
    for k, v in obj.items():
        key = prefix + sanitize_key(k)
        if isinstance(v, dict):
            _flatten(v, key + "_", out, stream)
        elif isinstance(v, list):
            continue  # Loki skips arrays
        elif v is None:
            _put(out, stream, key, "")
        elif isinstance(v, bool):
            _put(out, stream, key, "true" if v else "false")
        else:
            _put(out, stream, key, str(v))


def parse_json(line: str, stream: dict[str, str]) -> dict[str, str] | None:
    try:
        obj = json.loads(line, parse_float=str, parse_int=str, parse_constant=str)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    out: dict[str, str] = {}
    _flatten(obj, "", out, stream)
    return out


def parse_logfmt(line: str, stream: dict[str, str]) -> dict[str, str] | None:
    """`key=value key2="quoted \\" value" flag`; a bare key gets "" as Loki's logfmt decoder gives."""
    out: dict[str, str] = {}
    i, n = 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        j = i
        while j < n and line[j] not in " =":
            if line[j] == '"':
                return None
            j += 1
        key = line[i:j]
        if not key:
            return None  # "=value" with no key
        value = ""
        if j < n and line[j] == "=":
            j += 1
            if j < n and line[j] == '"':
                j += 1
                buf: list[str] = []
                while True:
                    if j >= n:
                        return None  # unterminated quote
                    c = line[j]
                    if c == "\\" and j + 1 < n:
                        nxt = line[j + 1]
                        buf.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                        j += 2
                        continue
                    if c == '"':
                        j += 1
                        break
                    buf.append(c)
                    j += 1
                value = "".join(buf)
            else:
                k = j
                while j < n and line[j] != " ":
                    j += 1
                value = line[k:j]
        _put(out, stream, sanitize_key(key), value)
        i = j
    return out


def to_number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        pass
    m = _GO_DURATION.match(value.strip())
    if not m:
        return None
    total = sum(float(num) * _DUR_UNITS[unit] for num, unit in _DUR_PART.findall(value))
    return -total if m.group(1) == "-" else total


def _compare(c: LabelCompare, labels: dict[str, str]) -> bool:
    value = labels.get(c.name, "")
    if c.matcher is not None:
        return c.matcher.matches(value)
    x = to_number(value)
    if x is None or c.number is None:
        return False
    y = c.number
    return {"==": x == y, "!=": x != y, ">": x > y, ">=": x >= y, "<": x < y, "<=": x <= y}[c.op]


def label_filter(expr: LabelExpr, labels: dict[str, str]) -> bool:
    if isinstance(expr, LabelBinary):
        if expr.op == "and":
            return label_filter(expr.left, labels) and label_filter(expr.right, labels)
        return label_filter(expr.left, labels) or label_filter(expr.right, labels)
    return _compare(expr, labels)


def run(stages: Sequence[Stage], line: str, stream: dict[str, str]) -> dict[str, str] | None:
    """The labels the line leaves the pipeline with (stream labels plus extracted ones), or None when
    a filter drops it. `stream` is not changed."""
    labels = stream
    copied = False
    for st in stages:
        if isinstance(st, LineFilter):
            if not st.keep(line):
                return None
        elif isinstance(st, ParserStage):
            got = parse_json(line, stream) if st.kind == "json" else parse_logfmt(line, stream)
            if not copied:
                labels, copied = dict(labels), True
            if got is None:
                labels["__error__"] = "JSONParserErr" if st.kind == "json" else "LogfmtParserErr"
            else:
                labels.update(got)
        elif isinstance(st, LabelFilterStage) and not label_filter(st.expr, labels):
            return None
    return labels
