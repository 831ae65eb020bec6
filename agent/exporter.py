"""The cAdvisor-compatible exporter: a prometheus-client custom collector over a `Sampler`.

The contract is the table `CONTAINER_METRICS`: name, help, type, extra labels and a getter from the
stats record, as in cAdvisor's lib/metrics/prometheus.go, so names, types, units and labels are
cAdvisor's and existing dashboards and alert rules work unchanged. Base labels are cAdvisor's: `id`
(the cgroup path), `name`, `image`, and `container_label_<key>` for the union of label keys over the
scrape ("" where a container lacks one). A container that cannot be read sets
`container_scrape_error` to 1 and is left out; the scrape itself never fails for it.

Deviation from cAdvisor, on purpose: samples carry no explicit timestamps, because they are read at
scrape time (cAdvisor serves a cache and stamps the cache's time; see google/cadvisor#3581).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from .discovery import Target
from .sampler import Sampler, Snapshot
from .stats import TASK_STATES, CgroupStats

Values = Iterable[tuple[tuple[str, ...], float]]  # (extra label values, value)
NS_PER_S = 1e9  # divide, not multiply by 1e-9: 1071875000 / 1e9 prints as 1.071875


@dataclass(frozen=True)
class MetricDef:
    name: str  # the exposed name, exactly cAdvisor's (counters mostly end in _total; failcnt does not)
    help: str
    type: str  # "counter" or "gauge"
    get: Callable[[CgroupStats, Target], Values]
    labels: tuple[str, ...] = ()
    when: Callable[[CgroupStats], bool] | None = None  # cAdvisor's per-metric condition; None: always


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


def _mem(attr: str) -> Callable[[CgroupStats, Target], Values]:
    return lambda s, t: _one(getattr(s.memory, attr)) if s.memory is not None else ()


def _cpu(attr: str, divisor: float | None = None) -> Callable[[CgroupStats, Target], Values]:
    if divisor is None:
        return lambda s, t: _one(getattr(s.cpu, attr)) if s.cpu is not None else ()
    return lambda s, t: _one(getattr(s.cpu, attr) / divisor) if s.cpu is not None else ()


def _limit(v: int | None) -> int:
    return 0 if v is None else v  # cAdvisor reports "unlimited" as 0


def _failures(s: CgroupStats, t: Target) -> Values:
    m = s.memory
    if m is None:
        return ()
    return [
        (("pgfault", "container"), m.pgfault),
        (("pgfault", "hierarchy"), m.hierarchical_pgfault),
        (("pgmajfault", "container"), m.pgmajfault),
        (("pgmajfault", "hierarchy"), m.hierarchical_pgmajfault),
    ]


def _net(attr: str) -> Callable[[CgroupStats, Target], Values]:
    return lambda s, t: [((i.name,), getattr(i, attr)) for i in s.network]


def _io(attr: str) -> Callable[[CgroupStats, Target], Values]:
    return lambda s, t: [((d.name,), getattr(d, attr)) for d in s.blkio]


def _proc(attr: str) -> Callable[[CgroupStats, Target], Values]:
    return lambda s, t: _one(getattr(s.processes, attr)) if s.processes is not None else ()


def _threads(s: CgroupStats, t: Target) -> Values:
    if s.pids is not None:
        return _one(s.pids.current)
    return _one(s.processes.threads) if s.processes is not None else ()


def _tasks(s: CgroupStats, t: Target) -> Values:
    if s.processes is None:
        return ()
    return [((st,), s.processes.task_states.get(st, 0)) for st in TASK_STATES]


G, C = "gauge", "counter"
CONTAINER_METRICS: tuple[MetricDef, ...] = (
    MetricDef("container_cpu_usage_seconds_total", "Cumulative cpu time consumed in seconds.", C,
              _cpu_usage, ("cpu",)),
    MetricDef("container_cpu_user_seconds_total", "Cumulative user cpu time consumed in seconds.", C,
              _cpu("user_ns", NS_PER_S)),
    MetricDef("container_cpu_system_seconds_total", "Cumulative system cpu time consumed in seconds.", C,
              _cpu("system_ns", NS_PER_S)),
    MetricDef("container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", C,
              _cpu("periods"), when=_has_quota),
    MetricDef("container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", C,
              _cpu("throttled_periods"), when=_has_quota),
    MetricDef("container_cpu_cfs_throttled_seconds_total",
              "Total time duration the container has been throttled.", C, _cpu("throttled_ns", NS_PER_S),
              when=_has_quota),
    MetricDef("container_memory_usage_bytes",
              "Current memory usage in bytes, including all memory regardless of when it was accessed", G,
              _mem("usage")),
    MetricDef("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes", G,
              _mem("max_usage")),
    MetricDef("container_memory_working_set_bytes", "Current working set in bytes.", G, _mem("working_set")),
    MetricDef("container_memory_rss", "Size of RSS in bytes.", G, _mem("rss")),
    MetricDef("container_memory_cache", "Number of bytes of page cache memory.", G, _mem("cache")),
    MetricDef("container_memory_swap", "Container swap usage in bytes.", G, _mem("swap")),
    MetricDef("container_memory_mapped_file", "Size of memory mapped files in bytes.", G, _mem("mapped_file")),
    MetricDef("container_memory_total_active_file_bytes", "Current total active file in bytes.", G,
              _mem("active_file")),
    MetricDef("container_memory_total_inactive_file_bytes", "Current total inactive file in bytes.", G,
              _mem("inactive_file")),
    MetricDef("container_memory_failcnt", "Number of memory usage hits limits", C, _mem("failcnt")),
    MetricDef("container_memory_failures_total", "Cumulative count of memory allocation failures.", C,
              _failures, ("failure_type", "scope")),
    MetricDef("container_oom_events_total", "Count of out of memory events observed for the container", C,
              _mem("oom_events")),
    MetricDef("container_spec_memory_limit_bytes", "Memory limit for the container.", G,
              lambda s, t: _one(_limit(s.memory.limit)) if s.memory else ()),
    MetricDef("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container.", G,
              lambda s, t: _one(_limit(s.memory.swap_limit)) if s.memory else ()),
    MetricDef("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container.",
              G, lambda s, t: _one(_limit(s.memory.reservation)) if s.memory else ()),
    MetricDef("container_spec_cpu_quota", "CPU quota of the container.", G,
              lambda s, t: _one(s.cpu_spec.quota_us) if s.cpu_spec else (), when=_has_quota),
    MetricDef("container_spec_cpu_period", "CPU period of the container.", G,
              lambda s, t: _one(s.cpu_spec.period_us) if s.cpu_spec else ()),
    MetricDef("container_spec_cpu_shares", "CPU share of the container.", G,
              lambda s, t: _one(s.cpu_spec.shares) if s.cpu_spec else ()),
    MetricDef("container_network_receive_bytes_total", "Cumulative count of bytes received", C,
              _net("rx_bytes"), ("interface",)),
    MetricDef("container_network_receive_packets_total", "Cumulative count of packets received", C,
              _net("rx_packets"), ("interface",)),
    MetricDef("container_network_receive_errors_total", "Cumulative count of errors encountered while receiving",
              C, _net("rx_errors"), ("interface",)),
    MetricDef("container_network_receive_packets_dropped_total",
              "Cumulative count of packets dropped while receiving", C, _net("rx_dropped"), ("interface",)),
    MetricDef("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", C,
              _net("tx_bytes"), ("interface",)),
    MetricDef("container_network_transmit_packets_total", "Cumulative count of packets transmitted", C,
              _net("tx_packets"), ("interface",)),
    MetricDef("container_network_transmit_errors_total",
              "Cumulative count of errors encountered while transmitting", C, _net("tx_errors"), ("interface",)),
    MetricDef("container_network_transmit_packets_dropped_total",
              "Cumulative count of packets dropped while transmitting", C, _net("tx_dropped"), ("interface",)),
    MetricDef("container_fs_reads_bytes_total", "Cumulative count of bytes read", C, _io("read_bytes"),
              ("device",)),
    MetricDef("container_fs_writes_bytes_total", "Cumulative count of bytes written", C, _io("write_bytes"),
              ("device",)),
    MetricDef("container_fs_reads_total", "Cumulative count of reads completed", C, _io("reads"), ("device",)),
    MetricDef("container_fs_writes_total", "Cumulative count of writes completed", C, _io("writes"),
              ("device",)),
    MetricDef("container_processes", "Number of processes running inside the container.", G,
              _proc("processes")),
    MetricDef("container_threads", "Number of threads running inside the container", G, _threads),
    MetricDef("container_threads_max",
              "Maximum number of threads allowed inside the container, infinity if value is zero", G,
              lambda s, t: _one(_limit(s.pids.limit)) if s.pids else ()),
    MetricDef("container_file_descriptors", "Number of open file descriptors for the container.", G,
              _proc("fds")),
    MetricDef("container_sockets", "Number of open sockets for the container.", G, _proc("sockets")),
    MetricDef("container_tasks_state", "Number of tasks in given state", G, _tasks, ("state",)),
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
    labels once per family group instead of once per sample; `to_metric` gives prometheus-client's form."""

    name: str  # the exposed sample name
    help: str
    type: str
    base_names: tuple[str, ...]
    extra_names: tuple[str, ...]
    bases: list[tuple[str, ...]]  # base label values, shared by the series of one group
    rows: list[tuple[int, tuple[str, ...], float]] = field(default_factory=list)  # (base index, extra, value)

    def to_metric(self) -> Metric:
        family = self.name[:-6] if self.type == "counter" and self.name.endswith("_total") else self.name
        m = Metric(family, self.help, self.type)
        names = self.base_names + self.extra_names
        order = sorted(range(len(names)), key=lambda i: names[i])  # sorted, as client_golang writes them
        for bi, extra, value in self.rows:
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
    out: list[Series] = []
    for d in CONTAINER_METRICS:  # one comprehension per family: no per-container generator or extend
        get, when = d.get, d.when
        if when is None:
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
