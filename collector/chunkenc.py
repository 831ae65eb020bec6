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

import numpy as np

RAW, FLOAT, INT, DECIMAL = 0, 1, 2, 3
RAW_MAX = 8  # chunks up to this many samples are stored uncompressed
_INT_LIMIT = 2.0**53
_RAW_ONE = struct.Struct("=Bqd")  # one sample, laid out as the RAW arrays are (native order)


def _unshuffle(data: bytes) -> bytes:
    m = len(data) // 8
    out = bytearray(len(data))
    for i in range(8):
        out[i::8] = data[i * m : (i + 1) * m]
    return bytes(out)


def encode(ts: Sequence[int], vs: Sequence[float]) -> bytes:
    """Pack parallel lists of timestamps (ms, increasing) and values into one blob."""
    if len(ts) == 1:  # what a scrape writes for each series
        return _RAW_ONE.pack(RAW, ts[0], vs[0])
    if len(ts) <= RAW_MAX:
        return bytes([RAW]) + array("q", ts).tobytes() + array("d", vs).tobytes()
    # Bigger chunks (bulk import, packing the head) with numpy: no Python step per sample. The choices
    # and bytes are those of the per-value code this replaced (checked on random and special values).
    t = np.asarray(ts, dtype=np.int64)
    v = np.asarray(vs, dtype=np.float64)
    dt = _deltas(t)
    with np.errstate(all="ignore"):
        if bool(np.all(np.abs(v) < _INT_LIMIT)) and bool(np.all(v == np.trunc(v))) and not bool(
                np.any((v == 0) & np.signbit(v))):
            body = dt + _deltas(v.astype(np.int64))
            return bytes([INT]) + zlib.compress(_shuffle(body), 6)
        scaled = _decimal(v)
    if scaled is not None:
        d, ks = scaled
        return bytes([DECIMAL, d]) + zlib.compress(_shuffle(dt + _deltas(ks)), 6)
    u = v.view(np.uint64)
    xors = u.copy()
    xors[1:] = u[1:] ^ u[:-1]
    return bytes([FLOAT]) + zlib.compress(_shuffle(dt + xors.tobytes()), 6)


def _deltas(x: np.ndarray) -> bytes:
    """The first value, then the differences (int64, native order)."""
    out = x.copy()
    out[1:] = x[1:] - x[:-1]
    return out.tobytes()


def _shuffle(raw: bytes) -> bytes:
    """Byte shuffling: byte i of every 8-byte word together, for i = 0..7."""
    return np.frombuffer(raw, dtype=np.uint8).reshape(-1, 8).T.tobytes()


def _decimal(v: np.ndarray) -> tuple[int, np.ndarray] | None:
    """(d, ks) with every v[i] == ks[i] / 10**d bit for bit, the smallest such d, or None. np.rint
    rounds half to even as round() does, on the same products."""
    v0 = float(v[0])
    if not math.isfinite(v0):
        return None
    for first in range(1, 10):
        if round(v0 * 10.0**first) / 10.0**first == v0:
            break
    else:
        return None
    raw = v.tobytes()
    for d in range(first, 10):
        scale = 10.0**d
        prod = v * scale
        if not bool(np.all(np.isfinite(prod))):  # round() raises there: NaN or an infinity
            return None
        kf = np.rint(prod)
        if bool(np.any(np.abs(kf) >= _INT_LIMIT)):
            return None
        ks = kf.astype(np.int64)  # as round() gives ints: -0.0 becomes 0 and must then fail below
        if (ks.astype(np.float64) / scale).tobytes() == raw:  # bits, so that -0.0 does not pass as 0.0
            return d, ks
    return None


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
