"""One read of every target, cached for `cache_seconds` and shared by concurrent callers.

The exporter, the stats API and `pydock stats` all read through a `Sampler`. It keeps the previous
snapshot too, so rates (CPU %) come from two real reads rather than from an extra wait.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from pydock.errors import CgroupError

from .cgroups import PROCESS_STATS_SECONDS, Hierarchies, ProcessCache, read_stats
from .discovery import Discovery, Target
from .host import DeviceNames, HostPaths, MachineInfo, machine_info, system_cpu_usage_ns
from .parsers import FILES
from .stats import CgroupStats

# `pydock agent --redact-labels`: label keys that name a secret. Their values become REDACTED in
# every series (container_label_*) and in /api/v1/containers; the keys stay, so dashboards that
# group by them still work.
SECRET_LABEL_KEY = re.compile(r"password|secret|token|key", re.IGNORECASE)
REDACTED = "[REDACTED]"


def redact_secret_labels(labels: dict[str, str]) -> dict[str, str]:
    if not any(SECRET_LABEL_KEY.search(k) for k in labels):
        return labels
    return {k: REDACTED if SECRET_LABEL_KEY.search(k) else v for k, v in labels.items()}


@dataclass(frozen=True)
class Entry:
    target: Target
    stats: CgroupStats | None  # None: not running, or the read failed (see `error`)
    error: str | None = None  # the cause, with the file that broke


@dataclass(frozen=True)
class Snapshot:
    timestamp: float
    machine: MachineInfo
    system_cpu_ns: int
    entries: tuple[Entry, ...]
    errors: tuple[str, ...]  # every failure of this read: container_scrape_error is 1 when any

    def find(self, ref: str) -> Entry | None:
        """By full id, unique id prefix (12+), name, or cgroup path."""
        name = ref.lstrip("/")
        for e in self.entries:
            t = e.target
            if ref in (t.container_id, t.id) or (t.name and t.name == name):
                return e
        matches = [e for e in self.entries if e.target.container_id and e.target.container_id.startswith(ref)]
        return matches[0] if len(matches) == 1 else None


class Sampler:
    def __init__(
        self,
        state_root: Path,
        host: HostPaths | None = None,
        *,
        cache_seconds: float = 1.0,
        foreign: bool = True,
        root: bool = True,
        clock: Callable[[], float] = time.time,
        redact_labels: bool = False,
        process_seconds: float = PROCESS_STATS_SECONDS,
    ) -> None:
        self.state_root = Path(state_root)
        self.host = host or HostPaths()
        self.cache_seconds = cache_seconds
        self.foreign = foreign
        self.root = root
        self.clock = clock
        self.redact_labels = redact_labels
        self.hierarchies = Hierarchies.detect(self.host.cgroup)
        self.devices = DeviceNames(self.host)
        self.discovery = Discovery(self.state_root, self.hierarchies, foreign=foreign, root=root,
                                   docker_root=self.host.docker)
        self.processes = ProcessCache(process_seconds)  # fds, sockets, task states: see ProcessCache
        self._machine: MachineInfo | None = None
        self._lock = threading.Lock()
        self._last: Snapshot | None = None
        self._taken_mono = 0.0  # when the latest read began (monotonic): its figures are at most this old
        self.previous: Snapshot | None = None
        self.reads = 0  # how many real reads were made (the cache's effect is observable)
        self.read_seconds = 0.0  # how long the latest read took (the read-ahead starts that much early)

    def machine(self) -> MachineInfo:
        if self._machine is None:  # cores and memory do not change while we run
            self._machine = machine_info(self.host)
        return self._machine

    def snapshot(self, max_age: float | None = None) -> Snapshot:
        """The latest read if it began less than `max_age` (default cache_seconds) before this call, else
        a fresh one.

        A read's age counts from its start, so no figure served was read more than `max_age` before the
        call. Callers that arrive while a read is in progress wait for it and share its result."""
        age = self.cache_seconds if max_age is None else max_age
        called = time.monotonic()
        with self._lock:
            if self._last is not None and called - self._taken_mono < age:
                return self._last
            began = time.monotonic()
            snap = self._read()
            self.previous, self._last = self._last, snap
            self._taken_mono = began
            self.read_seconds = time.monotonic() - began
            return snap

    def age(self) -> float | None:
        """Seconds since the latest read began; None before the first."""
        return None if self._last is None else time.monotonic() - self._taken_mono

    def _read(self) -> Snapshot:
        self.reads += 1
        machine = self.machine()
        targets = self.discovery.targets()
        if self.redact_labels:
            targets = [replace(t, labels=redact_secret_labels(t.labels)) if t.labels else t for t in targets]
        now = self.clock()
        entries = []
        errors: list[str] = []
        for t in targets:
            errors.extend(t.errors)
            entry = self.read_target(t, now, cached=True)
            if entry.error:
                errors.append(entry.error)
            entries.append(entry)
        system_cpu_ns = system_cpu_usage_ns(self.host.proc)
        FILES.sweep()  # close the fds of cgroups and processes this read no longer saw
        self.processes.sweep()
        return Snapshot(timestamp=now, machine=machine, system_cpu_ns=system_cpu_ns,
                        entries=tuple(entries), errors=tuple(errors))

    def read_target(self, t: Target, now: float | None = None, *, cached: bool = False) -> Entry:
        """One target's figures; `cached`: fds, sockets and task states may come from `self.processes`."""
        if t.cgroup is None:
            return Entry(t, None)
        try:
            stats = read_stats(
                t.cgroup, self.hierarchies, self.host, self.devices,
                init_pid=t.init_pid, with_processes=t.runtime != "root",
                network_from_members=t.runtime not in ("pydock", "root"), now=now,
                process_cache=self.processes if cached else None,
            )
        except CgroupError as exc:
            if not any(os.path.isdir(p) for p in t.cgroup.paths.values()):
                return Entry(t, None)  # the container stopped while we read: gone, not broken
            return Entry(t, None, str(exc))
        return Entry(t, stats)
