"""Label matchers (`=`, `!=`, `=~`, `!~`) with Prometheus's semantics, for the TSDB and PromQL.

A missing label matches as the empty string; regexes are anchored at both ends and written in RE2's
syntax, which `compile_go_regex` maps onto Python's `re` where the two differ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pydock.errors import UsageError

_GO_FLAGS = re.compile(r"\(\?([imsU]+)\)")


def compile_go_regex(pattern: str) -> re.Pattern[str]:
    """A Prometheus (RE2) regex for Python's `re`, to be used with fullmatch (anchored both ends, as
    Prometheus anchors; `$` would also match before a final newline). RE2 allows flags like `(?i)`
    anywhere, applying to the rest of the pattern; Python wants them scoped, so a leading one becomes
    `(?i:...)`."""
    m = _GO_FLAGS.match(pattern)
    if m:
        flags = m.group(1).replace("U", "")  # RE2's ungreedy flag has no Python form
        pattern = f"(?{flags}:{pattern[m.end():]})" if flags else pattern[m.end():]
    return re.compile(f"(?:{pattern})")



@dataclass(frozen=True)
class Matcher:
    """A label matcher as in PromQL: `op` is one of `=`, `!=`, `=~`, `!~`; a missing label is ""."""

    name: str
    op: str
    value: str
    _re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op not in ("=", "!=", "=~", "!~"):
            raise UsageError(f"unknown matcher operator {self.op!r}")
        if self.op in ("=~", "!~"):
            try:
                # Prometheus anchors every regex at both ends.
                object.__setattr__(self, "_re", compile_go_regex(self.value))
            except re.error as exc:
                raise UsageError(f"invalid regular expression {self.value!r}: {exc}") from exc

    def matches(self, v: str) -> bool:
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        assert self._re is not None
        found = self._re.fullmatch(v) is not None
        return found if self.op == "=~" else not found
