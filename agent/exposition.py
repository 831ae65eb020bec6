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
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, repeat

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics import exposition as om
from prometheus_client.samples import Sample

from .exporter import Series

TEXT_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CHUNK_BYTES = 1 << 20
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


_INT = {int}


def _fmt_all(values: Sequence[float]) -> Iterable[str]:
    if set(map(type, values)) <= _INT:
        return map(str, values)  # in C
    return [str(v) if type(v) is int else _fmt(v) for v in values]


def render_text_chunks(series: Iterable[Series]) -> Iterator[bytes]:
    """Prometheus text 0.0.4. Each container's base labels are escaped and joined once per scrape, each
    distinct extra label value once per family. Families read as columns (most of them) are written
    with map/zip/join over whole columns, so a sample costs no Python-level step of its own.

    Chunks of whole families, about CHUNK_BYTES each: a server that streams them never holds the whole
    text (17 MB at 1,000 containers) at once."""
    out: list[str] = []
    append = out.append
    size = 0
    label_cache: dict[int, list[str]] = {}  # id(bases list) -> formatted base labels, per container
    for s in series:
        if not s:
            continue
        name = s.name
        help_text = s.help.replace("\\", r"\\").replace("\n", r"\n")
        if size > CHUNK_BYTES:
            yield "".join(out).encode("utf-8")
            out.clear()
            size = 0
        append(f"# HELP {name} {help_text}\n# TYPE {name} {s.type}\n")
        bases = label_cache.get(id(s.bases))
        if bases is None:
            bases = [",".join([f'{k}="{_escape_value(v)}"' for k, v in zip(s.base_names, b)]) for b in s.bases]
            label_cache[id(s.bases)] = bases
        extra_names = s.extra_names
        if s.idx is not None and s.cols is not None and s.row_extras is None and s.base_names:
            chosen = bases if len(s.idx) == len(bases) else list(map(bases.__getitem__, s.idx))
            columns = []  # each: the pieces of its lines, container by container (no line is a string)
            for extra, values in s.cols:
                tail = "".join([f',{k}="{_escape_value(v)}"' for k, v in zip(extra_names, extra)]) + "} "
                columns.append(zip(repeat(name + "{"), chosen, repeat(tail), _fmt_all(values), repeat("\n")))
            pieces = columns[0] if len(columns) == 1 else chain.from_iterable(zip(*columns))
            append("".join(chain.from_iterable(pieces)))
            size += len(out[-1])
            continue
        # samples one by one (each with its own extra labels): still one pass of map/zip/join in C
        if s.row_extras is not None and s.idx is not None and s.cols is not None:
            bis, extra_of, values = s.idx, s.row_extras, s.cols[0][1]
        elif s.rows:
            bis, extra_of, values = zip(*s.rows)  # type: ignore[assignment]
        else:
            continue
        size += 200 * len(values)  # about a line each
        if extra_names:
            # every distinct tuple of extra label values, formatted once: `k="v",k2="v2"`
            extras = {extra: ",".join([f'{k}="{_escape_value(v)}"' for k, v in zip(extra_names, extra)])
                      for extra in set(extra_of)}
            labels: Iterable[str] = map(extras.__getitem__, extra_of)
            if s.base_names:
                labels = map(",".join, zip(map(bases.__getitem__, bis), labels))
        elif s.base_names:
            labels = map(bases.__getitem__, bis)
        else:
            append("".join(chain.from_iterable(zip(repeat(name + " "), _fmt_all(values), repeat("\n")))))
            continue
        append("".join(chain.from_iterable(zip(repeat(name + "{"), labels, repeat("} "), _fmt_all(values),
                                               repeat("\n")))))
    if out:
        yield "".join(out).encode("utf-8")


def render_text(series: Iterable[Series]) -> bytes:
    """Prometheus text 0.0.4, whole: see render_text_chunks."""
    return b"".join(render_text_chunks(series))


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
