"""Docker's units: sizes (`10m`, `1g`), durations (`10m`, `1h30m`) and times (RFC 3339, unix seconds).

Docker parses sizes two ways and pydock keeps both, because users copy values between the two:
`ram_bytes` is go-units' RAMInBytes (binary, 1m = 1 MiB: `-m`, `max-buffer-size`) and `human_size`
is FromHumanSize (decimal, 10m = 10,000,000: json-file's `max-size`).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from pydock.errors import UsageError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtpe]?)(i?)(b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5, "e": 6}


def _size(text: str, base: int, what: str) -> int:
    m = _SIZE_RE.match(text)
    if not m:
        raise UsageError(f"invalid size {text!r} for {what}: expected a number with an optional unit (k, m, g)")
    number, unit, binary, _ = m.groups()
    mult = (1024 if binary or base == 1024 else 1000) ** _POWERS[unit.lower()]
    return int(float(number) * mult)


def ram_bytes(text: str, what: str = "size") -> int:
    """Binary sizes as Docker's `-m` and `max-buffer-size` take them: `32m` is 33554432."""
    return _size(text, 1024, what)


def human_size(text: str, what: str = "size") -> int:
    """Decimal sizes as json-file's `max-size` takes them: `10m` is 10000000."""
    return _size(text, 1000, what)


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_DUR_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def duration_seconds(text: str, what: str = "duration") -> float:
    """Go-style durations (`10m`, `1h30m`, `500ms`), also Prometheus's `d`/`w`/`y` units."""
    t = text.strip()
    prom = re.fullmatch(r"(\d+)([dwy])", t)
    if prom:
        return int(prom.group(1)) * {"d": 86400, "w": 604800, "y": 31536000}[prom.group(2)]
    pos = 0
    total = 0.0
    for m in _DUR_RE.finditer(t):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DUR_UNITS[m.group(2)]
        pos = m.end()
    if not t or pos != len(t):
        raise UsageError(f"invalid {what} {text!r}: expected a duration like 10s, 5m or 1h30m")
    return total


_PARTIAL_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H", "%Y-%m-%d")


def timestamp(text: str, what: str = "time", now: float | None = None) -> float:
    """Docker's `--since`/`--until`: a duration before now, RFC 3339 (full or partial), or unix seconds.

    Returns unix seconds as a float. Partial times without a zone are read in local time, as Docker does.
    """
    t = text.strip()
    ref = time.time() if now is None else now
    if re.fullmatch(r"\d+(\.\d+)?", t):
        return float(t)
    try:
        return ref - duration_seconds(t, what)
    except UsageError:
        pass
    iso = t.replace("Z", "+00:00").replace("z", "+00:00")
    m = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)", iso)
    frac = 0.0
    if m:  # Python's fromisoformat takes at most 6 fractional digits; Docker sends 9.
        iso, frac = m.group(1) + m.group(3), float("0." + m.group(2))
    dt = _parse_datetime(iso)
    if dt is None:
        raise UsageError(f"invalid {what} {text!r}: expected RFC 3339, unix seconds or a duration like 10m")
    if dt.tzinfo is None:
        dt = dt.astimezone()  # local zone, like Docker's client
    return dt.timestamp() + frac


def _parse_datetime(iso: str) -> datetime | None:
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    for fmt in _PARTIAL_TIME_FORMATS:
        try:
            return datetime.strptime(iso, fmt)
        except ValueError:
            continue
    return None


def rfc3339_nano(ns: int) -> str:
    """RFC 3339 in UTC with exactly nine fractional digits, as `docker logs -t` prints."""
    sec, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:09d}Z"


def utc_iso(ts: float | None = None) -> str:
    """An RFC 3339 UTC time with nanosecond digits, for state files and inspect."""
    return rfc3339_nano(time.time_ns() if ts is None else int(ts * 1e9))


def parse_iso(text: str) -> float:
    """Inverse of `utc_iso` (and any RFC 3339 time): unix seconds."""
    return timestamp(text, "time", now=0.0)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
