"""Keeping the kernel's cgroup migration path warm while a container starts.

Kernel quirk: a write to `cgroup.procs` (v1 and v2 alike) takes `cgroup_threadgroup_rwsem` for
writing, a per-cpu rwsem whose first writer after an idle spell waits for an RCU grace period
(rcu_sync) before it may go on. On this project's shared host that is 11-15 ms for the first write,
against ~0.07 ms for each further one within about a grace period (docs/performance.md, "`run`
start-up"), whatever the number of hierarchies: co-mounting controllers or making cgroups ahead would
not help. The shim writes the container's pid right after its fork, so the wait lands on a start's
critical path. `AttachWarmer` makes no-op migrations of the calling process (its own pid into the
cgroup it is already in) every few ms from a daemon thread while the start is prepared, so the grace
period passes beforehand and the shim's writes find the fast path. A kernel mounted with
`favordynmods` (Linux 6.0+) has the fast path always; there the warmer costs a few cheap writes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .layout import Layout, detect_layout

_PERIOD_S = 0.004  # well under a grace period, so the rwsem never drops back to its idle state
_MAX_S = 2.0  # a start that takes longer pays the wait as before; the thread never outlives this


def own_procs_file(layout: Layout, proc_cgroup: Path = Path("/proc/self/cgroup")) -> Path | None:
    """The `cgroup.procs` of the cgroup this process is in, in one hierarchy pydock uses; None if
    there is none (a fake layout, a process outside the hierarchies)."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        rel = path.lstrip("/")
        if layout.uses_v2 and controllers == "":
            return layout.mount_root / rel / "cgroup.procs"
        for c in controllers.split(","):
            if c in layout.v1:
                return layout.v1[c] / rel / "cgroup.procs"
    return None


class AttachWarmer:
    """A daemon thread making no-op migrations of this process until `stop()` (or `_MAX_S`)."""

    def __init__(self, procs: Path) -> None:
        self._procs = procs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cgroup-attach-warmer", daemon=True)

    @classmethod
    def start(cls, layout: Layout | None = None) -> AttachWarmer | None:
        """Starts warming; None where this process has no cgroup.procs to write (nothing to do)."""
        procs = own_procs_file(layout or detect_layout())
        if procs is None:
            return None
        warmer = cls(procs)
        warmer._thread.start()
        return warmer

    def _run(self) -> None:
        pid = str(os.getpid()).encode()
        for _ in range(int(_MAX_S / _PERIOD_S)):
            try:
                fd = os.open(self._procs, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    os.write(fd, pid)
                finally:
                    os.close(fd)
            except OSError:
                return  # not allowed here (no root, a read-only cgroupfs): the start pays the wait
            if self._stop.wait(_PERIOD_S):
                return

    def stop(self) -> None:
        self._stop.set()
