"""Go's float semantics where Python's differ, so results match Prometheus bit for bit.

Python raises on 1/0, fmod(x, 0), pow(0, -1), sqrt(-1), log(0) and overflow, and its min/max
ignore NaN depending on argument order; Go returns IEEE values and has fixed NaN/Inf rules.
"""

from __future__ import annotations

import math

INF = math.inf
NAN = math.nan


def div(a: float, b: float) -> float:
    try:
        return a / b
    except ZeroDivisionError:
        if math.isnan(a) or a == 0:
            return NAN
        return math.copysign(INF, a) * math.copysign(1.0, b)


def mod(a: float, b: float) -> float:
    """math.Mod: the sign of `a`; NaN for b == 0, infinite a, or a NaN operand."""
    if b == 0 or math.isinf(a) or math.isnan(a) or math.isnan(b):
        return NAN
    if math.isinf(b):
        return a
    return math.fmod(a, b)


def _is_odd_int(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and abs(y) < 2**53 and int(y) % 2 == 1


def pow_(a: float, b: float) -> float:
    try:
        return math.pow(a, b)
    except ZeroDivisionError:
        return math.copysign(INF, a) if _is_odd_int(b) else INF
    except ValueError:
        if a == 0 and b < 0:
            return math.copysign(INF, a) if _is_odd_int(b) else INF
        return NAN
    except OverflowError:
        return -INF if a < 0 and _is_odd_int(b) else INF


def gomax(a: float, b: float) -> float:
    if a == INF or b == INF:
        return INF
    if math.isnan(a) or math.isnan(b):
        return NAN
    if a == 0 and b == 0:
        return b if math.copysign(1.0, a) < 0 else a
    return max(b, a)


def gomin(a: float, b: float) -> float:
    if a == -INF or b == -INF:
        return -INF
    if math.isnan(a) or math.isnan(b):
        return NAN
    if a == 0 and b == 0:
        return a if math.copysign(1.0, a) < 0 else b
    return min(b, a)


def floor(v: float) -> float:
    return v if not math.isfinite(v) else float(math.floor(v))


def ceil(v: float) -> float:
    return v if not math.isfinite(v) else float(math.ceil(v))


def sqrt(v: float) -> float:
    if math.isnan(v) or v < 0:
        return NAN
    return math.sqrt(v)


def _log(fn: object) -> object:
    def f(v: float) -> float:
        if math.isnan(v) or v < 0:
            return NAN
        if v == 0:
            return -INF
        if v == INF:
            return INF
        return fn(v)  # type: ignore[operator]
    return f


ln = _log(math.log)
log2 = _log(math.log2)
log10 = _log(math.log10)


def exp(v: float) -> float:
    try:
        return math.exp(v)
    except OverflowError:
        return INF


def sgn(v: float) -> float:
    if v < 0:
        return -1.0
    if v > 0:
        return 1.0
    return v


def kahan_inc(inc: float, s: float, c: float) -> tuple[float, float]:
    """Prometheus's kahanSumInc (Neumaier's variant)."""
    t = s + inc
    if abs(s) >= abs(inc):
        c += (s - t) + inc
    else:
        c += (inc - t) + s
    return t, c


def to_int64(f: float) -> int | None:
    """Go's int64(f) for values that fit (truncation toward zero); None when it overflows."""
    if math.isnan(f) or f > 9.223372036854775807e18 or f < -9.223372036854775808e18:
        return None
    return int(f)
