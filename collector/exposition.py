"""Parsing of the Prometheus text format (0.0.4) and OpenMetrics 1.0 into flat samples, as a scrape sees them.

prometheus_client ships parsers, but they build metric families and check them (a sample whose name
does not fit its `# TYPE`, a counter without `_total` in OpenMetrics, a missing `# EOF` raise), and
Prometheus's own scraper does not: it takes each sample line as it comes (name and labels verbatim,
`_created` and `_bucket` lines included) and skips metadata. A scrape must ingest what Prometheus
would, so this is a line parser of the shared sample syntax: `name{l="v",...} value [timestamp]`
with exemplars (` # {...}`) dropped. Timestamps are milliseconds in the text format and seconds in
OpenMetrics.
"""

from __future__ import annotations

import math
import re
from collections.abc import Container, Iterator

from pydock.errors import PydockError


class ParseError(PydockError):
    """An exposition line that is not a valid sample; names the line number."""


_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*\"")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}

ParsedSample = tuple[dict[str, str], float, int | None]  # labels incl. __name__, value, timestamp ms


def _value(text: str, lineno: int) -> float:
    t = text.strip()
    try:
        return float(t)  # accepts NaN, +Inf, -Inf, exponent forms, as Go's ParseFloat does
    except ValueError:
        raise ParseError(f"line {lineno}: invalid value {t!r}") from None


def parse_exposition(text: str, openmetrics: bool = False) -> Iterator[ParsedSample]:
    for series, labels, value, ts in parse_exposition_keyed(text, openmetrics, ()):
        assert labels is not None
        yield labels, value, ts


def parse_exposition_keyed(text: str, openmetrics: bool, known: Container[str]
                           ) -> Iterator[tuple[str, dict[str, str] | None, float, int | None]]:
    """Samples as (series text, labels, value, timestamp): the series text is the line's
    `name{labels}` verbatim. A line whose series text is in `known` (texts this function yielded
    before, kept by the caller with whatever it made of their labels) is only split from the right
    and yields None for labels; everything else, and any line the split cannot take, goes through
    the full line parser.

    The split is exact: a known text parses the same whatever follows it, value and timestamp hold no
    spaces, and a value or timestamp float() refuses goes to the full parser (which names the error)."""
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.strip() if not openmetrics else raw
        head, _, last = line.rpartition(" ")
        if head in known:
            try:
                yield head, None, float(last), None
                continue
            except ValueError:
                pass
        else:
            series, _, value = head.rpartition(" ")
            if series in known:
                try:
                    v, t = float(value), float(last)
                except ValueError:
                    pass
                else:
                    if math.isfinite(t):
                        yield series, None, v, round(t * 1000) if openmetrics else int(t)
                        continue
        parsed = _parse_line(line, lineno, openmetrics)
        if parsed is None:
            if openmetrics and line.startswith("# EOF"):
                return
            continue
        yield parsed


def _parse_line(line: str, lineno: int, openmetrics: bool
                ) -> tuple[str, dict[str, str], float, int | None] | None:
    """One line by the full grammar: (series text, labels, value, timestamp), None for a comment or
    blank line."""
    if not line or line.startswith("#"):
        return None
    m = _NAME.match(line)
    if not m:
        raise ParseError(f"line {lineno}: expected a metric name, got {line[:40]!r}")
    labels = {"__name__": m.group(0)}
    pos = m.end()
    if pos < len(line) and line[pos] == "{":
        pos += 1
        while True:
            while pos < len(line) and line[pos] in " \t":
                pos += 1
            if pos < len(line) and line[pos] == "}":
                pos += 1
                break
            lm = _LABEL_NAME.match(line, pos)
            if not lm:
                raise ParseError(f"line {lineno}: bad label at column {pos + 1}")
            name = lm.group(1)
            pos = lm.end()
            chars: list[str] = []
            while pos < len(line) and line[pos] != '"':
                c = line[pos]
                if c == "\\" and pos + 1 < len(line):
                    nxt = line[pos + 1]
                    chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                    pos += 2
                    continue
                chars.append(c)
                pos += 1
            if pos >= len(line):
                raise ParseError(f"line {lineno}: unterminated label value")
            pos += 1
            if name in labels:
                raise ParseError(f"line {lineno}: duplicate label {name}")
            labels[name] = "".join(chars)
            while pos < len(line) and line[pos] in " \t":
                pos += 1
            if pos < len(line) and line[pos] == ",":
                pos += 1
            elif pos < len(line) and line[pos] == "}":
                pos += 1
                break
            else:
                raise ParseError(f"line {lineno}: expected , or }} at column {pos + 1}")
    series = line[:pos]
    rest = line[pos:]
    if " # " in rest:  # an OpenMetrics exemplar
        rest = rest.split(" # ", 1)[0]
    parts = rest.split()
    if not parts or len(parts) > 2:
        raise ParseError(f"line {lineno}: expected a value and an optional timestamp")
    value = _value(parts[0], lineno)
    ts: int | None = None
    if len(parts) == 2:
        t = _value(parts[1], lineno)
        if math.isnan(t) or math.isinf(t):
            raise ParseError(f"line {lineno}: invalid timestamp {parts[1]!r}")
        ts = round(t * 1000) if openmetrics else int(t)
    return series, labels, value, ts
