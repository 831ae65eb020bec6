"""The cAdvisor-compatible exporter: a prometheus-client custom collector over a `Sampler`.

The contract is the table `CONTAINER_METRICS`: name, help, type, extra labels and a getter from the
stats record, as in cAdvisor's lib/metrics/prometheus.go, so names, types, units and labels are
cAdvisor's and existing dashboards and alert rules work unchanged. Base labels are cAdvisor's: `id`
(the cgroup path), `name`, `image`, and `container_label_<key>` for the union of label keys over the
scrape ("" where a container lacks one). A container that cannot be read sets
`container_scrape_error` to 1 and is left out; the scrape itself never fails for it.

Deviation from cAdvisor, on purpose: samples carry no explicit timestamps, because they are read less
than `--cache-seconds` before the scrape, at it or by the read-ahead just before it (cAdvisor serves a
cache and stamps the cache's time; see google/cadvisor#3581).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .discovery import Target
from .sampler import Sampler, Snapshot
from .stats import TASK_STATES, CgroupStats

Values = Iterable[tuple[tuple[str, ...], float]]  # (extra label values, value)
NS_PER_S = 1e9  # divide, not multiply by 1e-9: 1071875000 / 1e9 prints as 1.071875


# A column: (extra label values, part of the stats record, getter of the value from that part). A family
# made of columns is read for all containers at once (map over the parts, in C), not per container.
Column = tuple[tuple[str, ...], str, Callable[[Any], Any]]


@dataclass(frozen=True)
class MetricDef:
    name: str  # the exposed name, exactly cAdvisor's (counters mostly end in _total; failcnt does not)
    help: str
    type: str  # "counter" or "gauge"
    get: Callable[[CgroupStats, Target], Values] | None  # per container; None when `columns` say it
    labels: tuple[str, ...] = ()
    when: Callable[[CgroupStats], bool] | None = None  # cAdvisor's per-metric condition; None: always
    columns: tuple[Column, ...] = ()  # one value a column for each container whose part is not None
    each: str | None = None  # with one column: a tuple part (network, blkio), one sample per item, its
    # `name` the one extra label (interface, device)
    divisor: float | None = None  # applied to column values (ns -> s)
    unlimited_is_zero: bool = False  # column values: None (no limit) is exposed as 0, as cAdvisor


def _col(part: str, attr: str, extra: tuple[str, ...] = ()) -> tuple[Column, ...]:
    return ((extra, part, attrgetter(attr)),)


def _mem(attr: str) -> tuple[Column, ...]:
    return _col("memory", attr)


def _cpu(attr: str) -> tuple[Column, ...]:
    return _col("cpu", attr)


def _proc(attr: str) -> tuple[Column, ...]:
    return _col("processes", attr)


def _task_state(state: str) -> Callable[[Any], int]:
    return lambda p: p.task_states.get(state, 0)


def _one(v: float | None) -> Values:
    return () if v is None else (((), v),)


def _cpu_usage(s: CgroupStats, t: Target) -> Values:
    if s.cpu is None:
        return ()
    if s.cpu.per_cpu_ns:  # cAdvisor: one series per CPU ("cpu00"), zeros left out
        return [((_CPU_LABELS[i] if i < len(_CPU_LABELS) else f"cpu{i:02d}",), v / NS_PER_S)
                for i, v in enumerate(s.cpu.per_cpu_ns) if v > 0]
    if s.cpu.usage_ns > 0:  # cAdvisor leaves out a zero total too
        return ((("total",), s.cpu.usage_ns / NS_PER_S),)
    return ()


_CPU_LABELS = tuple(f"cpu{i:02d}" for i in range(256))


def _has_quota(s: CgroupStats) -> bool:
    return s.cpu_spec is not None and s.cpu_spec.quota_us is not None


def _net(attr: str) -> dict[str, Any]:
    return {"get": None, "labels": ("interface",), "each": "network", "columns": _col("network", attr)}


def _io(attr: str) -> dict[str, Any]:
    return {"get": None, "labels": ("device",), "each": "blkio", "columns": _col("blkio", attr)}


def _threads(s: CgroupStats, t: Target) -> Values:
    if s.pids is not None:
        return _one(s.pids.current)
    return _one(s.processes.threads) if s.processes is not None else ()


G, C = "gauge", "counter"
_FAILURES = tuple(((kind, scope), "memory", attrgetter(attr)) for kind, scope, attr in (
    ("pgfault", "container", "pgfault"), ("pgfault", "hierarchy", "hierarchical_pgfault"),
    ("pgmajfault", "container", "pgmajfault"), ("pgmajfault", "hierarchy", "hierarchical_pgmajfault")))
CONTAINER_METRICS: tuple[MetricDef, ...] = (
    MetricDef("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", C,
              _cpu_usage, ("cpu",)),
    MetricDef("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", C,
              None, columns=_cpu("user_ns"), divisor=NS_PER_S),
    MetricDef("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", C,
              None, columns=_cpu("system_ns"), divisor=NS_PER_S),
    MetricDef("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", C,
              None, when=_has_quota, columns=_cpu("periods")),
    MetricDef("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", C,
              None, when=_has_quota, columns=_cpu("throttled_periods")),
    MetricDef("container_cpu_cfs_throttled_seconds_total",
              "Total time duration the container has been throttled.", C, None, when=_has_quota,
              columns=_cpu("throttled_ns"), divisor=NS_PER_S),
    MetricDef("container_memory_usage_bytes",
              "Current memory usage in bytes, including all memory regardless of when it was accessed", G,
              None, columns=_mem("usage")),
    MetricDef("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", G,
              None, columns=_mem("max_usage")),
    MetricDef("container_memory_working_set_bytes", "Current working set in bytes.", G, None,
              columns=_mem("working_set")),
    MetricDef("container_memory_rss", "Size of RSS in bytes.", G, None, columns=_mem("rss")),
    MetricDef("container_memory_cache", "Number of bytes of page cache memory.", G, None, columns=_mem("cache")),
    MetricDef("container_memory_swap", "Container swap usage in bytes.", G, None, columns=_mem("swap")),
    MetricDef("container_memory_mapped_file", "Size of memory mapped files in bytes.", G, None,
              columns=_mem("mapped_file")),
    MetricDef("container_memory_total_active_file_bytes", "Current total active file in bytes.", G, None,
              columns=_mem("active_file")),
    MetricDef("container_memory_total_inactive_file_bytes", "Current total inactive file in bytes.", G, None,
              columns=_mem("inactive_file")),
    MetricDef("container_memory_failcnt", "Number of memory usage hits limits", C, None, columns=_mem("failcnt")),
    MetricDef("container_memory_failures_total", "Cumulative count of memory allocation failures.", C,
              None, ("failure_type", "scope"), columns=_FAILURES),
    MetricDef("container_oom_events_total", "Count of out of memory events observed for the container", C,
              None, columns=_mem("oom_events")),
    MetricDef("container_spec_memory_limit_bytes", "Memory limit for the container.", G,
              None, columns=_mem("limit"), unlimited_is_zero=True),
    MetricDef("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", G,
              None, columns=_mem("swap_limit"), unlimited_is_zero=True),
    MetricDef("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container.",
              G, None, columns=_mem("reservation"), unlimited_is_zero=True),
    MetricDef("container_spec_cpu_quota", "CPU quota of the container.", G,
              None, when=_has_quota, columns=_col("cpu_spec", "quota_us")),
    MetricDef("container_spec_cpu_period", "CPU period of the container.", G,
              None, columns=_col("cpu_spec", "period_us")),
    MetricDef("container_spec_cpu_shares", "CPU share of the container.", G,
              None, columns=_col("cpu_spec", "shares")),
    MetricDef("container_network_receive_bytes_total", "Cumulative count of bytes received", C,
              **_net("rx_bytes")),
    MetricDef("container_network_receive_packets_total", "Cumulative count of packets received", C,
              **_net("rx_packets")),
    MetricDef("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving",
              C, **_net("rx_errors")),
    MetricDef("container_network_receive_packets_dropped_total",
              "Cumulative count of packets dropped while receiving", C, **_net("rx_dropped")),
    MetricDef("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", C,
              **_net("tx_bytes")),
    MetricDef("container_network_transmit_packets_total", "Cumulative count of packets transmitted", C,
              **_net("tx_packets")),
    MetricDef("container_network_transmit_errors_total",
              "Cumulative count of errors encountered while transmitting", C, **_net("tx_errors")),
    MetricDef("container_network_transmit_packets_dropped_total",
              "Cumulative count of packets dropped while transmitting", C, **_net("tx_dropped")),
    MetricDef("container_fs_reads_bytes_total", "Cumulative count of bytes read", C, **_io("read_bytes")),
    MetricDef("container_fs_writes_bytes_total", "Cumulative count of bytes written", C, **_io("write_bytes")),
    MetricDef("container_fs_reads_total", "Cumulative count of reads completed", C, **_io("reads")),
    MetricDef("container_fs_writes_total", "Cumulative count of writes completed", C, **_io("writes")),
    MetricDef("container_processes", "Number of processes running inside the container.", G, None,
              columns=_proc("processes")),
    MetricDef("container_threads", "Number of threads running inside the container", G, _threads),
    MetricDef("container_threads_max",
              "Maximum number of threads allowed inside the container, infinity if value is zero", G,
              None, columns=_col("pids", "limit"), unlimited_is_zero=True),
    MetricDef("container_file_descriptors", "Number of open file descriptors for the container.", G, None,
              columns=_proc("fds")),
    MetricDef("container_sockets", "Number of open sockets for the container.", G, None, columns=_proc("sockets")),
    MetricDef("container_tasks_state", "Number of tasks in given state", G, None, ("state",),
              columns=tuple(((st,), "processes", _task_state(st)) for st in TASK_STATES)),
    MetricDef("container_start_time_seconds", "Start time of the container since unix epoch in seconds.", G,
              lambda s, t: _one(t.start_time)),
    MetricDef("container_last_seen", "Last time a container was seen by the exporter", G,
              lambda s, t: _one(int(s.timestamp))),  # cAdvisor: time.Now().Unix(), whole seconds
)

PYDOCK_STATES = ("created", "running", "paused", "restarting", "exited", "dead")
HEALTH_STATES = ("starting", "healthy", "unhealthy")
_LABEL_KEY = re.compile(r"[^a-zA-Z0-9_]")


def sanitize_label(key: str) -> str:
    return "container_label_" + _LABEL_KEY.sub("_", key)


@dataclass
class Series:
    """One metric family before it is written out: the text writer formats each container's base
    labels once per scrape instead of once per sample; `to_metric` gives prometheus-client's form.

    Samples are `rows` (base index, extra label values, value), or, for a family read as columns,
    `idx` (base indexes) with `cols` (extra label values, one value per index): the samples are then
    container by container, each container's columns in order."""

    name: str  # the exposed sample name
    help: str
    type: str
    base_names: tuple[str, ...]
    extra_names: tuple[str, ...]
    bases: list[tuple[str, ...]]  # base label values, shared by the series of one group
    rows: list[tuple[int, tuple[str, ...], float]] = field(default_factory=list)  # (base index, extra, value)
    idx: list[int] | None = None
    cols: list[tuple[tuple[str, ...], list[float]]] | None = None
    row_extras: list[tuple[str, ...]] | None = None  # one column, extra label values per sample (each=)

    def all_rows(self) -> list[tuple[int, tuple[str, ...], float]]:
        if self.idx is None or self.cols is None:
            return self.rows
        if self.row_extras is not None:
            return list(zip(self.idx, self.row_extras, self.cols[0][1]))
        return [(bi, extra, values[k]) for k, bi in enumerate(self.idx) for extra, values in self.cols]

    def __bool__(self) -> bool:
        return bool(self.rows) or bool(self.idx and self.cols)

    def to_metric(self) -> Metric:
        family = self.name[:-6] if self.type == "counter" and self.name.endswith("_total") else self.name
        m = Metric(family, self.help, self.type)
        names = self.base_names + self.extra_names
        order = sorted(range(len(names)), key=lambda i: names[i])  # sorted, as client_golang writes them
        for bi, extra, value in self.all_rows():
            values = self.bases[bi] + extra
            m.samples.append(Sample(self.name, {names[i]: values[i] for i in order}, value, None, None))
        return m


class CgroupCollector:
    """A prometheus-client collector: `registry.register(CgroupCollector(sampler))`."""

    def __init__(self, sampler: Sampler) -> None:
        self.sampler = sampler

    def collect(self) -> Iterator[Metric]:
        return iter(build_families(self.sampler.snapshot()))

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names depend on the scrape (label union); skip registry's collision check


def build_families(snap: Snapshot) -> list[Metric]:
    return [s.to_metric() for s in collect_series(snap)]


def collect_series(snap: Snapshot) -> list[Series]:
    entries = [e for e in snap.entries if e.stats is not None]
    label_keys = sorted({k for e in entries for k in e.target.labels})
    base = ("id", "image", "name", *(sanitize_label(k) for k in label_keys))
    bases = [(e.target.id, e.target.image, e.target.name, *(e.target.labels.get(k, "") for k in label_keys))
             for e in entries]
    items = [(i, e.stats, e.target) for i, e in enumerate(entries) if e.stats is not None]
    stats = [s for _, s, _ in items]
    parts: dict[tuple[str, object], Any] = {}  # (part, quota only) -> (indexes, parts); (part, "names")
    out: list[Series] = []
    for d in CONTAINER_METRICS:
        if d.columns:
            series = _columns(d, stats, parts, base, bases)
            if series is not None:
                out.append(series)
            continue
        get, when = d.get, d.when
        assert get is not None
        if when is None:  # one comprehension per family: no per-container generator or extend
            rows = [(i, extra, value) for i, s, t in items for extra, value in get(s, t)]
        else:
            rows = [(i, extra, value) for i, s, t in items if when(s) for extra, value in get(s, t)]
        if rows:
            out.append(Series(d.name, d.help, d.type, base, d.labels, bases, rows))
    out.append(Series("container_scrape_error", "1 if there was an error while getting container metrics, 0 otherwise",
                      "gauge", (), (), [()], [(0, (), 1 if snap.errors else 0)]))
    out.extend(_machine(snap))
    out.extend(_pydock(snap))
    return out


def _columns(d: MetricDef, stats: list[CgroupStats], parts: dict[tuple[str, object], Any],
             base: tuple[str, ...], bases: list[tuple[str, ...]]) -> Series | None:
    """A family read as columns: the containers that have the part, then each column's values, all by
    map() over the parts (stats and entries share indexes: every entry here has stats)."""
    part = d.columns[0][1]
    key = (part, d.when is not None)
    found = parts.get(key)
    if found is None:
        if d.each is not None:  # one sample per item of a tuple part, container by container
            idx = [i for i, s in enumerate(stats) for _ in getattr(s, part)]
            found = parts[key] = (idx, [item for s in stats for item in getattr(s, part)])
        else:
            idx = [i for i, s in enumerate(stats) if getattr(s, part) is not None and (d.when is None or d.when(s))]
            found = parts[key] = (idx, [getattr(stats[i], part) for i in idx])
    idx, objs = found
    if not idx:
        return None
    row_extras = None
    if d.each is not None:
        row_extras = parts.get((part, "names"))
        if row_extras is None:  # (interface,) of every sample, shared by the part's families
            row_extras = parts[(part, "names")] = [(n,) for n in map(attrgetter("name"), objs)]
    cols: list[tuple[tuple[str, ...], list[Any]]] = []
    for extra, _, getter in d.columns:
        values: list[Any] = list(map(getter, objs))
        if d.unlimited_is_zero:
            values = [0 if v is None else v for v in values]
        if d.divisor is not None:
            div = d.divisor
            values = [v / div for v in values]
        cols.append((extra, values))
    return Series(d.name, d.help, d.type, base, d.labels, bases, idx=idx, cols=cols, row_extras=row_extras)


def _machine(snap: Snapshot) -> list[Series]:
    m = snap.machine
    bases: list[tuple[str, ...]] = [(m.boot_id, m.machine_id, m.system_uuid)]
    names = ("boot_id", "machine_id", "system_uuid")
    return [
        Series("machine_cpu_cores", "Number of logical CPU cores.", "gauge", names, (), bases,
               [(0, (), m.cpu_cores)]),
        Series("machine_memory_bytes", "Amount of memory installed on the machine.", "gauge", names, (), bases,
               [(0, (), m.memory_bytes)]),
    ]


def _pydock(snap: Snapshot) -> list[Series]:
    """pydock's own series, for every pydock container whatever its state."""
    mine = [e.target for e in snap.entries if e.target.runtime == "pydock" and e.target.name]
    base = ("container_id", "image", "name")
    bases: list[tuple[str, ...]] = [(t.container_id, t.image, t.name) for t in mine]
    lines = Series("pydock_log_lines_total", "Log lines written by the container's log driver.", "counter",
                   base, ("driver", "stream"), bases)
    nbytes = Series("pydock_log_bytes_total", "Log bytes written by the container's log driver.", "counter",
                    base, ("driver", "stream"), bases)
    dropped = Series("pydock_log_dropped_messages_total",
                     "Log messages dropped by a non-blocking log driver whose buffer was full.", "counter",
                     base, ("driver",), bases)
    redactions = Series("pydock_log_redactions_total",
                        "Secrets replaced by [REDACTED] in the container's log lines (--log-opt redact, redact-regex).",
                        "counter", base, ("driver",), bases)
    restarts = Series("pydock_container_restarts_total", "Times the restart policy restarted the container.",
                      "counter", base, (), bases)
    state = Series("pydock_container_state", "1 for the container's current state, 0 for the others.", "gauge",
                   base, ("state",), bases)
    health = Series("pydock_container_health_status",
                    "1 for the container's current health status, 0 for the others (health-checked only).",
                    "gauge", base, ("status",), bases)
    for i, t in enumerate(mine):
        ls = t.log_stats
        if ls is not None:
            for stream in sorted(set(ls.lines) | set(ls.bytes)):
                lines.rows.append((i, (ls.driver, stream), ls.lines.get(stream, 0)))
                nbytes.rows.append((i, (ls.driver, stream), ls.bytes.get(stream, 0)))
            dropped.rows.append((i, (ls.driver,), ls.dropped))
            if ls.redactions is not None:
                redactions.rows.append((i, (ls.driver,), ls.redactions))
        restarts.rows.append((i, (), t.restarts))
        state.rows.extend((i, (st,), 1 if t.state == st else 0) for st in PYDOCK_STATES)
        if t.health is not None:
            health.rows.extend((i, (h,), 1 if t.health == h else 0) for h in HEALTH_STATES)
    return [s for s in (lines, nbytes, dropped, redactions, restarts, state, health) if s.rows]
