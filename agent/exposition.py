"""Writing metric families out: Prometheus text 0.0.4 (fast path) and OpenMetrics 1.0.0.

prometheus-client's text writer appends `_total` to every counter's name, which would rename cAdvisor's
`container_memory_failcnt`, and formats every label of every sample with several calls. This writer
takes the exporter's `Series` and prints the exact sample names, formatting each container's base
labels once per scrape (labels: base ones first, then the metric's own; order carries no meaning). OpenMetrics
(asked for by Accept) goes through prometheus-client's own writer; there every counter sample must end
in `_total`, so failcnt is exposed as `container_memory_failcnt_total` in that format only, exactly as
client_golang does for cAdvisor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as om
from prometheus_client.samples import Sample

from .exporter import Series

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _escape_value(v: str) -> str:
    if "\\" in v or '"' in v or "\n" in v:
        v = v.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return v


def _fmt(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    if value == math.inf:
        return "+Inf"
    if value == -math.inf:
        return "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render_text(series: Iterable[Series]) -> bytes:
    """Prometheus text 0.0.4. Each container's base labels are escaped and joined once per group, each
    distinct extra label value once per family, and every family's lines are made by one comprehension."""
    out: list[str] = []
    append = out.append
    label_cache: dict[int, list[str]] = {}  # id(bases list) -> formatted base labels, per container
    fmt = _fmt
    for s in series:
        rows = s.rows
        if not rows:
            continue
        name = s.name
        help_text = s.help.replace("\\", r"\\").replace("\n", r"\n")
        append(f"# HELP {name} {help_text}\n# TYPE {name} {s.type}\n")
        bases = label_cache.get(id(s.bases))
        if bases is None:
            bases = [",".join([f'{k}="{_escape_value(v)}"' for k, v in zip(s.base_names, b)]) for b in s.bases]
            label_cache[id(s.bases)] = bases
        extra_names = s.extra_names
        if not extra_names:
            if s.base_names:  # the common case: base labels only
                append("".join([f"{name}{{{bases[bi]}}} {str(v) if type(v) is int else fmt(v)}\n"
                                for bi, _, v in rows]))
            else:
                append("".join([f"{name} {str(v) if type(v) is int else fmt(v)}\n" for _, _, v in rows]))
            continue
        # every distinct tuple of extra label values, formatted once: `k="v",k2="v2"`
        extras = {extra: ",".join([f'{k}="{_escape_value(v)}"' for k, v in zip(extra_names, extra)])
                  for extra in {r[1] for r in rows}}
        if s.base_names:
            append("".join([f"{name}{{{bases[bi]},{extras[extra]}}} {str(v) if type(v) is int else fmt(v)}\n"
                            for bi, extra, v in rows]))
        else:
            append("".join([f"{name}{{{extras[extra]}}} {str(v) if type(v) is int else fmt(v)}\n"
                            for _, extra, v in rows]))
    return "".join(out).encode("utf-8")


class _OpenMetricsView:
    """Adapts families for the OpenMetrics writer: counter samples all end in `_total` there."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        for m in self.families:
            if m.type == "counter" and any(s.name == m.name for s in m.samples):
                fixed = Metric(m.name, m.documentation, m.type)
                fixed.samples = [
                    Sample(m.name + "_total", s.labels, s.value, s.timestamp, s.exemplar) if s.name == m.name else s
                    for s in m.samples
                ]
                yield fixed
            else:
                yield m


def render_openmetrics(families: list[Metric]) -> bytes:
    return om.generate_latest(_OpenMetricsView(families))  # type: ignore[arg-type]


def wants_openmetrics(accept: str | None) -> bool:
    """Content negotiation as prometheus-client does it: OpenMetrics only when the scraper lists it."""
    if not accept:
        return False
    return any(part.split(";")[0].strip() == "application/openmetrics-text" for part in accept.split(","))


def render(series: list[Series], accept: str | None) -> tuple[bytes, str]:
    if wants_openmetrics(accept):
        return render_openmetrics([s.to_metric() for s in series]), OPENMETRICS_CONTENT_TYPE
    return render_text(series), TEXT_CONTENT_TYPE
