"""One hour of OpenMetrics test data with the edge cases PromQL conformance needs.

Counters with resets (one of them twice), gauges with a short gap (inside the 5-minute lookback)
and a long one (beyond it), series that stop and start, two histograms, an info metric for
group_left, duplicate series for cardinality errors, NaN/Inf values, and jittered timestamps.
Deterministic (seeded); timestamps are whole seconds so that every store reads the same instants.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

T0 = 1_700_000_000
SPAN = 3600
STEP = 15
BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf")


def _labels(d: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in d.items()) + "}"


def _times(rng: random.Random, jitter: int) -> list[int]:
    out = []
    for i in range(SPAN // STEP + 1):
        out.append(T0 + i * STEP + (rng.randint(-jitter, jitter) if jitter and 0 < i < SPAN // STEP else 0))
    return out


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def lines(seed: int = 42) -> Iterator[str]:
    rng = random.Random(seed)
    jobs = ("api", "web")
    insts = ("i1", "i2")

    yield "# HELP http_requests Requests served."
    yield "# TYPE http_requests counter"
    for job in jobs:
        for inst in insts:
            for code in ("200", "500"):
                lb = _labels({"job": job, "instance": inst, "code": code})
                v = float(rng.randint(0, 50))
                for t in _times(rng, 3 if inst == "i2" else 0):
                    if (job, inst, code) == ("api", "i1", "200") and t - T0 == 20 * 60:
                        v = 3.0  # a counter reset
                    elif (job, inst, code) == ("web", "i2", "500") and t - T0 in (40 * 60, 41 * 60):
                        v = 1.0  # two resets a minute apart
                    else:
                        v += rng.randint(0, 20) if code == "200" else rng.randint(0, 3)
                    yield f"http_requests_total{lb} {_fmt(v)} {t}"

    yield "# TYPE temperature gauge"
    for job, inst, room in (("api", "i1", "a"), ("api", "i2", "b"), ("web", "i1", "a"), ("web", "i2", "b")):
        lb = _labels({"job": job, "instance": inst, "room": room})
        v = round(rng.uniform(10, 30), 2)
        for t in _times(rng, 2):
            v = round(v + rng.uniform(-1.5, 1.5), 2)
            off = t - T0
            if (job, inst) == ("api", "i1") and 600 < off < 780:
                continue  # 3-minute gap: the lookback bridges it
            if (job, inst) == ("web", "i2") and 1800 < off < 2280:
                continue  # 8-minute gap: the series is absent in between
            if (job, inst) == ("web", "i1") and off >= 1800:
                v = round(v - 3, 2)  # drifts below zero by the end
            yield f"temperature{lb} {_fmt(v)} {t}"

    yield "# TYPE stopping_gauge gauge"
    for t in _times(rng, 0):
        if t - T0 <= 1500:
            yield f'stopping_gauge{{job="api",instance="i1"}} {_fmt(float((t - T0) // 15 % 7))} {t}'
    yield "# TYPE starting_gauge gauge"
    for t in _times(rng, 0):
        if t - T0 >= 2100:
            yield f'starting_gauge{{job="api",instance="i1"}} {_fmt(float((t - T0) // 15 % 5))} {t}'

    yield "# TYPE request_duration_seconds histogram"
    for job, inst in (("api", "i1"), ("web", "i1")):
        counts = [0.0] * len(BUCKETS)
        total = 0.0
        for t in _times(rng, 0):
            for _ in range(rng.randint(0, 12)):
                x = rng.expovariate(4.0 if job == "api" else 1.5)
                total += round(x, 3)
                for i, ub in enumerate(BUCKETS):
                    if ub == "+Inf" or x <= float(ub):
                        counts[i] += 1
            for ub, c in zip(BUCKETS, counts):
                yield f'request_duration_seconds_bucket{{job="{job}",instance="{inst}",le="{ub}"}} {_fmt(c)} {t}'
            yield f'request_duration_seconds_count{{job="{job}",instance="{inst}"}} {_fmt(counts[-1])} {t}'
            yield f'request_duration_seconds_sum{{job="{job}",instance="{inst}"}} {_fmt(round(total, 3))} {t}'

    yield "# TYPE broken_bucket gauge"
    for t in _times(rng, 0):
        for ub, c in (("0.5", 10.0), ("1", 8.0), ("2", 15.0), ("+Inf", 20.0)):  # not monotonic
            yield f'broken_bucket{{le="{ub}"}} {_fmt(c + (t - T0) // 60)} {t}'

    yield "# TYPE node_info gauge"
    for job, inst, ver in (("api", "i1", "1.0"), ("api", "i2", "2.0"), ("web", "i1", "1.0"), ("web", "i2", "3.1")):
        for t in _times(rng, 0):
            yield f'node_info{{job="{job}",instance="{inst}",version="{ver}"}} 1 {t}'

    yield "# TYPE dup_metric gauge"
    for idx in ("1", "2"):
        for t in _times(rng, 0):
            yield f'dup_metric{{job="api",idx="{idx}"}} {_fmt(float(idx) * 10 + (t - T0) // 300)} {t}'

    yield "# TYPE queue_length gauge"
    for job in jobs:
        for inst in insts:
            for t in _times(rng, 0):
                yield f'queue_length{{job="{job}",instance="{inst}"}} {_fmt(float(rng.randint(0, 4)))} {t}'

    yield "# TYPE special_values gauge"
    for kind, val in (("nan", float("nan")), ("inf", float("inf")), ("neginf", float("-inf")), ("zero", 0.0),
                      ("neg", -5.5)):
        for t in _times(rng, 0):
            yield f'special_values{{kind="{kind}"}} {_fmt(val)} {t}'
    yield "# TYPE flappy gauge"
    for t in _times(rng, 0):
        k = (t - T0) // 15
        yield f"flappy {_fmt(float('nan') if k % 9 == 4 else float(k % 13) - 6)} {t}"
    yield "# EOF"


def write(path: str, seed: int = 42) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for line in lines(seed):
            f.write(line + "\n")
            n += 1
    return n
