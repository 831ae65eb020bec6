"""A container's cgroups: made, limited, frozen, listed and removed, on v1, v2 and hybrid hosts.

The layout of the tree is the design (as in opencontainers/cgroups): `layout` finds the host's layout,
`v1` and `v2` each write their own files, `fs` holds the shared readers and parsers, `limits` the
version-neutral `Limits` in Docker's units and their validation. Callers use only this module:

    handle = cgroups.create(container_id, limits)     # pydock/<id> in every hierarchy
    handle.add_pid(pid); handle.set_limits(new); handle.freeze(); handle.thaw()
    cgroups.open(state["CgroupPaths"]).remove()
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from pydock.errors import CgroupError, UsageError

from . import v1, v2
from .layout import DEFAULT_MOUNT_ROOT, Layout, clear_cache, detect_layout  # noqa: F401 - re-exported
from .limits import UNLIMITED, Limits, limits_from_flags, parse_cpus, validate, with_docker_defaults

__all__ = [
    "DEFAULT_PARENT",
    "UNLIMITED",
    "CgroupHandle",
    "Layout",
    "Limits",
    "blkio_weight_supported",
    "clear_cache",
    "create",
    "detect_layout",
    "discard_unsupported",
    "limits_from_flags",
    "open",
    "parse_cpus",
    "swap_limit_supported",
    "validate",
    "validate_for_layout",
    "with_docker_defaults",
]

DEFAULT_PARENT = "pydock"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class CgroupHandle(Protocol):
    """What the shim, exec, update and pause need of a container's cgroups."""

    @property
    def paths(self) -> dict[str, str]: ...
    def add_pid(self, pid: int) -> None: ...
    def set_limits(self, limits: Limits) -> None: ...
    def freeze(self) -> None: ...
    def thaw(self) -> None: ...
    def is_frozen(self) -> bool: ...
    def pids(self) -> list[int]: ...
    def oom_kill_count(self) -> int: ...
    def remove(self) -> None: ...


def validate_for_layout(limits: Limits, layout: Layout) -> None:
    """`validate`, plus what this host's cgroups can do (swap accounting, controllers present)."""
    validate(limits, available_cpus=_available_cpus(layout))
    needs = {
        "memory": bool(limits.memory or limits.memory_swap or limits.memory_reservation),
        "cpu": bool(limits.nano_cpus or limits.cpu_shares),
        "cpuset": bool(limits.cpuset_cpus),
        "pids": bool(limits.pids_limit),
        "blkio" if not layout.uses_v2 else "io": bool(limits.blkio_weight),
    }
    have = set(layout.v2_controllers) if layout.uses_v2 else set(layout.v1)
    for controller, needed in needs.items():
        if needed and controller not in have:
            raise UsageError(f"this host's cgroups have no {controller} controller ({layout.describe()})")
    if (limits.memory_swap and not layout.uses_v2
            and not (layout.v1["memory"] / "memory.memsw.limit_in_bytes").exists()):
        raise UsageError("--memory-swap needs swap accounting, which this kernel has off (swapaccount=1)")


BLKIO_WEIGHT_DISCARDED = "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."


def blkio_weight_supported(layout: Layout) -> bool:
    """Whether a weight can be set: v1 needs CFQ's blkio.weight or BFQ's blkio.bfq.weight (neither
    exists with the none/mq-deadline schedulers most VMs use); v2 needs io.bfq.weight or io.weight
    (blk-iocost), asked of a child because the root cgroup has neither."""
    if not layout.uses_v2:
        blkio = layout.v1.get("blkio")
        return blkio is not None and any((blkio / f).exists() for f in ("blkio.weight", "blkio.bfq.weight"))
    try:
        return any((d / f).exists() for d in layout.mount_root.iterdir() if d.is_dir()
                   for f in ("io.bfq.weight", "io.weight"))
    except OSError:
        return False


def discard_unsupported(limits: Limits, layout: Layout) -> tuple[Limits, list[str]]:
    """dockerd's verifyPlatformContainerResources: a blkio weight the kernel cannot apply is dropped
    with a warning rather than refused, so the same `run` works on every host."""
    if limits.blkio_weight and not blkio_weight_supported(layout):
        return replace(limits, blkio_weight=0), [BLKIO_WEIGHT_DISCARDED]
    return limits, []


def swap_limit_supported(layout: Layout) -> bool:
    """Whether the kernel accounts swap per cgroup (v1: memsw files; v2: memory.swap.max, which the
    root cgroup lacks, so a child is asked)."""
    if not layout.uses_v2:
        mem = layout.v1.get("memory")
        return mem is not None and (mem / "memory.memsw.limit_in_bytes").exists()
    try:
        return any((d / "memory.swap.max").exists() for d in layout.mount_root.iterdir() if d.is_dir())
    except OSError:
        return False


def _available_cpus(layout: Layout) -> set[int] | None:
    from . import fs

    if layout.uses_v2:
        candidates = [layout.mount_root / "cpuset.cpus.effective"]
    else:
        cs = layout.v1.get("cpuset")
        candidates = [cs / "cpuset.effective_cpus", cs / "cpuset.cpus"] if cs else []
    for f in candidates:
        if f.is_file():
            try:
                return fs.parse_cpu_list(fs.read(f))
            except ValueError:
                return None
    return None


def create(container_id: str, limits: Limits, layout: Layout | None = None,
           parent: str = DEFAULT_PARENT) -> CgroupHandle:
    """Make `<parent>/<container_id>` in every hierarchy that matters and apply `limits`.

    Bad limits are refused (UsageError, with the reason) before any directory is made; a failure while
    making removes what this call made.
    """
    if not _ID_RE.match(container_id):
        raise UsageError(f"invalid container id for a cgroup name: {container_id!r}")
    if parent.startswith("/") or ".." in Path(parent).parts:
        raise UsageError(f"invalid cgroup parent {parent!r}: must be a relative path")
    lay = layout if layout is not None else detect_layout()
    validate_for_layout(limits, lay)
    if lay.uses_v2:
        return v2.create(lay, parent, container_id, limits)
    return v1.create(lay, parent, container_id, limits)


def open(paths: dict[str, str]) -> CgroupHandle:
    """The handle of an existing container's cgroups, from its state's `CgroupPaths`."""
    if not paths:
        raise CgroupError("this container has no cgroup paths recorded")
    if set(paths) == {"unified"}:
        return v2.V2Cgroup(Path(paths["unified"]))
    return v1.V1Cgroup({c: Path(p) for c, p in paths.items() if c != "unified"})
