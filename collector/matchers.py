"""Label matchers as Alertmanager writes them (`severity="critical"`, `team=~"a|b"`), for routes and silences.

A missing label matches as the empty string and regexes are anchored at both ends, as in Alertmanager
and Prometheus. Quoted values unescape only `\\n`, `\\"` and `\\\\` (other backslashes are literal), and
`str(matcher)` escapes just those three, as Alertmanager 0.25 does; that form goes into the webhook's
`groupKey` (checked against a real Alertmanager).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

OPS = ("=~", "!~", "!=", "=")
_NAME_RE = re.compile(r"\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: str
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def make(cls, name: str, op: str, value: str) -> Matcher:
        if op not in OPS:
            raise ValueError(f"unknown match type {op!r}")
        regex = None
        if op in ("=~", "!~"):
            try:
                regex = re.compile(f"^(?:{value})$")
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from exc
        return cls(name, op, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        v = labels.get(self.name, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        assert self._regex is not None
        hit = self._regex.match(v) is not None
        return hit if self.op == "=~" else not hit

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def __str__(self) -> str:
        return f'{self.name}{self.op}"{_escape(self.value)}"'


def _escape(value: str) -> str:
    """Alertmanager's openMetricsEscape: only backslash, newline and double quote are escaped."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _unescape(raw: str) -> str:
    """Alertmanager's matcher parser: `\\n`, `\\"` and `\\\\` are escapes; any other backslash is literal."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append("\n" if nxt == "n" else nxt if nxt in '"\\' else c + nxt)
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


def parse_matchers(text: str) -> list[Matcher]:
    """Parse `a="b", c=~"d"` or `{a="b"}` (values may be unquoted, as Alertmanager allows)."""
    s = text.strip()
    if s.startswith("{"):
        if not s.endswith("}"):
            raise ValueError(f"missing closing brace in {text!r}")
        s = s[1:-1]
    out: list[Matcher] = []
    pos = 0
    while pos < len(s):
        if s[pos] in " ,":
            pos += 1
            continue
        m = _NAME_RE.match(s, pos)
        if not m:
            raise ValueError(f"bad matcher {text!r} at character {pos + 1}: expected name followed by =, !=, =~ or !~")
        name, op = m.group(1), m.group(2)
        pos = m.end()
        if pos < len(s) and s[pos] == '"':
            end = pos + 1
            while end < len(s) and s[end] != '"':
                end += 2 if s[end] == "\\" else 1
            if end >= len(s):
                raise ValueError(f"unterminated quoted value in {text!r}")
            value = _unescape(s[pos + 1:end])
            pos = end + 1
        else:
            end = pos
            while end < len(s) and s[end] != ",":
                end += 1
            value = s[pos:end].strip()
            pos = end
        out.append(Matcher.make(name, op, value))
    if not out:
        raise ValueError(f"no matchers in {text!r}")
    return out


def matchers_str(matchers: Iterable[Matcher]) -> str:
    """Alertmanager's `Matchers.String()`: `{a="b",c=~"d"}`."""
    return "{" + ",".join(str(m) for m in matchers) + "}"
