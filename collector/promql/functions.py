"""PromQL functions, following prometheus/promql/functions.go (v2.42) step by step.

Range-vector functions take one series' samples in the window (timestamps in ms, values) and
return a value or None (no output for that series). Instant-vector functions take the vector of
(labels, value) pairs and return a new one.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Sequence
from itertools import islice

from pydock.collector.labelmatch import compile_go_regex
from pydock.collector.promql import gomath
from pydock.collector.promql.operators import VecT, drop_name, exec_error, quantile
from pydock.collector.promql.parser import is_label_name

RangeFn = Callable[[Sequence[int], Sequence[float], int, int, int, list[float]], float | None]


def extrapolated_rate(ts: Sequence[int], vs: Sequence[float], range_start: int, range_end: int,
                      range_ms: int, is_counter: bool, is_rate: bool) -> float | None:
    """rate/increase/delta: counter resets, extrapolation to the window edges unless the gap to an
    edge exceeds 1.1x the average interval (then half an interval), and never below zero for
    counters (the zero-point clamp)."""
    n = len(ts)
    if n < 2:
        return None
    result = vs[-1] - vs[0]
    # Add the value before each reset, in order, as Prometheus does (the float sum's order matters).
    # map(operator.lt) finds whether there is any reset at C speed; most windows have none.
    if is_counter and (vs[0] < 0 or any(map(operator.gt, vs, islice(vs, 1, None)))):
        last = 0.0
        for v in vs:
            if v < last:
                result += last
            last = v
    duration_to_start = (ts[0] - range_start) / 1000
    duration_to_end = (range_end - ts[-1]) / 1000
    sampled = (ts[-1] - ts[0]) / 1000
    avg = sampled / (n - 1)
    if is_counter and result > 0 and vs[0] >= 0:
        duration_to_zero = sampled * (vs[0] / result)
        duration_to_start = min(duration_to_start, duration_to_zero)
    threshold = avg * 1.1
    interval = sampled
    interval += duration_to_start if duration_to_start < threshold else avg / 2
    interval += duration_to_end if duration_to_end < threshold else avg / 2
    result = result * (interval / sampled)
    if is_rate:
        result = result / (range_ms / 1000)
    return result


def instant_value(ts: Sequence[int], vs: Sequence[float], is_rate: bool) -> float | None:
    if len(ts) < 2:
        return None
    last, prev = vs[-1], vs[-2]
    result = last if is_rate and last < prev else last - prev
    interval = ts[-1] - ts[-2]
    if interval == 0:
        return None
    if is_rate:
        result /= interval / 1000
    return result


# The folds below inline gomath.kahan_inc (same operations, same order): they run once per sample
# of every window, where a call per sample costs more than the arithmetic.

def _avg(vs: Sequence[float]) -> float:
    mean = count = c = 0.0
    isinf = math.isinf
    for v in vs:
        count += 1
        if isinf(mean):
            if isinf(v) and (mean > 0) == (v > 0):
                continue
            if not isinf(v) and not math.isnan(v):
                continue
        inc = v / count - mean / count
        t = mean + inc
        if abs(mean) >= abs(inc):
            c += (mean - t) + inc
        else:
            c += (inc - t) + mean
        mean = t
    return mean if isinf(mean) else mean + c


def _sum(vs: Sequence[float]) -> float:
    s = c = 0.0
    for v in vs:
        t = s + v
        if abs(s) >= abs(v):
            c += (s - t) + v
        else:
            c += (v - t) + s
        s = t
    return s if math.isinf(s) else s + c


def _var(vs: Sequence[float]) -> float:
    count = mean = c_mean = aux = c_aux = 0.0
    for v in vs:
        count += 1
        delta = v - (mean + c_mean)
        inc = delta / count
        t = mean + inc
        if abs(mean) >= abs(inc):
            c_mean += (mean - t) + inc
        else:
            c_mean += (inc - t) + mean
        mean = t
        inc = delta * (v - (mean + c_mean))
        t = aux + inc
        if abs(aux) >= abs(inc):
            c_aux += (aux - t) + inc
        else:
            c_aux += (inc - t) + aux
        aux = t
    return (aux + c_aux) / count


def _max(vs: Sequence[float]) -> float:
    m = vs[0]
    for v in vs:
        if v > m or math.isnan(m):
            m = v
    return m


def _min(vs: Sequence[float]) -> float:
    m = vs[0]
    for v in vs:
        if v < m or math.isnan(m):
            m = v
    return m


def _changes(vs: Sequence[float]) -> float:
    n = 0
    prev = vs[0]
    for cur in vs[1:]:
        if cur != prev and not (math.isnan(cur) and math.isnan(prev)):
            n += 1
        prev = cur
    return float(n)


def _resets(vs: Sequence[float]) -> float:
    n = 0
    prev = vs[0]
    for cur in vs[1:]:
        if cur < prev:
            n += 1
        prev = cur
    return float(n)


def linear_regression(ts: Sequence[int], vs: Sequence[float], intercept_time: int) -> tuple[float, float]:
    n = sum_x = c_x = sum_y = c_y = sum_xy = c_xy = sum_x2 = c_x2 = 0.0
    init_y = vs[0]
    const_y = True
    for i, (t, v) in enumerate(zip(ts, vs)):
        if const_y and i > 0 and v != init_y:
            const_y = False
        n += 1.0
        x = (t - intercept_time) / 1e3
        sum_x, c_x = gomath.kahan_inc(x, sum_x, c_x)
        sum_y, c_y = gomath.kahan_inc(v, sum_y, c_y)
        sum_xy, c_xy = gomath.kahan_inc(x * v, sum_xy, c_xy)
        sum_x2, c_x2 = gomath.kahan_inc(x * x, sum_x2, c_x2)
    if const_y:
        if math.isinf(init_y):
            return math.nan, math.nan
        return 0.0, init_y
    sum_x += c_x
    sum_y += c_y
    sum_xy += c_xy
    sum_x2 += c_x2
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = gomath.div(cov_xy, var_x)
    return slope, sum_y / n - slope * sum_x / n


def range_function(name: str, ts: Sequence[int], vs: Sequence[float], range_start: int, range_end: int,
                   range_ms: int, eval_t: int, scalars: list[float]) -> float | None:
    """One range-vector function over one series' window; None means no output sample."""
    if name == "rate":
        return extrapolated_rate(ts, vs, range_start, range_end, range_ms, True, True)
    if name == "increase":
        return extrapolated_rate(ts, vs, range_start, range_end, range_ms, True, False)
    if name == "delta":
        return extrapolated_rate(ts, vs, range_start, range_end, range_ms, False, False)
    if name == "irate":
        return instant_value(ts, vs, True)
    if name == "idelta":
        return instant_value(ts, vs, False)
    if name == "avg_over_time":
        return _avg(vs)
    if name == "sum_over_time":
        return _sum(vs)
    if name == "count_over_time":
        return float(len(vs))
    if name == "min_over_time":
        return _min(vs)
    if name == "max_over_time":
        return _max(vs)
    if name == "last_over_time":
        return vs[-1]
    if name == "present_over_time":
        return 1.0
    if name == "stddev_over_time":
        return gomath.sqrt(_var(vs))
    if name == "stdvar_over_time":
        return _var(vs)
    if name == "quantile_over_time":
        return quantile(scalars[0], list(vs))
    if name == "changes":
        return _changes(vs)
    if name == "resets":
        return _resets(vs)
    if name == "holt_winters":
        return holt_winters(vs, scalars[0], scalars[1])
    if name == "deriv":
        if len(ts) < 2:
            return None
        return linear_regression(ts, vs, ts[0])[0]
    if name == "predict_linear":
        if len(ts) < 2:
            return None
        slope, intercept = linear_regression(ts, vs, eval_t)
        return slope * scalars[0] + intercept
    raise exec_error(f"function {name!r} is not a range-vector function")


def _go_math(f: Callable[[float], float]) -> Callable[[float], float]:
    """Go's math functions return NaN or +-Inf where Python's raise."""
    def wrapped(v: float) -> float:
        try:
            return f(v)
        except OverflowError:
            return math.inf if f in (math.cosh,) else math.copysign(math.inf, v)
        except ValueError:
            if f is math.atanh and abs(v) == 1:
                return math.copysign(math.inf, v)
            return math.nan
    return wrapped


_SIMPLE: dict[str, Callable[[float], float]] = {
    "abs": abs, "ceil": gomath.ceil, "floor": gomath.floor, "exp": gomath.exp, "sqrt": gomath.sqrt,
    "ln": gomath.ln, "log2": gomath.log2, "log10": gomath.log10, "sgn": gomath.sgn,
    "deg": lambda v: v * 180 / math.pi, "rad": lambda v: v * math.pi / 180,
    **{name: _go_math(getattr(math, name)) for name in (
        "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh")},
}


def holt_winters(vs: Sequence[float], sf: float, tf: float) -> float | None:
    if sf <= 0 or sf >= 1:
        raise exec_error(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:f}")
    if tf <= 0 or tf >= 1:
        raise exec_error(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:f}")
    if len(vs) < 2:
        return None
    s0, s1, b = 0.0, vs[0], vs[1] - vs[0]
    for i in range(1, len(vs)):
        x = sf * vs[i]
        b = b if i - 1 == 0 else tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


_DAYS_BEFORE = (0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334, 365)
_ABS_ZERO_YEAR = -292277022399
_UNIX_TO_ABS = 62135596800 + 9223371966579724800  # Go's unixToInternal + internalToAbsolute
_DAY = 86400


def _go_leap(year: int) -> bool:
    # Go's % keeps the dividend's sign; math.fmod does the same for these exact integers.
    return math.fmod(year, 4) == 0 and (math.fmod(year, 100) != 0 or math.fmod(year, 400) == 0)


def _go_date(sec: int) -> dict[str, int]:
    """The calendar fields Go's time package gives for time.Unix(sec, 0).UTC(), including its int64
    wrap-around (Prometheus turns NaN and Inf into the smallest int64 and answers from there)."""
    total = (sec + _UNIX_TO_ABS + 2**63) % 2**64 - 2**63  # int64 addition wraps
    abs_ = total % 2**64  # ...and is read as uint64
    d = abs_ // _DAY
    n = d // 146097
    y = 400 * n
    d -= 146097 * n
    n = d // 36524
    n -= n >> 2
    y += 100 * n
    d -= 36524 * n
    n = d // 1461
    y += 4 * n
    d -= 1461 * n
    n = d // 365
    n -= n >> 2
    y += n
    d -= 365 * n
    year = y + _ABS_ZERO_YEAR
    yday = day = d
    month = 0
    if _go_leap(year) and day == 59:
        month, mday = 2, 29
    else:
        if _go_leap(year) and day > 59:
            day -= 1
        m = day // 31
        if day >= _DAYS_BEFORE[m + 1]:
            m += 1
        month, mday = m + 1, day - _DAYS_BEFORE[m] + 1
    in_month = (31, 29 if _go_leap(year) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    return {"minute": (abs_ % 3600) // 60, "hour": (abs_ % _DAY) // 3600,
            "day_of_week": ((abs_ + _DAY) % (7 * _DAY)) // _DAY, "day_of_month": mday, "month": month,
            "year": year, "day_of_year": yday + 1, "days_in_month": in_month}


def _go_int64(v: float) -> int:
    """int64(v) on amd64: truncation, and the "integer indefinite" smallest int64 for NaN, Inf and
    values out of range."""
    if not math.isfinite(v) or not -(2.0**63) <= v < 2.0**63:
        return -(2**63)
    return int(v)


DATE_FUNCS = ("minute", "hour", "day_of_month", "day_of_week", "day_of_year", "days_in_month", "month",
              "year")


def date_function(name: str, vec: VecT | None, eval_t: int) -> VecT:
    if vec is None:
        return [((), float(_go_date(eval_t // 1000)[name]))]
    return [(drop_name(m), float(_go_date(_go_int64(v))[name])) for m, v in vec]


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}, $$; a name is the longest run of word chars."""
    out: list[str] = []
    i, n = 0, len(template)
    while i < n:
        c = template[i]
        if c != "$" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            end = template.find("}", i + 2)
            name = template[i + 2 : end] if end != -1 else ""
            if end == -1 or not name or not re.fullmatch(r"\w+", name):
                out.append(c)
                i += 1
                continue
            i = end + 1
        else:
            m = re.match(r"\w+", template[i + 1 :])
            if not m:
                out.append(c)
                i += 1
                continue
            name = m.group(0)
            i += 1 + len(name)
        try:
            group = match.group(int(name)) if name.isdigit() else match.group(name)
        except (IndexError, KeyError):
            group = None
        out.append(group or "")
    return "".join(out)



def label_replace(vec: VecT, dst: str, repl: str, src: str, regex: str) -> VecT:
    try:
        rx = compile_go_regex(regex)
    except re.error:
        raise exec_error(f"invalid regular expression in label_replace(): {regex}") from None
    if not is_label_name(dst):
        raise exec_error(f"invalid destination label name in label_replace(): {dst}")
    out: VecT = []
    for m, v in vec:
        d = dict(m)
        mt = rx.fullmatch(d.get(src, ""))
        if mt is None:
            out.append((m, v))
            continue
        res = _expand(repl, mt)
        d.pop(dst, None)
        if res:
            d[dst] = res
        out.append((tuple(sorted(d.items())), v))
    return out


def label_join(vec: VecT, dst: str, sep: str, srcs: Sequence[str]) -> VecT:
    for s in srcs:
        if not is_label_name(s):
            raise exec_error(f"invalid source label name in label_join(): {s}")
    if not is_label_name(dst):
        raise exec_error(f"invalid destination label name in label_join(): {dst}")
    out: VecT = []
    for m, v in vec:
        d = dict(m)
        joined = sep.join(d.get(s, "") for s in srcs)
        d.pop(dst, None)
        if joined:
            d[dst] = joined
        out.append((tuple(sorted(d.items())), v))
    return out


def simple_function(name: str, vec: VecT, scalars: list[float]) -> VecT:
    if name in _SIMPLE:
        f = _SIMPLE[name]
        return [(drop_name(m), f(v)) for m, v in vec]
    if name == "round":
        to_nearest = scalars[0] if scalars else 1.0
        inv = gomath.div(1.0, to_nearest)
        return [(drop_name(m), gomath.div(gomath.floor(v * inv + 0.5), inv)) for m, v in vec]
    if name == "clamp":
        lo, hi = scalars
        if hi < lo:
            return []
        return [(drop_name(m), gomath.gomax(lo, gomath.gomin(hi, v))) for m, v in vec]
    if name == "clamp_max":
        return [(drop_name(m), gomath.gomin(scalars[0], v)) for m, v in vec]
    if name == "clamp_min":
        return [(drop_name(m), gomath.gomax(scalars[0], v)) for m, v in vec]
    if name == "sort":
        return sorted(vec, key=lambda s: (1, 0.0) if s[1] != s[1] else (0, s[1]))
    if name == "sort_desc":
        return sorted(vec, key=lambda s: (1, 0.0) if s[1] != s[1] else (0, -s[1]))
    raise exec_error(f"function {name!r} is not an instant-vector function")
