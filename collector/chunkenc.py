"""Sample chunk encoding for the TSDB: one series' samples over a short span, in one blob.

The first byte says how the rest is packed:
- RAW: timestamps and value bits as plain 8-byte arrays (tiny chunks, where compressing costs more
  than it saves: a scrape appends one sample per series).
- FLOAT: timestamp deltas and XORs of successive value bits (Gorilla's idea), byte-shuffled and
  deflated. XOR keeps every bit, so NaN payloads such as the staleness marker survive.
- INT: when every value is an integer (most counters), deltas of the integers instead of XORs;
  counters then shrink to a byte or two per sample.
- DECIMAL: when every value is exactly k / 10**d for one d in 1..9 (gauges read from text with a few
  decimals, such as 21.37), a byte for d and then the INT packing of the k's; decoding divides, which
  gives back the same double because both the parsed decimal and the quotient are correctly rounded
  (and encode checks every value round-trips bit for bit before choosing it).
Byte shuffling puts the mostly-zero high bytes of the deltas side by side, so zlib squeezes them
well (the trick of blosc's shuffle filter) without a bit-level coder, which would be slow in Python.
"""

from __future__ import annotations

import math
import operator
import struct
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate

RAW, FLOAT, INT, DECIMAL = 0, 1, 2, 3
RAW_MAX = 8  # chunks up to this many samples are stored uncompressed
_INT_LIMIT = 2.0**53
_RAW_ONE = struct.Struct("=Bqd")  # one sample, laid out as the RAW arrays are (native order)


def _shuffle(raw: bytes) -> bytes:
    return b"".join(raw[i::8] for i in range(8))


def _unshuffle(data: bytes) -> bytes:
    m = len(data) // 8
    out = bytearray(len(data))
    for i in range(8):
        out[i::8] = data[i * m : (i + 1) * m]
    return bytes(out)


def _deltas(xs: Sequence[int]) -> array[int]:
    out = array("q", xs[:1])
    out.extend(map(operator.sub, xs[1:], xs[:-1]))
    return out


def _integral(vs: Sequence[float]) -> bool:
    for v in vs:
        if not v.is_integer() or abs(v) >= _INT_LIMIT or (v == 0 and math.copysign(1.0, v) < 0):
            return False
    return True


def _decimal(vs: Sequence[float]) -> tuple[int, list[int]] | None:
    """(d, ks) with every vs[i] == ks[i] / 10**d bit for bit, the smallest such d, or None."""
    v0 = vs[0]
    if not math.isfinite(v0):
        return None
    for first in range(1, 10):
        if round(v0 * 10.0**first) / 10.0**first == v0:
            break
    else:
        return None
    for d in range(first, 10):
        scale = 10.0**d
        try:
            ks = [round(v * scale) for v in vs]
        except (ValueError, OverflowError):  # NaN or an infinity
            return None
        if any(abs(k) >= _INT_LIMIT for k in ks):
            return None
        back = [k / scale for k in ks]
        # == alone would let -0.0 pass as 0.0: compare the bits.
        if array("d", back).tobytes() == array("d", vs).tobytes():
            return d, ks
    return None


def encode(ts: Sequence[int], vs: Sequence[float]) -> bytes:
    """Pack parallel lists of timestamps (ms, increasing) and values into one blob."""
    if len(ts) == 1:  # what a scrape writes for each series
        return _RAW_ONE.pack(RAW, ts[0], vs[0])
    if len(ts) <= RAW_MAX:
        return bytes([RAW]) + array("q", ts).tobytes() + array("d", vs).tobytes()
    if _integral(vs):
        body = _deltas(ts).tobytes() + _deltas([int(v) for v in vs]).tobytes()
        return bytes([INT]) + zlib.compress(_shuffle(body), 6)
    scaled = _decimal(vs)
    if scaled is not None:
        d, ks = scaled
        return bytes([DECIMAL, d]) + zlib.compress(_shuffle(_deltas(ts).tobytes() + _deltas(ks).tobytes()), 6)
    u = array("Q")
    u.frombytes(array("d", vs).tobytes())
    xors = array("Q", u[:1])
    xors.extend(map(operator.xor, u[1:], u[:-1]))
    return bytes([FLOAT]) + zlib.compress(_shuffle(_deltas(ts).tobytes() + xors.tobytes()), 6)


def decode(data: bytes, n: int) -> tuple[list[int], list[float]]:
    """The inverse of `encode`; `n` is the number of samples in the chunk."""
    kind = data[0]
    if kind == RAW:
        ts = array("q")
        ts.frombytes(data[1 : 1 + 8 * n])
        vs = array("d")
        vs.frombytes(data[1 + 8 * n :])
        return ts.tolist(), vs.tolist()
    if kind == DECIMAL:
        raw = _unshuffle(zlib.decompress(data[2:]))
        deltas = array("q")
        deltas.frombytes(raw[: 8 * n])
        ks = array("q")
        ks.frombytes(raw[8 * n :])
        scale = 10.0 ** data[1]
        return list(accumulate(deltas)), [k / scale for k in accumulate(ks)]
    raw = _unshuffle(zlib.decompress(data[1:]))
    deltas = array("q")
    deltas.frombytes(raw[: 8 * n])
    if kind == INT:
        ints = array("q")
        ints.frombytes(raw[8 * n :])
        return list(accumulate(deltas)), list(map(float, accumulate(ints)))
    xors = array("Q")
    xors.frombytes(raw[8 * n :])
    out = array("d")
    out.frombytes(array("Q", accumulate(xors, operator.xor)).tobytes())
    return list(accumulate(deltas)), out.tolist()
