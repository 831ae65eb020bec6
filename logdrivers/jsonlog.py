"""Docker's json-file record format, byte for byte, encoded a chunk of lines at a time.

A record is `{"log":"<line>\\n","stream":"stdout","attrs":{...},"time":"<RFC3339Nano>"}` and a
newline, keys in that order, escaped as moby's `ffjsonWriteJSONBytesAsString` does (`<>&` as
`\\u003c`..., control bytes as `\\u00XX`, invalid UTF-8 as `\\ufffd`, U+2028/9 escaped, 0x7f raw).

The copier hands over whole chunks of complete lines that share a stream and a timestamp, so a
chunk becomes records with a few passes of C code over its bytes (one `bytes.replace` puts the
record frame between the lines) instead of a Python loop per line or per byte.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping

from pydock.logdrivers.base import LogMessage, PartialMeta

# Bytes copied as they are: printable ASCII but `"\<>&` (0x7f too, as Docker), the newline (the
# caller frames on it) and, once the text is known to be valid UTF-8, every byte of a multi-byte
# character. `bytes.translate` deleting these leaves nothing when no escaping is needed: one pass
# of C over the chunk, about ten times faster than a regex search.
_PLAIN = bytes(b for b in range(0x20, 0x80) if b not in b'"\\<>&') + b"\n"
_PLAIN_OR_HIGH = _PLAIN + bytes(range(0x80, 0x100))
_ESCAPE_STR = re.compile('[\x00-\x09\x0b-\x1f"\\\\<>&\u2028\u2029\udc80-\udcff]')
_ESCAPES: dict[str, str] = {'"': '\\"', "\\": "\\\\", "\r": "\\r", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_ESCAPES.update({c: f"\\u{ord(c):04x}" for c in "<>&"})
_ESCAPES.update({chr(b): f"\\u{b:04x}" for b in range(0x20) if chr(b) not in _ESCAPES and b != 0x0A})
_ESCAPES.update({chr(0xDC00 + b): "\\ufffd" for b in range(0x80, 0x100)})


def _escape_char(m: re.Match[str]) -> str:
    return _ESCAPES[m.group(0)]


def escape(data: bytes) -> bytes:
    """Escape a JSON string body as Docker does. Newlines are left raw: the caller frames on them."""
    if not data.translate(None, _PLAIN_OR_HIGH):
        if data.isascii():
            return data
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if b"\xe2\x80\xa8" not in data and b"\xe2\x80\xa9" not in data:
                return data  # valid UTF-8 is written raw; only U+2028/9 are escaped
    # surrogateescape turns each invalid byte into one lone surrogate, as Go's DecodeRune yields one
    # RuneError per invalid byte; each becomes the six characters \ufffd.
    text = data.decode("utf-8", "surrogateescape")
    return _ESCAPE_STR.sub(_escape_char, text).encode("utf-8")


def escape_line(line: bytes) -> bytes:
    """`escape` for one line on its own: a newline inside it becomes `\\n` too, as ffjson writes it."""
    out = escape(line)
    return out.replace(b"\n", b"\\n") if b"\n" in line else out


def format_time(ns: int) -> str:
    """Go's time.RFC3339Nano in UTC: the fraction loses its trailing zeros (and its dot if zero)."""
    sec, frac = divmod(ns, 1_000_000_000)
    t = time.gmtime(sec)
    base = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    if frac:
        return f"{base}.{frac:09d}".rstrip("0") + "Z"
    return base + "Z"


_TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
_sec_cache: dict[str, int] = {}


def parse_time(text: str) -> int:
    """RFC 3339 (any fraction, any zone) to unix nanoseconds; seconds are cached per distinct prefix."""
    m = _TIME_RE.match(text)
    if not m:
        raise ValueError(f"bad timestamp {text!r}")
    key = text[:19]
    sec = _sec_cache.get(key)
    if sec is None:
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        import calendar  # readers only: the shim's writers never parse times

        sec = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))
        if len(_sec_cache) > 4096:
            _sec_cache.clear()
        _sec_cache[key] = sec
    zone = m.group(8)
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        sec -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    frac = m.group(7) or ""
    return sec * 1_000_000_000 + (int(frac.ljust(9, "0")) if frac else 0)


def attrs_json(attrs: Mapping[str, str]) -> bytes:
    """`attrs` as Go's json.Marshal of a map writes it: sorted keys, HTML characters escaped."""
    text = json.dumps(dict(attrs), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    for ch, rep in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                    ("\u2029", "\\u2029")):
        text = text.replace(ch, rep)
    return text.encode("utf-8")


_OPENING = b'{"log":"'


class ChunkEncoder:
    """Encodes runs of complete lines for one container (its attrs fixed when the driver is made)."""

    def __init__(self, attrs: Mapping[str, str]):
        self._attrs = b',"attrs":' + attrs_json(attrs) if attrs else b""
        self._ts_cache: tuple[int, bytes] = (-1, b"")
        self._sep_key: tuple[str, int] | None = None
        self._sep = b""

    def _time(self, ns: int) -> bytes:
        if self._ts_cache[0] != ns:
            self._ts_cache = (ns, format_time(ns).encode())
        return self._ts_cache[1]

    def _tail(self, source: str, ns: int, attrs: bytes | None = None) -> bytes:
        stream = b',"stream":"' + source.encode() + b'"' if source else b""
        return stream + (self._attrs if attrs is None else attrs) + b',"time":"' + self._time(ns) + b'"}\n'

    def chunk(self, source: str, data: bytes, ns: int) -> bytes:
        """`data` is one or more complete lines, each ending in `\\n`; returns their records."""
        parts, _ = self.chunk_parts(source, data, ns)
        return b"".join(parts)

    def chunk_parts(self, source: str, data: bytes, ns: int) -> tuple[list[bytes | memoryview], int]:
        """`chunk` as buffers for one `writev(2)`, and the number of records: no copy of the chunk
        beyond the one `bytes.replace` makes, and no count of its newlines."""
        # Each newline becomes `\n"...}` + newline + the next record's opening; the last one opens a
        # record that does not exist, cut off by the view.
        key = (source, ns)
        if self._sep_key != key:
            self._sep_key, self._sep = key, b'\\n"' + self._tail(source, ns) + _OPENING
        sep = self._sep
        body = escape(data)
        framed = body.replace(b"\n", sep)
        # Only newlines grew (escaping leaves them raw), each by len(sep) - 1 bytes.
        lines = (len(framed) - len(body)) // (len(sep) - 1)
        return [_OPENING, memoryview(framed)[: -len(_OPENING)]], lines

    def message(self, msg: LogMessage) -> bytes:
        line = escape_line(msg.line)
        if msg.partial is None or msg.partial.last:
            line += b"\\n"
        # Per-message attributes (a reader re-encoding) take the place of the driver's own.
        attrs = b',"attrs":' + attrs_json(msg.attrs) if msg.attrs else None
        tail = self._tail(msg.source, msg.timestamp_ns, attrs)
        if not line:  # Docker leaves an empty `log` out; the next key opens the object
            return b"{" + tail[1:]
        return b'{"log":"' + line + b'"' + tail


_STREAM_KEY = b'\\n","stream":"'
_TIME_KEY = b'","time":"'


def _decode_plain(record: bytes) -> LogMessage | None:
    """The common record, decoded without a JSON parser: a whole line that needed no escaping and no
    attributes. Anything else (escapes, parts, attrs, other key orders) returns None."""
    if not record.startswith(b'{"log":"'):
        return None
    cut = record.rfind(_STREAM_KEY)
    if cut < 0:
        return None
    rest = record[cut + len(_STREAM_KEY) :].rstrip(b"\n")
    if rest.startswith((b"stdout", b"stderr")):
        source, rest = rest[:6], rest[6:]
    else:
        return None
    if not rest.startswith(_TIME_KEY) or not rest.endswith(b'"}'):
        return None
    line = record[8:cut]
    if b"\\" in line or b'"' in line or not line.isascii():
        return None
    try:
        ts = parse_time(rest[len(_TIME_KEY) : -2].decode())
    except ValueError:
        return None
    return LogMessage(line, source.decode(), ts)


def decode(record: bytes) -> LogMessage:
    """One record (with or without its newline) back into a message.

    The line loses the newline Docker appended; a record whose `log` does not end in one was a
    non-final part of a long line, marked partial here (the file keeps no part id or ordinal:
    the reader numbers them)."""
    fast = _decode_plain(record)
    if fast is not None:
        return fast
    obj = json.loads(record)
    if not isinstance(obj, dict):
        raise TypeError(f"the record is a JSON {type(obj).__name__}, not an object")
    log = obj.get("log", "")
    if not isinstance(log, str):
        raise TypeError(f"the record's log is {type(log).__name__}, not a string")
    line = log.encode("utf-8", "surrogatepass")
    partial = None
    if line.endswith(b"\n"):
        line = line[:-1]
    else:
        partial = PartialMeta(id="", ordinal=0, last=False)
    attrs = obj.get("attrs") or {}
    return LogMessage(line=line, source=obj.get("stream", ""), timestamp_ns=parse_time(obj["time"]),
                      partial=partial, attrs=attrs)
