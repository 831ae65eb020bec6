"""Docker's units: sizes (`10m`, `1g`), durations (`10m`, `1h30m`) and times (RFC 3339, unix seconds).

Docker parses sizes two ways and pydock keeps both, because users copy values between the two:
`ram_bytes` is go-units' RAMInBytes (binary, 1m = 1 MiB: `-m`, `max-buffer-size`) and `human_size`
is FromHumanSize (decimal, 10m = 10,000,000: json-file's `max-size`).
"""

from __future__ import annotations

import calendar
import re
import time
from datetime import UTC, datetime

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


_UNIX_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")
# The layouts of Docker's GetTimestamp: a date, then optionally `T15`, `T15:04`, `T15:04:05` and a
# fraction; then a zone (`Z` or `±07:00`), or none for the local time zone.
_TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d)(?:\.(\d{1,9}))?)?)?)?"
                      r"([Zz]|[+-]\d\d:\d\d)?")


def _absolute_ns(text: str, what: str) -> int | None:
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return None
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    h, mi, sec = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    try:
        datetime(y, mo, d, h, mi, sec)  # refuses month 13, hour 25 ...
    except ValueError:
        raise UsageError(f"invalid {what} {text!r}: not a valid date and time") from None
    zone = m[8]
    if zone is None:  # local time, as Docker's client reads it (mktime applies the zone's rules)
        whole = int(time.mktime((y, mo, d, h, mi, sec, 0, 0, -1)))
    else:
        whole = calendar.timegm((y, mo, d, h, mi, sec, 0, 0, 0))
        if zone not in ("Z", "z"):
            sign = 1 if zone[0] == "+" else -1
            whole -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return whole * 1_000_000_000 + int((m[7] or "0").ljust(9, "0"))


def timestamp_ns(text: str, what: str = "time", now_ns: int | None = None) -> int:
    """Docker's `--since`/`--until` in unix nanoseconds, read as Docker's client reads them: unix
    `seconds[.fraction]`, a date and time in one of GetTimestamp's layouts (zone optional: local time
    without one), or a duration before now. Fractions are kept as integer digits: a float of today's
    time in seconds holds only about seven fractional digits, enough to move a bound across a record."""
    t = text.strip()
    m = _UNIX_RE.fullmatch(t)
    if m:
        return int(m.group(1)) * 1_000_000_000 + int((m.group(2) or "0")[:9].ljust(9, "0"))
    ns = _absolute_ns(t, what)
    if ns is not None:
        return ns
    try:
        ago = round(duration_seconds(t, what) * 1_000_000_000)
    except UsageError:
        raise UsageError(f"invalid {what} {text!r}: expected RFC 3339 (in full or in part), "
                         "unix seconds or a duration like 10m") from None
    return (time.time_ns() if now_ns is None else now_ns) - ago


def timestamp(text: str, what: str = "time", now: float | None = None) -> float:
    """`timestamp_ns` in unix seconds, for callers that need no more than microseconds."""
    return timestamp_ns(text, what, None if now is None else round(now * 1e9)) / 1e9


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
    return datetime.now(UTC)
