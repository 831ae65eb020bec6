"""Structured logs at ingest: fields and a level per line, and the field terms of the plain search.

`analyse(line)` reads a JSON object line or a logfmt line into flat fields (nested JSON keys joined
with `.`: `{"user":{"id":42}}` gives `user.id`; arrays are kept as their JSON text) and detects the
line's level: from a `level`/`lvl`/`severity` field, else from a leading `ERROR`/`WARN`/... token or
`[ERROR]`-style tag. Levels are normalised to LEVELS. Values that read as decimal numbers are stored as
numbers, so `status>=500` compares numerically in every backend; booleans become "true"/"false", as
in LogQL's `| json`.

`split_terms(text)` takes the field terms (`level=error`, `status>=500`, `user.id=42`,
`msg="timed out"`) out of a search text and leaves the rest for the backend's text search; field
terms are ANDed with it.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

LEVELS = ("trace", "debug", "info", "warn", "error", "fatal")
_ALIASES = {
    "trace": "trace", "trc": "trace",
    "debug": "debug", "dbg": "debug", "d": "debug",
    "info": "info", "inf": "info", "information": "info", "informational": "info", "notice": "info", "i": "info",
    "warn": "warn", "warning": "warn", "wrn": "warn", "w": "warn",
    "error": "error", "err": "error", "eror": "error", "e": "error",
    "fatal": "fatal", "critical": "fatal", "crit": "fatal", "panic": "fatal", "emerg": "fatal", "emergency": "fatal",
    "alert": "fatal", "ftl": "fatal", "crt": "fatal", "f": "fatal",
}
_LEVEL_KEYS = ("level", "lvl", "severity", "loglevel", "log.level", "levelname")
# A leading level word: "ERROR ...", "WARN: ...", "[error] ...", "<INFO> ...", "E0412 12:00:00 ..." is not.
_LEADING = re.compile(r"^\s*(?:\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+)?"
                      r"[\[<(]?(TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|FATAL|CRITICAL|CRIT|PANIC)"
                      r"[\]>)]?(?=[\s:|\]\-]|$)", re.IGNORECASE)
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
MAX_FIELDS = 200  # a line with more keys keeps the first 200: bounds the index and the ES mapping


def normalise_level(value: str) -> str:
    return _ALIASES.get(value.strip().lower(), "")


def _scalar(v: Any) -> Any:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        return v if not (isinstance(v, float) and not math.isfinite(v)) else str(v)
    if isinstance(v, str):
        return _number(v)
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False)  # an array


def _number(s: str) -> Any:
    if len(s) <= 32 and _NUMBER.fullmatch(s):
        if "." in s or "e" in s or "E" in s:
            f = float(s)
            return f if math.isfinite(f) else s
        n = int(s)
        return n if -(2**63) <= n < 2**63 else s  # SQLite's integers are 64-bit
    return s


def _flatten(obj: dict[str, Any], prefix: str, out: dict[str, Any]) -> None:
    for k, v in obj.items():
        if len(out) >= MAX_FIELDS:
            return
        key = prefix + str(k)
        if isinstance(v, dict):
            _flatten(v, key + ".", out)
        else:
            out[key] = _scalar(v)


_PAIR = re.compile(r'(?<!\S)([A-Za-z_][A-Za-z0-9_.\-/@]*)=(?:"((?:[^"\\]|\\.)*)"|(\S*))(?!\S)')
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}


def parse_logfmt(line: str) -> dict[str, Any]:
    """The `key=value` / `key="quoted value"` pairs of a line, each standing alone between spaces;
    other words are skipped (a line like `INFO user=42 action=login` keeps its pairs)."""
    out: dict[str, Any] = {}
    for m in _PAIR.finditer(line):
        quoted = m.group(2)
        if quoted is None:
            out[m.group(1)] = _number(m.group(3))
        else:
            out[m.group(1)] = _ESCAPE.sub(lambda e: _ESCAPES.get(e.group(1), e.group(1)), quoted) \
                if "\\" in quoted else quoted
        if len(out) >= MAX_FIELDS:
            break
    return out


def analyse(line: str) -> tuple[str, dict[str, Any]]:
    """(level, fields) of one line; ("", {}) when neither is found."""
    fields: dict[str, Any] = {}
    s = line.lstrip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except ValueError:
            obj = None
        if isinstance(obj, dict):
            _flatten(obj, "", fields)
    elif "=" in line:
        fields = parse_logfmt(line)
    level = ""
    for k in _LEVEL_KEYS:
        v = fields.get(k)
        if isinstance(v, str) and v:
            level = normalise_level(v)
            if level:
                break
    if not level:
        m = _LEADING.match(line)
        if m:
            level = normalise_level(m.group(1))
    return level, fields


def fields_json(fields: dict[str, Any]) -> str | None:
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False) if fields else None


# -- field terms of the plain search ---------------------------------------------------------------

@dataclass(frozen=True)
class FieldTerm:
    """`key op value`; `number` is set when the value reads as a number (then =, <, > ... compare
    numerically against numeric fields); `key == "level"` is the normalised level column."""

    key: str
    op: str  # = != > >= < <=
    value: str
    number: float | None = None

    def level_set(self) -> list[str]:
        """The levels a `level` term selects (ordered comparisons follow LEVELS' severity order)."""
        want = normalise_level(self.value) or self.value.lower()
        if self.op == "=":
            return [want]
        if self.op == "!=":
            return [lv for lv in LEVELS if lv != want] + [""]
        if want not in LEVELS:
            return []
        i = LEVELS.index(want)
        idx = {">": range(i + 1, len(LEVELS)), ">=": range(i, len(LEVELS)), "<": range(i),
               "<=": range(i + 1)}[self.op]
        return [LEVELS[j] for j in idx]


_TERM = re.compile(r'([A-Za-z_][A-Za-z0-9_.\-/@]*)(!=|>=|<=|=|>|<)("(?:[^"\\]|\\.)*"|[^\s"]+)')


def split_terms(text: str) -> tuple[str, list[FieldTerm]]:
    """(the text without its field terms, the field terms). A term must stand alone (whitespace or
    the ends around it); text inside double quotes is never a term."""
    terms: list[FieldTerm] = []
    rest: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        m = _TERM.match(text, i)
        if m and (m.end() == n or text[m.end()].isspace()):
            raw = m.group(3)
            value = json.loads(raw) if raw.startswith('"') else raw
            num = _number(value)
            terms.append(FieldTerm(m.group(1), m.group(2), value,
                                   float(num) if isinstance(num, (int, float)) else None))
            i = m.end()
            continue
        j = i
        quoted = False
        while j < n and (quoted or not text[j].isspace()):
            if text[j] == '"':
                quoted = not quoted
            j += 1
        rest.append(text[i:j])
        i = j
    return " ".join(rest), terms
