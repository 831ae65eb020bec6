"""Fixtures for the agent's tests: captured cgroup trees, a fake /proc, and pydock records on them."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydock.agent.host import HostPaths

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
V1 = FIXTURES / "cgroupfs/v1/tree"
V2 = FIXTURES / "cgroupfs/v2/tree"
FAKE = FIXTURES / "agent"
CTR = "pydock-capture/ctr"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "blkio", "pids", "cpuset", "freezer")


def fixture_host(cgroup_root: Path) -> HostPaths:
    return HostPaths(cgroup=cgroup_root, proc=FAKE / "proc", sys=FAKE / "sys", etc=FAKE / "etc", docker=None)


def read(path: Path) -> str:
    return path.read_text()


def flat(path: Path) -> dict[str, int]:
    return {k: int(v) for k, v in (line.split() for line in path.read_text().splitlines() if line)}


class Records:
    """Writes pydock container records (docs/internals.md §1) and holds their shim locks."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._fds: list[int] = []

    def add(self, cid: str, name: str, *, status: str = "running", cgroup_paths: dict[str, str] | None = None,
            pid: int = 0, labels: dict[str, str] | None = None, image: str = "busybox",
            logstats: dict | None = None, health: str | None = None, restarts: int = 0,
            started: str = "2026-11-27T20:53:00.000000000Z") -> Path:
        d = self.root / "containers" / cid
        d.mkdir(parents=True)
        config = {"Id": cid, "Name": name, "Created": "2026-11-27T20:52:59.000000000Z", "Image": image,
                  "Config": {"Image": image, "Cmd": ["sh"], "Env": [], "Labels": labels or {}},
                  "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}, "Memory": 268435456},
                  "LogPath": str(d / f"{cid}-json.log")}
        state = {"Status": status, "Running": status == "running", "Pid": pid if status == "running" else 0,
                 "StartedAt": started, "FinishedAt": "0001-01-01T00:00:00Z", "RestartCount": restarts,
                 "CgroupPaths": cgroup_paths or {}}
        if health:
            state["Health"] = {"Status": health, "FailingStreak": 0, "Log": []}
        (d / "config.json").write_text(json.dumps(config))
        (d / "state.json").write_text(json.dumps(state))
        if logstats is not None:
            (d / "logstats.json").write_text(json.dumps(logstats))
        if status in ("running", "paused", "restarting"):  # a live shim holds this lock
            fd = os.open(d / "shim.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._fds.append(fd)
        return d

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds.clear()


@pytest.fixture
def records(tmp_path: Path) -> Iterator[Records]:
    r = Records(tmp_path / "state")
    (tmp_path / "state").mkdir()
    yield r
    r.close()


def v1_paths(base: Path = V1) -> dict[str, str]:
    return {c: str(base / c / CTR) for c in V1_CONTROLLERS}


def v2_paths(base: Path = V2) -> dict[str, str]:
    return {"unified": str(base / CTR)}


def _on_a_block_device(path: Path) -> bool:
    """Whether `path`'s filesystem sits on a block device (ext4 on /dev/vda...), not tmpfs or overlay:
    only writes to a block device are counted by blkio/io.stat."""
    out = subprocess.run(["findmnt", "-n", "-o", "SOURCE", "-T", str(path)], capture_output=True, text=True,
                         check=False).stdout.strip()
    return out.startswith("/dev/")


@pytest.fixture
def block_dir(tmp_path: Path) -> Iterator[Path]:
    """A scratch directory on a block-device filesystem, for tests of the fs I/O counters (pytest's
    tmp_path is on tmpfs on some hosts, where O_DIRECT succeeds and no block I/O happens)."""
    candidates = [tmp_path, Path("/var/tmp"), Path(__file__).resolve().parents[2]]
    base = next((c for c in candidates if c.is_dir() and _on_a_block_device(c)), None)
    assert base is not None, f"none of {candidates} is on a block device"
    if base == tmp_path:
        yield tmp_path
        return
    d = Path(tempfile.mkdtemp(prefix="pydock-blk-", dir=base))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
