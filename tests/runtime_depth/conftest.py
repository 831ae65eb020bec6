"""Fixtures of the runtime-depth tests: fake cgroup trees built from the captured ones, and real
cgroups that are removed after each test even when it fails.

A fake tree stands in for the kernel's: the root files come from the capture's container cgroup, and
`FakeCgroupfs.kernel_mkdir(id)` fills a container's directory the way the kernel does when a cgroup is
made (the test calls it first, since a plain mkdir makes an empty directory).
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydock.runtime import cgroups
from pydock.runtime.cgroups import layout as layout_mod

CAPTURED = Path(__file__).resolve().parent.parent / "fixtures" / "cgroupfs"
V1_CTR = CAPTURED / "v1" / "tree"
V2_TREE = CAPTURED / "v2" / "tree"
V2_CTR = V2_TREE / "pydock-capture" / "ctr"


def _copy_files(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file():
            shutil.copyfile(f, dst / f.name)


class FakeCgroupfs:
    """A cgroup mount root of plain files, v1 (hybrid, as on Debian 12) or v2 (as on Ubuntu 24.04)."""

    def __init__(self, root: Path, kind: str):
        self.root = root
        self.kind = kind
        if kind == "v2":
            _copy_files(V2_CTR, root)
            shutil.copyfile(V2_TREE / "cgroup.controllers", root / "cgroup.controllers")
            (root / "cgroup.subtree_control").write_text("")
            (root / "cpuset.cpus.effective").write_text("0-3\n")
        else:
            for ctr in sorted(V1_CTR.iterdir()):
                _copy_files(ctr / "pydock-capture" / "ctr", root / ctr.name)
            # The capture has no devices hierarchy (nothing to read there); the kernel's files are these.
            for name in ("devices.allow", "devices.deny", "devices.list", "cgroup.procs", "tasks"):
                (root / "devices").mkdir(exist_ok=True)
                (root / "devices" / name).write_text("")
            (root / "cpuset" / "cpuset.cpus").write_text("0-3\n")
            (root / "cpuset" / "cpuset.effective_cpus").write_text("0-3\n")
            if kind == "hybrid":
                (root / "unified").mkdir()
                (root / "unified" / "cgroup.controllers").write_text("\n")
        for procs in root.rglob("cgroup.procs"):
            procs.write_text("")
        layout_mod.clear_cache()

    def kernel_mkdir(self, cid: str, parent: str = "pydock") -> None:
        """Do what the kernel does on mkdir: a new cgroup comes with its control files."""
        if self.kind == "v2":
            for level in (self.root / parent, self.root / parent / cid):
                _copy_files(V2_CTR, level)
                (level / "cgroup.procs").write_text("")
                (level / "cpuset.cpus").write_text("")
                (level / "memory.max").write_text("max\n")
            return
        for ctr in sorted(V1_CTR.iterdir()):
            for level in (self.root / ctr.name / parent, self.root / ctr.name / parent / cid):
                _copy_files(ctr / "pydock-capture" / "ctr", level)
                (level / "cgroup.procs").write_text("")
                if ctr.name == "cpuset":
                    # New cpuset cgroups start empty: the reason runtime.cgroups copies the parent's.
                    (level / "cpuset.cpus").write_text("")
                    (level / "cpuset.mems").write_text("")
                if ctr.name == "memory":
                    (level / "memory.limit_in_bytes").write_text("9223372036854771712\n")
                    (level / "memory.memsw.limit_in_bytes").write_text("9223372036854771712\n")

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text().strip()


@pytest.fixture(params=["hybrid", "v2"])
def fake_cgroupfs(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FakeCgroupfs]:
    fake = FakeCgroupfs(tmp_path / "cgroupfs", request.param)
    yield fake
    layout_mod.clear_cache()


@pytest.fixture
def real_cgroup() -> Iterator[list[cgroups.CgroupHandle]]:
    """Handles appended here are removed after the test, whatever its outcome."""
    made: list[cgroups.CgroupHandle] = []
    yield made
    for h in made:
        h.remove()


def new_id() -> str:
    return "test-" + uuid.uuid4().hex[:12]


# -- real containers -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def busybox_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image store with busybox:latest, bootstrapped once per session from the host's busybox."""
    import os

    if os.geteuid() != 0:
        pytest.skip("needs root")
    from pydock.runtime.images import ImageStore

    images = tmp_path_factory.mktemp("rdimages") / "images"
    ImageStore(images).bootstrap_busybox()
    return images


@pytest.fixture
def rt(pydock_env: dict[str, str], busybox_images: Path) -> Iterator[Any]:
    """A Runtime in the test's private root, with busybox; every container it made is removed after."""
    import os

    from pydock.runtime.lifecycle import Runtime

    from pydock.settings import Settings

    settings = Settings.from_env()
    dst = settings.images
    for src in busybox_images.rglob("*"):
        target = dst / src.relative_to(busybox_images)
        if src.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(src, target)
    runtime = Runtime(settings)
    yield runtime
    for rec in runtime.store.list():
        try:
            runtime.remove(rec.id, force=True)
        except Exception as exc:  # noqa: BLE001 - clean up the rest, then report
            print(f"cleanup of {rec.id}: {exc}")


def run_container(runtime: Any, *cmd: str, **spec: Any) -> Any:
    """Create and start a busybox container running `cmd`; returns its fresh record."""
    from pydock.runtime.spec import ContainerSpec

    rec = runtime.create(ContainerSpec(image="busybox", cmd=tuple(cmd), **spec))
    runtime.start(rec.id).close()
    return runtime.store.get(rec.id)


def wait_for(predicate: Any, timeout: float = 20.0, what: str = "condition") -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
