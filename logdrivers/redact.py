"""Redaction: secrets taken out of a container's output before any driver, cache or shipper sees it.

`--log-opt redact=NAME[,NAME...]` picks built-in rules, `--log-opt redact-regex=REGEX` adds one of the
user's. Both are pydock's own options, accepted with every driver: the registry validates them and
strips them from the options a driver is given (drivers name unknown keys; they never see these),
and the stats layer, the first one the copier hands lines to, applies the `Redactor` to every chunk.

A match keeps its key and loses its value: `password=hunter2` becomes `password=[REDACTED]`,
`"password": "x"` becomes `"password": "[REDACTED]"`, `Authorization: Bearer abc` becomes
`Authorization: Bearer [REDACTED]`; tokens that are secret as a whole (an AWS key id, a JWT) are
replaced whole. A replaced span never loses a newline, so the lines (and the records) stay the
ones the container wrote. Each value replaced counts once in `count` (logstats.json's
`redactions`, the agent's `pydock_log_redactions_total`).

Limits: rules match within one line, except `private-key`, which redacts the lines between a
`-----BEGIN ... PRIVATE KEY-----` and its `-----END` (a block that goes on past a chunk is followed
into the next, line by line, while its lines look like base64). A secret cut in two by the 16 KiB
split of a long line is not matched.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydock.errors import LogOptError

REDACTED = b"[REDACTED]"
OPTS = frozenset({"redact", "redact-regex"})

# A value: the inside of double or single quotes, or a bare word up to a space or a separator.
# Separators are blanks (`[ \t]`), never `\s`: a value must not be looked for on the next line.
_VALUE = rb"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"',;&]+))"""
_SEP = rb"""["']?[ \t]*[=:][ \t]*"""


class _Rule:
    """One pattern. `needles` are cheap substring tests that must pass before the regex runs
    (lowercase ones test the chunk lowered); the groups `dq`, `sq` or `bare` are what is replaced,
    or the whole match when none of them took part."""

    __slots__ = ("lower", "needles", "regex")

    def __init__(self, pattern: bytes, needles: tuple[bytes, ...], lower: bool, flags: int = 0):
        self.regex = re.compile(pattern, flags)
        self.needles = needles
        self.lower = lower


_PASSWORD = _Rule(rb"(?:password|passwd|pwd)[\w.-]*" + _SEP + _VALUE, (b"password", b"passwd", b"pwd"), True,
                  re.IGNORECASE)
_BEARER = _Rule(rb"\bbearer[ \t]+(?P<bare>[A-Za-z0-9\-._~+/]+=*)", (b"bearer",), True, re.IGNORECASE)
_AWS_ID = _Rule(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b", (b"AKIA", b"ASIA"), False)
_AWS_SECRET = _Rule(rb"aws_secret_access_key" + _SEP + _VALUE, (b"aws_secret_access_key",), True, re.IGNORECASE)
_JWT = _Rule(rb"\beyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*", (b"eyJ",), False)

RULES: dict[str, tuple[_Rule, ...]] = {
    "password": (_PASSWORD,),
    "bearer": (_BEARER,),
    "aws": (_AWS_ID, _AWS_SECRET),
    "jwt": (_JWT,),
    "private-key": (),  # not a regex: `_PrivateKeys`
}
NAMES = (*RULES, "all")

_BEGIN = re.compile(rb"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_END = re.compile(rb"-----END [A-Z0-9 ]*PRIVATE KEY-----")
_B64_LINE = re.compile(rb"[A-Za-z0-9+/=]*\r?")  # fullmatch: a line of a PEM body (or an empty one)
_PIECE = re.compile(rb"[^\n]+")
_VALUE_GROUPS = ("dq", "sq", "bare")


def _blank(span: bytes) -> bytes:
    """`span` replaced, keeping its newlines: each non-empty piece between them becomes REDACTED."""
    if b"\n" not in span:
        return REDACTED
    return _PIECE.sub(REDACTED, span)


def parse(opts: Mapping[str, str]) -> Redactor | None:
    """The redactor `opts` ask for, or None (then nothing is paid per line); raises LogOptError."""
    names = [n.strip() for n in opts.get("redact", "").split(",") if n.strip()]
    for n in names:
        if n not in NAMES:
            raise LogOptError(f"invalid value {opts['redact']!r} for log opt 'redact': unknown rule {n!r} "
                              f"(known: {', '.join(NAMES)})")
    if "redact" in opts and not names:
        raise LogOptError("invalid value '' for log opt 'redact': name at least one rule "
                          f"({', '.join(NAMES)})")
    user = None
    if "redact-regex" in opts:
        text = opts["redact-regex"]
        try:
            user = re.compile(text.encode("utf-8"))
        except re.error as exc:
            raise LogOptError(f"invalid value {text!r} for log opt 'redact-regex': {exc}") from None
        if user.search(b"") is not None:
            raise LogOptError(f"invalid value {text!r} for log opt 'redact-regex': it matches the empty string")
    if not names and user is None:
        return None
    chosen = set(RULES) if "all" in names else set(names)
    return Redactor(sorted(chosen), user)


def strip(opts: Mapping[str, str]) -> dict[str, str]:
    """`opts` without the redaction keys: what a driver is given."""
    return {k: v for k, v in opts.items() if k not in OPTS}


class Redactor:
    """Applies the chosen rules to chunks of complete lines (`chunk`) or to one line (`line`)."""

    def __init__(self, names: list[str], user: re.Pattern[bytes] | None = None):
        self.names = names
        self.count = 0
        self._rules = [r for n in names for r in RULES[n]]
        self._keys = _PrivateKeys() if "private-key" in names else None
        self._user = user
        self._groups = user.groups if user is not None else 0

    def _sub(self, m: re.Match[bytes]) -> bytes:
        whole = m.group(0)
        for g in _VALUE_GROUPS:
            if g in m.re.groupindex and m.start(g) >= 0:
                s, e = m.start(g) - m.start(), m.end(g) - m.start()
                self.count += 1
                return whole[:s] + _blank(whole[s:e]) + whole[e:]
        self.count += 1
        return _blank(whole)

    def _sub_user(self, m: re.Match[bytes]) -> bytes:
        """A user's regex: its capturing groups are the values (the rest is kept); without groups,
        the whole match. Empty matches (a lookaround, say) are left alone."""
        whole = m.group(0)
        base = m.start()
        spans = [(m.start(i) - base, m.end(i) - base) for i in range(1, self._groups + 1)
                 if m.start(i) >= 0 and m.end(i) > m.start(i)] if self._groups else [(0, len(whole))]
        if not whole or not spans:
            return whole
        out, pos = [], 0
        for s, e in sorted(spans):
            if s < pos:
                continue  # a group inside one already replaced
            out += [whole[pos:s], _blank(whole[s:e])]
            pos = e
            self.count += 1
        out.append(whole[pos:])
        return b"".join(out)

    def chunk(self, source: str, data: bytes) -> bytes:
        """Complete lines (each ending in a newline) with their secrets replaced."""
        lowered: bytes | None = None
        for rule in self._rules:
            if rule.lower:
                if lowered is None:
                    lowered = data.lower()
                hay = lowered
            else:
                hay = data
            if any(n in hay for n in rule.needles):
                data = rule.regex.sub(self._sub, data)
                lowered = None
        if self._keys is not None:
            data, n = self._keys.redact(source, data)
            self.count += n
        if self._user is not None:
            data = self._user.sub(self._sub_user, data)
        return data

    def line(self, source: str, line: bytes) -> bytes:
        return self.chunk(source, line + b"\n")[:-1]


class _PrivateKeys:
    """PEM private key blocks, per stream: the body between BEGIN and END markers is replaced line
    by line; a block whose END is not in this chunk goes on into the next while its lines look like
    base64 (so a key printed without its END does not swallow the log after it)."""

    def __init__(self) -> None:
        self._open: set[str] = set()

    def redact(self, source: str, data: bytes) -> tuple[bytes, int]:
        if source not in self._open and b"PRIVATE KEY-----" not in data:
            return data, 0
        out: list[bytes] = []
        pos, count = 0, 0
        if source in self._open:
            self._open.discard(source)
            pos = self._lines(source, data, 0, out)
        while pos < len(data):
            b = _BEGIN.search(data, pos)
            if b is None:
                break
            out.append(data[pos : b.end()])
            count += 1
            e = _END.search(data, b.end())
            if e is not None:
                out.append(_blank(data[b.end() : e.start()]))
                pos = e.start()
            else:
                pos = self._marker_rest(source, data, b.end(), out)
        out.append(data[pos:])
        return b"".join(out), count

    def _marker_rest(self, source: str, data: bytes, pos: int, out: list[bytes]) -> int:
        """From just after a BEGIN marker whose END is not in this chunk: the rest of its line, then
        the key's lines; returns where plain text resumes."""
        nl = data.find(b"\n", pos)
        if nl < 0:
            if pos < len(data):
                out.append(REDACTED)
            return len(data)
        if nl > pos:
            out.append(REDACTED)
        out.append(b"\n")
        return self._lines(source, data, nl + 1, out)

    def _lines(self, source: str, data: bytes, pos: int, out: list[bytes]) -> int:
        """Whole base64 lines from `pos` are replaced, up to the END marker or a line that is no
        key's; when the chunk ends first, the block stays open for the stream's next chunk."""
        while pos < len(data):
            nl = data.find(b"\n", pos)
            end = nl if nl >= 0 else len(data)
            line = data[pos:end]
            if _END.match(line) or not _B64_LINE.fullmatch(line):
                return pos
            out.append(REDACTED if line else b"")
            if nl >= 0:
                out.append(b"\n")
            pos = end + 1
        self._open.add(source)
        return len(data)
