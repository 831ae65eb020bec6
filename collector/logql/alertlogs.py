"""The container's last log lines for an alert's `logs` annotation, redacted and size-capped.

The alert's container is its `name` label (cAdvisor's, and the log store's container name), else a
`container` label, else `container_id`; `host` narrows it when the alert has one. Lines are the
newest `n` at or before the alert's startsAt, oldest first, each `TIMESTAMP STREAM LINE` (RFC 3339
UTC with nanoseconds). Secrets are masked before the text leaves the collector (REDACTIONS), and the
whole text is capped at `max_bytes`, cutting the oldest lines first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

from pydock.collector.logstore import LogQuery, LogRecord, LogStoreError

DEFAULT_LINES = 20
MAX_BYTES = 4096
_MASK = "[REDACTED]"

# (pattern, replacement): key=value secrets, Authorization headers and bearer tokens, credentials in
# URLs, AWS access key ids, JWTs. Basic, on purpose: it catches the usual shapes, not every secret.
REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token|digest)?\s*)[^\s\"',;]+"),
     r"\1" + _MASK),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + _MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), _MASK),
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"), _MASK),
    (re.compile(r"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|"
                r"client[_-]?secret|private[_-]?key)[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;]+"), r"\1" + _MASK),
    (re.compile(r"(://[^/\s:@]+:)[^/\s@]+@"), r"\1" + _MASK + "@"),
)


def redact(line: str) -> str:
    for pattern, repl in REDACTIONS:
        line = pattern.sub(repl, line)
    return line


def rfc3339_ns(t_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t_ns // 1_000_000_000)) + f".{t_ns % 1_000_000_000:09d}Z"


def format_lines(records: list[LogRecord], max_bytes: int = MAX_BYTES) -> str:
    """Records (oldest first) as text of at most `max_bytes` UTF-8 bytes, the oldest lines cut first."""
    lines = [f"{rfc3339_ns(r.time_ns)} {r.stream} {redact(r.line)}" for r in records]
    size = sum(len(x.encode()) + 1 for x in lines)
    cut = 0
    while lines and size > max_bytes:
        size -= len(lines[0].encode()) + 1
        lines.pop(0)
        cut += 1
    if cut and not lines and records:  # the newest line alone is too long: keep its beginning
        one = f"{rfc3339_ns(records[-1].time_ns)} {records[-1].stream} {redact(records[-1].line)}"
        lines = [one.encode()[: max_bytes - 64].decode(errors="ignore") + " [...]"]
        cut -= 1
    if cut:
        note = f"[{cut} older line{'s' if cut > 1 else ''} cut]"
        while lines and size + len(note) + 1 > max_bytes:
            size -= len(lines[0].encode()) + 1
            lines.pop(0)
            cut += 1
            note = f"[{cut} older lines cut]"
        lines.insert(0, note)
    return "\n".join(lines)


def alert_logs(store: Any, labels: Mapping[str, str], before: float, n: int = DEFAULT_LINES,
               max_bytes: int = MAX_BYTES) -> str:
    """The annotation text for an alert with `labels` that started at `before` (unix seconds); ""
    when the alert names no container or the store has no lines for it."""
    name = labels.get("name") or labels.get("container") or ""
    cid = labels.get("container_id", "")
    if n <= 0 or not (name or cid) or store is None:
        return ""
    q = LogQuery(container=name or cid, host=labels.get("host", ""), end_ns=int(before * 1e9) + 1, limit=n)
    try:
        page = store.query(q)
    except LogStoreError:
        return ""  # an unreachable store must not stop the alert; it goes out without lines
    recs = [r for r in page.records if (r.container_name == name if name else r.container_id.startswith(cid))]
    recs.reverse()
    return format_lines(recs, max_bytes)
