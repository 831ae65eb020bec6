"""Acting on a created container's resources: `update` (limits and restart policy, live), `pause` and
`unpause` (the freezer), `top` (the processes in its cgroup), and what stop/kill must do first.

Limits are checked as a whole (the current ones merged with the change) before anything is written;
config.json's HostConfig is rewritten atomically under the container's lock after the kernel took the
new values, so what inspect shows is what the kernel enforces.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydock.runtime import cgroups
from pydock.runtime.atomic import Lock, read_json, write_json
from pydock.runtime.events import emit_for
from pydock.runtime.restart import RestartPolicy
from pydock.runtime.store import STATE_LOCK, ContainerRecord, ContainerStore

from pydock.errors import ConflictError
from pydock.settings import Settings


def _update_state(container_dir: Path, **changes: Any) -> dict[str, Any]:
    from pydock.runtime.lifecycle import update_state

    return update_state(container_dir, **changes)


def update(settings: Settings, ref: str, change: cgroups.Limits, restart: RestartPolicy | None = None) -> ContainerRecord:
    """`pydock update`: new limits (and restart policy) for a container, applied live if it runs."""
    store = ContainerStore(settings.root)
    rec = store.get(ref)
    host = rec.config.get("HostConfig", {})
    current = cgroups.Limits.from_host_config(host)
    merged = current.merged(change)
    cgroups.validate_for_layout(merged, cgroups.detect_layout())
    if restart is not None and restart.name != "no" and host.get("AutoRemove"):
        raise ConflictError("Conflicting options: --restart and --rm")
    if rec.running and rec.cgroup_paths and not change.is_empty():
        cgroups.open(rec.cgroup_paths).set_limits(_with_context(change, merged))
    with Lock(rec.dir / STATE_LOCK):
        config = read_json(rec.dir / "config.json")
        config["HostConfig"].update(merged.to_host_config())
        if restart is not None:
            config["HostConfig"]["RestartPolicy"] = restart.to_json()
        write_json(rec.dir / "config.json", config)
    return store.get(rec.id)


def _with_context(change: cgroups.Limits, merged: cgroups.Limits) -> cgroups.Limits:
    """What to write: the change, with memory and swap together when either moves (their order and v2's
    swap arithmetic depend on both)."""
    from dataclasses import replace

    if change.memory or change.memory_swap:
        return replace(change, memory=merged.memory, memory_swap=merged.memory_swap)
    return change


def pause(settings: Settings, ref: str) -> ContainerRecord:
    rec = ContainerStore(settings.root).get(ref)
    if rec.status == "paused":
        raise ConflictError(f"Container {rec.id} is already paused")
    if not rec.running or not rec.cgroup_paths:
        raise ConflictError(f"Container {rec.id} is not running")
    cgroups.open(rec.cgroup_paths).freeze()
    _update_state(rec.dir, Status="paused", Paused=True)
    emit_for(settings.root, "pause", rec)
    return rec


def unpause(settings: Settings, ref: str) -> ContainerRecord:
    rec = ContainerStore(settings.root).get(ref)
    if rec.status != "paused":
        raise ConflictError(f"Container {rec.id} is not paused")
    cgroups.open(rec.cgroup_paths).thaw()
    _update_state(rec.dir, Status="running", Paused=False)
    emit_for(settings.root, "unpause", rec)
    return rec


def before_stop(settings: Settings, rec: ContainerRecord, action: str, **attributes: Any) -> None:
    """Called by stop and kill before they signal: marks the container stopped by hand (its restart
    policy then lets it stay down), thaws a paused one (a frozen task cannot act on a signal, and v1's
    freezer holds even SIGKILL), and records the event."""
    changes: dict[str, Any] = {"ManuallyStopped": True}
    if rec.status == "paused" and rec.cgroup_paths:
        cgroups.open(rec.cgroup_paths).thaw()
        changes.update(Status="running", Paused=False)
    _update_state(rec.dir, **changes)
    emit_for(settings.root, action, rec, **attributes)


@dataclass(frozen=True)
class ProcessRow:
    uid: str
    pid: int
    ppid: int
    c: int
    stime: str
    tty: str
    time: str
    cmd: str


TOP_TITLES = ("UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD")


def top(settings: Settings, ref: str) -> list[ProcessRow]:
    """The container's processes, found through its cgroup, in `ps -ef` columns (as `docker top`)."""
    import psutil

    rec = ContainerStore(settings.root).get(ref)
    if not rec.running or not rec.cgroup_paths:
        raise ConflictError(f"Container {rec.id} is not running")
    rows = []
    for pid in sorted(set(cgroups.open(rec.cgroup_paths).pids())):
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                try:
                    user = p.username()
                except KeyError:
                    user = str(p.uids().real)
                cpu = p.cpu_times()
                total = int(cpu.user + cpu.system)
                created = p.create_time()
                age = max(time.time() - created, 1e-9)
                stime = time.strftime("%H:%M" if age < 86400 else "%b%d", time.localtime(created))
                cmdline = " ".join(p.cmdline()) or f"[{p.name()}]"
                term = p.terminal() or "?"
                rows.append(ProcessRow(
                    uid=user, pid=pid, ppid=p.ppid(), c=int(100 * (cpu.user + cpu.system) / age),
                    stime=stime, tty=term.replace("/dev/", ""),
                    time=f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}", cmd=cmdline))
        except psutil.NoSuchProcess:
            continue
    return rows
