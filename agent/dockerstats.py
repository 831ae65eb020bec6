"""Docker's view of a stats record: the stats API's JSON shape, CPU %, and `docker stats` columns.

Formulas are docker/cli's: CPU % = container CPU delta / host CPU delta * online CPUs * 100; memory
usage excludes inactive file cache (calculateMemUsageUnixNoCache, the same as cAdvisor's working set);
the limit shown for an unlimited container is the host's memory.
"""

from __future__ import annotations

from typing import Any

from pydock.units import rfc3339_nano

from .host import MachineInfo
from .sampler import Entry
from .stats import CgroupStats


def cpu_percent(cur: CgroupStats | None, cur_system_ns: int, pre: CgroupStats | None, pre_system_ns: int,
                online_cpus: int) -> float | None:
    if cur is None or pre is None or cur.cpu is None or pre.cpu is None:
        return None
    cpu_delta = cur.cpu.usage_ns - pre.cpu.usage_ns
    system_delta = cur_system_ns - pre_system_ns
    if system_delta <= 0 or cpu_delta < 0:
        return None if system_delta <= 0 else 0.0
    return cpu_delta / system_delta * online_cpus * 100.0


def memory_usage_limit(s: CgroupStats | None, machine: MachineInfo) -> tuple[int, int]:
    if s is None or s.memory is None:
        return 0, 0
    limit = s.memory.limit if s.memory.limit is not None else machine.memory_bytes
    return s.memory.working_set, min(limit, machine.memory_bytes)


def _cpu_stats(s: CgroupStats | None, system_ns: int, machine: MachineInfo) -> dict[str, Any]:
    if s is None or s.cpu is None:
        return {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    c = s.cpu
    usage: dict[str, Any] = {"total_usage": c.usage_ns, "usage_in_kernelmode": c.system_ns,
                             "usage_in_usermode": c.user_ns}
    if c.per_cpu_ns:
        usage["percpu_usage"] = list(c.per_cpu_ns)
    return {"cpu_usage": usage, "system_cpu_usage": system_ns, "online_cpus": machine.cpu_cores,
            "throttling_data": {"periods": c.periods, "throttled_periods": c.throttled_periods,
                                "throttled_time": c.throttled_ns}}


def docker_stats(entry: Entry, system_ns: int, machine: MachineInfo, pre: Entry | None,
                 pre_system_ns: int) -> dict[str, Any]:
    """One object of `GET /containers/{id}/stats` (API 1.41+), where pydock has the figure."""
    s = entry.stats
    ps = pre.stats if pre is not None else None
    t = entry.target
    out: dict[str, Any] = {
        "read": rfc3339_nano(int(s.timestamp * 1e9)) if s else "0001-01-01T00:00:00Z",
        "preread": rfc3339_nano(int(ps.timestamp * 1e9)) if ps else "0001-01-01T00:00:00Z",
        "id": t.container_id,
        "name": "/" + t.name if t.name else t.id,
        "num_procs": 0,
        "pids_stats": {},
        "blkio_stats": {"io_service_bytes_recursive": [], "io_serviced_recursive": []},
        "cpu_stats": _cpu_stats(s, system_ns, machine),
        "precpu_stats": _cpu_stats(ps, pre_system_ns, machine) if ps else _cpu_stats(None, 0, machine),
        "memory_stats": {},
    }
    if s is None:
        return out
    if s.pids is not None:
        out["pids_stats"] = {"current": s.pids.current, **({"limit": s.pids.limit} if s.pids.limit else {})}
    op_read, op_write = ("read", "write") if s.layout == "v2" else ("Read", "Write")
    for d in s.blkio:
        out["blkio_stats"]["io_service_bytes_recursive"] += [
            {"major": d.major, "minor": d.minor, "op": op_read, "value": d.read_bytes},
            {"major": d.major, "minor": d.minor, "op": op_write, "value": d.write_bytes}]
        out["blkio_stats"]["io_serviced_recursive"] += [
            {"major": d.major, "minor": d.minor, "op": op_read, "value": d.reads},
            {"major": d.major, "minor": d.minor, "op": op_write, "value": d.writes}]
    if s.memory is not None:
        m = s.memory
        inactive_key = "inactive_file" if s.layout == "v2" else "total_inactive_file"
        stats = {inactive_key: m.inactive_file, "active_file": m.active_file, "mapped_file": m.mapped_file,
                 "pgfault": m.pgfault, "pgmajfault": m.pgmajfault}
        stats.update({"anon": m.rss, "file": m.cache} if s.layout == "v2" else {"rss": m.rss, "cache": m.cache})
        out["memory_stats"] = {"usage": m.usage, "stats": stats,
                               "limit": m.limit if m.limit is not None else machine.memory_bytes}
        if s.layout != "v2":
            out["memory_stats"].update(max_usage=m.max_usage, failcnt=m.failcnt)
    if s.network:
        out["networks"] = {
            i.name: {"rx_bytes": i.rx_bytes, "rx_packets": i.rx_packets, "rx_errors": i.rx_errors,
                     "rx_dropped": i.rx_dropped, "tx_bytes": i.tx_bytes, "tx_packets": i.tx_packets,
                     "tx_errors": i.tx_errors, "tx_dropped": i.tx_dropped}
            for i in s.network}
    return out


# docker stats prints sizes with go-units: binary for memory, decimal for network and block I/O.
def binary_size(n: float) -> str:
    return _size(n, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"])


def decimal_size(n: float) -> str:
    return _size(n, 1000.0, ["B", "kB", "MB", "GB", "TB", "PB"])


def _size(n: float, base: float, units: list[str]) -> str:
    i = 0
    while n >= base and i < len(units) - 1:
        n /= base
        i += 1
    return f"{n:.4g}{units[i]}" if i else f"{n:.0f}{units[0]}"


def row(entry: Entry, system_ns: int, machine: MachineInfo, pre: Entry | None, pre_system_ns: int) -> dict[str, str]:
    """The fields of one `docker stats` line, under the names `--format` templates use."""
    s = entry.stats
    t = entry.target
    running = s is not None
    cpu = cpu_percent(s, system_ns, pre.stats if pre else None, pre_system_ns, machine.cpu_cores)
    usage, limit = memory_usage_limit(s, machine)
    rx = sum(i.rx_bytes for i in s.network) if s else 0
    tx = sum(i.tx_bytes for i in s.network) if s else 0
    rd = sum(d.read_bytes for d in s.blkio) if s else 0
    wr = sum(d.write_bytes for d in s.blkio) if s else 0
    pids = s.pids.current if s and s.pids else (s.processes.threads if s and s.processes else 0)
    return {
        "Container": t.short_id or t.id,
        "ID": t.short_id or t.id,
        "Name": t.name or t.id,
        "CPUPerc": f"{cpu:.2f}%" if cpu is not None else ("--" if running else "0.00%"),
        "MemUsage": f"{binary_size(usage)} / {binary_size(limit)}",
        "MemPerc": f"{(usage / limit * 100.0) if limit else 0.0:.2f}%",
        "NetIO": f"{decimal_size(rx)} / {decimal_size(tx)}",
        "BlockIO": f"{decimal_size(rd)} / {decimal_size(wr)}",
        "PIDs": str(pids),
    }
