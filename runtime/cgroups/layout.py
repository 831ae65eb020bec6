"""Which cgroup layout a host has, found once per process from the cgroup mount root.

Three layouts exist in the wild:
- `v2`: the unified hierarchy mounted at the root (`cgroup.controllers` there);
- `hybrid`: v1 controllers mounted at `<root>/<controller>` and a v2 hierarchy at `<root>/unified`
  with no useful controller (systemd's "hybrid" mode; Debian 12 machines of this project);
- `v1`: only the v1 controllers.
On a hybrid host pydock uses the v1 controllers, as runc does: the v2 mount there has no memory, cpu or
pids controller to give (they are bound to v1 hierarchies, and a controller lives in one hierarchy only).

The mount root is a parameter so that tests can point it at a fake tree of files.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydock.errors import CgroupError

from . import fs

DEFAULT_MOUNT_ROOT = Path("/sys/fs/cgroup")

# The v1 hierarchies a container gets a cgroup in, as Docker does (cpuacct for accounting, devices
# for the device allow-list, freezer for pause).
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "blkio", "cpuset", "freezer", "devices")
# The v2 controllers pydock enables for containers; the others (hugetlb, rdma, misc) it leaves alone.
V2_CONTROLLERS = ("cpuset", "cpu", "io", "memory", "pids")

Kind = Literal["v2", "v1", "hybrid"]


@dataclass(frozen=True)
class Layout:
    """A host's cgroup layout. `v1` maps a controller to its hierarchy's mount directory."""

    kind: Kind
    mount_root: Path
    v1: dict[str, Path] = field(default_factory=dict)
    unified: Path | None = None
    v2_controllers: frozenset[str] = frozenset()

    @property
    def uses_v2(self) -> bool:
        """True where containers are placed in the unified hierarchy (the `v2` layout only)."""
        return self.kind == "v2"

    def describe(self) -> str:
        if self.kind == "v2":
            return f"v2 (unified at {self.mount_root}; controllers: {' '.join(sorted(self.v2_controllers))})"
        what = f"{self.kind} (v1 controllers: {' '.join(sorted(self.v1))}"
        if self.unified is not None:
            what += f"; empty v2 at {self.unified}"
        return what + ")"


def detect_layout(mount_root: Path = DEFAULT_MOUNT_ROOT) -> Layout:
    """The layout under `mount_root`; computed once per process and root."""
    return _detect(str(Path(mount_root).absolute()))


@functools.cache
def _detect(root_s: str) -> Layout:
    root = Path(root_s)
    if (root / "cgroup.controllers").is_file():
        controllers = frozenset(fs.read(root / "cgroup.controllers").split())
        return Layout(kind="v2", mount_root=root, unified=root, v2_controllers=controllers)
    v1 = {c: root / c for c in V1_CONTROLLERS if (root / c).is_dir()}
    if not v1:
        raise CgroupError(
            f"no cgroup hierarchy found under {root}: neither cgroup.controllers (v2) "
            "nor controller directories (v1) are there"
        )
    unified = root / "unified"
    if (unified / "cgroup.controllers").is_file():
        return Layout(kind="hybrid", mount_root=root, v1=v1, unified=unified,
                      v2_controllers=frozenset(fs.read(unified / "cgroup.controllers").split()))
    return Layout(kind="v1", mount_root=root, v1=v1)


def clear_cache() -> None:
    """Forget detected layouts (a test that rebuilds a fake tree at the same path needs this)."""
    _detect.cache_clear()
