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
    """Prometheus text 0.0.4. Each container's base labels are escaped and joined once per group."""
    out: list[str] = []
    append = out.append
    label_cache: dict[int, list[str]] = {}  # id(bases list) -> formatted base labels, per container
    for s in series:
        if not s.rows:
            continue
        name = s.name
        help_text = s.help.replace("\\", r"\\").replace("\n", r"\n")
        append(f"# HELP {name} {help_text}\n# TYPE {name} {s.type}\n")
        bases = label_cache.get(id(s.bases))
        if bases is None:
            bases = [",".join([f'{k}="{_escape_value(v)}"' for k, v in zip(s.base_names, b)]) for b in s.bases]
            label_cache[id(s.bases)] = bases
        prefixes = [f'{k}="' for k in s.extra_names]
        one = prefixes[0] if len(prefixes) == 1 else None
        for bi, extra, value in s.rows:
            labels = bases[bi]
            if extra:
                if one is not None:
                    more = f'{one}{_escape_value(extra[0])}"'
                else:
                    more = ",".join([f'{p}{_escape_value(v)}"' for p, v in zip(prefixes, extra)])
                labels = f"{labels},{more}" if labels else more
            v = str(value) if type(value) is int else _fmt(value)
            append(f"{name}{{{labels}}} {v}\n" if labels else f"{name} {v}\n")
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
