"""`pydock collector import FILE`: load OpenMetrics text with timestamps into the TSDB.

The input is what `promtool tsdb create-blocks-from openmetrics` takes: sample lines
`name{label="value",...} value timestamp` with timestamps in (possibly fractional) seconds,
`# HELP` / `# TYPE` / `# UNIT` lines, optional exemplars after ` # `, and a final `# EOF`.
Every sample needs a timestamp, as promtool requires. Timestamps become milliseconds the way
Prometheus's OpenMetrics parser converts them (int64(ts * 1000), truncating), so both stores hold
the same instants.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol, TextIO

import numpy as np

from pydock.errors import UsageError

BATCH = 50_000
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESC = {"\\": "\\", '"': '"', "n": "\n"}


class Appender(Protocol):
    def append_series(self, batch: list[tuple[dict[str, str], list[int], list[float]]], *, exact: bool = False
                      ) -> int: ...


def _fail(path: Path, lineno: int, msg: str) -> UsageError:
    return UsageError(f"{path}:{lineno}: {msg}")


def parse_line(line: str) -> tuple[dict[str, str], float, int | None]:
    """One sample line -> (labels with __name__, value, timestamp in ms or None). Raises ValueError."""
    labels, end = _parse_series(line)
    value, ts_ms = _value_and_time(line[end + 1 :])
    return labels, value, ts_ms


def _parse_series(line: str) -> tuple[dict[str, str], int]:
    """The name and labels at the start of a sample line, and the index of the space after them."""
    m = _NAME.match(line)
    if not m:
        raise ValueError("expected a metric name")
    labels = {"__name__": m.group(0)}
    i = m.end()
    n = len(line)
    if i < n and line[i] == "{":
        i += 1
        while True:
            if i < n and line[i] == "}":
                i += 1
                break
            lm = _LABEL.match(line, i)
            if not lm:
                raise ValueError(f"bad label name at column {i + 1}")
            name = lm.group(0)
            i = lm.end()
            if line[i : i + 2] != '="':
                raise ValueError(f'expected =" after label {name!r}')
            i += 2
            buf: list[str] = []
            while True:
                if i >= n:
                    raise ValueError("unterminated label value")
                c = line[i]
                if c == "\\":
                    e = line[i + 1 : i + 2]
                    if e not in _ESC:
                        raise ValueError(f"bad escape \\{e} in label value")
                    buf.append(_ESC[e])
                    i += 2
                    continue
                if c == '"':
                    i += 1
                    break
                buf.append(c)
                i += 1
            if name in labels:
                raise ValueError(f"duplicate label {name!r}")
            labels[name] = "".join(buf)
            if i < n and line[i] == ",":
                i += 1
            elif i < n and line[i] == "}":
                continue
            else:
                raise ValueError("expected , or } in label set")
    if i >= n or line[i] != " ":
        raise ValueError("expected a space before the value")
    return labels, i


def _value_and_time(text: str) -> tuple[float, int | None]:
    rest = text.split(" # ", 1)[0].split(" ")
    if len(rest) not in (1, 2) or not rest[0]:
        raise ValueError("expected value and optional timestamp")
    value = float(rest[0])
    ts_ms = None
    if len(rest) == 2:
        ts = float(rest[1])
        if not math.isfinite(ts):
            raise ValueError("invalid timestamp")
        ts_ms = int(ts * 1000)
    return value, ts_ms


def iter_samples(path: Path) -> Iterator[tuple[dict[str, str], int, float]]:
    # The series part of a line repeats on every sample of the series, so its parse is cached by its
    # text. The fast path splits `series value timestamp` from the right, which is exact when the
    # line has a timestamp and no exemplar (a label value may hold spaces, the value and time never).
    cache: dict[str, dict[str, str]] = {}
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line or line[0] == "#":
                if line.strip() == "# EOF":
                    return
                continue
            try:
                parts: list[str] = line.rsplit(" ", 2) if "#" not in line else []
                labels = cache.get(parts[0]) if len(parts) == 3 else None
                if labels is not None:
                    value = float(parts[1])
                    tsf = float(parts[2])
                    if not math.isfinite(tsf):
                        raise ValueError("invalid timestamp")
                    ts: int | None = int(tsf * 1000)
                else:
                    labels, end = _parse_series(line)
                    value, ts = _value_and_time(line[end + 1 :])
                    if "#" not in line:
                        cache[line[:end]] = labels
            except ValueError as exc:
                raise _fail(path, lineno, str(exc)) from None
            if ts is None:
                raise _fail(path, lineno, "sample has no timestamp (backfill data needs one)")
            yield labels, ts, value


_Parsed = dict[tuple[tuple[str, str], ...], tuple[dict[str, str], list[int], list[float]]]


def _parse_slow(path: Path) -> _Parsed:
    """Every sample through `iter_samples`, grouped by label set: exact for any input, and the one
    that names the first bad line."""
    series: _Parsed = {}
    for labels, t, v in iter_samples(path):
        key = tuple(sorted(labels.items()))
        entry = series.get(key)
        if entry is None:
            entry = series[key] = (labels, [], [])
        entry[1].append(t)
        entry[2].append(v)
    return series


class _Unusual(Exception):
    """Input the fast path leaves to `_parse_slow` (a bad line, an exemplar, one label set written two
    ways)."""


def _blocks(f: TextIO) -> Iterator[list[str]]:
    """The lines of `f` as iterating it and stripping the newline gives them, about a megabyte at a
    time (the whole file's lines at once would double the import's peak memory)."""
    rest = ""
    while True:
        block = f.read(1 << 20)
        if not block:
            if rest:
                yield [rest]
            return
        lines = (rest + block).split("\n")
        rest = lines.pop()
        yield lines


def _parse_fast(path: Path) -> _Parsed:
    """The usual backfill file, grouped by label set with the same results as `_parse_slow`.

    The series text of a line repeats on every sample of its series. Each series text is parsed once,
    by `_parse_series`; after that a line is only split from the right, which is exact once the series
    text is a known one (value and timestamp hold no spaces). Values and times are kept as text and
    converted a block at a time (`_convert`): float() as the full parser, the milliseconds by numpy
    with the same IEEE multiply and truncation toward zero as int(ts * 1000). Comments and the first line
    of each series go through the full parser. Anything else (a bad line, an exemplar, a missing
    timestamp, two texts for one label set) raises _Unusual, and `_parse_slow` does the file."""
    keys: dict[str, tuple[tuple[str, str], ...]] = {}
    series: _Parsed = {}
    with open(path, encoding="utf-8") as f:
        for lines in _blocks(f):
            pending: dict[str, tuple[list[str], list[str]]] = {}
            # Lines come series by series: the previous line's series and its appenders.
            cur: str | None = None
            unused: list[str] = []
            add_v = add_t = unused.append
            eof = False
            for line in lines:
                try:
                    split, v, t = line.rsplit(" ", 2)
                except ValueError:  # fewer than two spaces: a comment or not a sample line
                    split = None
                if split is not None:
                    if split == cur:
                        add_v(v)
                        add_t(t)
                        continue
                    known = pending.get(split)
                    if known is None and split in keys:  # a series seen in an earlier block
                        known = pending[split] = ([], [])
                    if known is not None:
                        cur, add_v, add_t = split, known[0].append, known[1].append
                        add_v(v)
                        add_t(t)
                        continue
                if not line or line[0] == "#":
                    if line.strip() == "# EOF":
                        eof = True
                        break
                    continue
                try:
                    labels, end = _parse_series(line)
                except ValueError:
                    raise _Unusual from None
                text = line[:end]
                if split != text:
                    raise _Unusual  # no timestamp, an exemplar, or not a sample line at all
                key = tuple(sorted(labels.items()))
                if key in series:
                    raise _Unusual  # the file order of the two texts' samples would matter
                keys[text] = key
                series[key] = (labels, [], [])
                pending[text] = ([v], [t])
            _convert(pending, keys, series)
            if eof:
                break
    return series


def _convert(pending: dict[str, tuple[list[str], list[str]]], keys: dict[str, tuple[tuple[str, str], ...]],
             series: _Parsed) -> None:
    """One block's values and times, from text to the series' lists: values by float() per series;
    the block's distinct times (series scraped together share them) in one numpy conversion, and a
    series whose time texts are the previous series' (equal lists compare at C speed) reuses its
    milliseconds."""
    fresh: list[list[str]] = []  # the time lists unlike the one before them
    prev: list[str] | None = None
    for _, t in pending.values():
        if t != prev:
            fresh.append(t)
        prev = t
    times = [x for t in fresh for x in t]
    try:
        distinct = list(dict.fromkeys(times))
        tf = np.array(list(map(float, distinct)), dtype=np.float64)
        if len(tf) and not (np.isfinite(tf).all() and np.abs(tf).max() < 2.0**52):
            raise _Unusual  # an invalid timestamp, or one whose milliseconds int64 cannot hold
        ms = dict(zip(distinct, (tf * 1000).astype(np.int64).tolist()))
        prev, prev_ms = None, []
        for text, (v, t) in pending.items():
            entry = series[keys[text]]
            entry[2].extend(map(float, v))
            if t != prev:
                prev, prev_ms = t, list(map(ms.__getitem__, t))
            entry[1].extend(prev_ms)
    except ValueError:
        raise _Unusual from None


def import_openmetrics(path: str | Path, tsdb: Appender) -> int:
    """Parse the whole file first (nothing is written if it is malformed), then append it series by
    series in batches, each series in time order; returns the number of samples stored."""
    p = Path(path)
    try:
        series = _parse_fast(p)
    except _Unusual:
        series = _parse_slow(p)
    stored = 0
    batch: list[tuple[dict[str, str], list[int], list[float]]] = []
    size = 0
    for labels, ts, vs in series.values():
        if any(map(operator.gt, ts, ts[1:])):
            order = sorted(range(len(ts)), key=ts.__getitem__)  # stable: a duplicate keeps file order
            ts, vs = [ts[i] for i in order], [vs[i] for i in order]
        batch.append((labels, ts, vs))
        size += len(ts)
        if size >= BATCH:
            stored += tsdb.append_series(batch, exact=True)
            batch, size = [], 0
    if batch:
        stored += tsdb.append_series(batch, exact=True)
    return stored
