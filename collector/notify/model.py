"""Alerts as Alertmanager sees them, their fingerprints and Go's time format on the wire.

`fingerprint` is prometheus/common's `LabelSet.Fingerprint()`: FNV-1a 64 over the label names in
sorted order, each name and value followed by the separator byte 0xff; printed as 16 hex digits.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_SEP = 0xFF
ZERO_TIME = "0001-01-01T00:00:00Z"


def fingerprint(labels: Mapping[str, str]) -> int:
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode("utf-8"):
                h = ((h ^ b) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
            h = ((h ^ _SEP) * _FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def fingerprint_hex(labels: Mapping[str, str]) -> str:
    return f"{fingerprint(labels):016x}"


def go_time(ts: float | None) -> str:
    """Go's RFC 3339 with nanoseconds, trailing zeros trimmed (time.Time's JSON); None is the zero time."""
    if ts is None or ts <= 0 or math.isnan(ts):
        return ZERO_TIME
    ns = round(ts * 1e9)
    sec, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(sec, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return base + ("." + digits if digits else "") + "Z"


def parse_go_time(text: str) -> float | None:
    """Inverse of `go_time`; the zero time (or an empty string) is None."""
    if not text or text.startswith("0001-01-01"):
        return None
    t = text.replace("Z", "+00:00")
    frac = 0.0
    if "." in t:
        head, rest = t.split(".", 1)
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        frac = float("0." + digits) if digits else 0.0
        t = head + rest
    return datetime.fromisoformat(t).timestamp() + frac


def labels_key(labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
               "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(s: str) -> str:
    """Go's strconv.Quote (`%q`): printable runes as they are, the rest escaped."""
    out = ['"']
    for ch in s:
        if ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():  # Go's unicode.IsPrint: letters, marks, numbers, punctuation, symbols, ' '
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def labelset_str(labels: Mapping[str, str]) -> str:
    """prometheus/common's `LabelSet.String()`: `{a="b", c="d"}` in name order, values `%q`-quoted
    (the groupKey's second half)."""
    return "{" + ", ".join(f"{k}={go_quote(labels[k])}" for k in sorted(labels)) + "}"


@dataclass(frozen=True)
class Alert:
    """One alert as posted to Alertmanager: resolved once `ends_at` is in the past."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    generator_url: str = ""
    updated_at: float = 0.0

    @property
    def fingerprint(self) -> int:
        return fingerprint(self.labels)

    def resolved(self, now: float) -> bool:
        return self.ends_at is not None and self.ends_at <= now

    def to_api(self) -> dict[str, object]:
        """The postableAlert of Alertmanager's /api/v2/alerts."""
        return {"labels": dict(self.labels), "annotations": dict(self.annotations),
                "startsAt": go_time(self.starts_at), "endsAt": go_time(self.ends_at),
                "generatorURL": self.generator_url}

    def to_webhook(self, now: float) -> dict[str, object]:
        """One element of the webhook's `alerts[]`; firing alerts carry the zero endsAt as Alertmanager's do."""
        resolved = self.resolved(now)
        return {"status": "resolved" if resolved else "firing", "labels": dict(self.labels),
                "annotations": dict(self.annotations), "startsAt": go_time(self.starts_at),
                "endsAt": go_time(self.ends_at) if resolved else ZERO_TIME,
                "generatorURL": self.generator_url, "fingerprint": fingerprint_hex(self.labels)}


def labelset_before(ls: Mapping[str, str], o: Mapping[str, str]) -> bool:
    """prometheus/common's `LabelSet.Before`: fewer labels first; between sets of one size, walking the
    names of both in order, the set that lacks a name the other has, or has the smaller value, first."""
    if len(ls) != len(o):
        return len(ls) < len(o)
    for name in sorted({*ls, *o}):
        if name not in ls:
            return True
        if name not in o:
            return False
        if ls[name] != o[name]:
            return ls[name] < o[name]
    return False


def _alert_cmp(a: Alert, b: Alert) -> int:
    """Alertmanager's `AlertSlice.Less` as a comparison: job, then instance (present before absent)."""
    for name in ("job", "instance"):
        av, bv = a.labels.get(name), b.labels.get(name)
        if av is None and bv is None:
            continue
        if av is None or bv is None:
            return 1 if av is None else -1
        if av != bv:
            return -1 if av < bv else 1
    if labelset_before(a.labels, b.labels):
        return -1
    return 1 if labelset_before(b.labels, a.labels) else 0


# The order of a notification's `alerts[]` (and so which alerts `max_alerts` keeps).
sort_key = functools.cmp_to_key(_alert_cmp)
