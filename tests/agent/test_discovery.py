"""Discovery: other runtimes' cgroups by their well-known layouts, pydock's own skipped, the host as "/"."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from pydock.agent.sampler import Sampler

from .conftest import CTR, V2, Records, fixture_host

HEX = "0123456789abcdef" * 4
OTHER = "fedcba9876543210" * 4
KUBE_CTR = f"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-{OTHER}.scope"


def _cgroup(root: Path, rel: str) -> str:
    d = root / rel
    shutil.copytree(V2 / CTR, d)
    return str(d)


def test_other_runtimes_are_found_by_layout(records: Records, tmp_path: Path) -> None:
    root = tmp_path / "cg"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    _cgroup(root, f"system.slice/docker-{HEX}.scope")
    _cgroup(root, f"docker/{OTHER}")
    _cgroup(root, f"machine.slice/libpod-{HEX}.scope")
    _cgroup(root, f"machine.slice/libpod-conmon-{HEX}.scope")  # podman's monitor, not a container
    _cgroup(root, f"libpod_parent/libpod-{OTHER}")  # podman with cgroup_manager = "cgroupfs"
    _cgroup(root, KUBE_CTR.lstrip("/"))
    _cgroup(root, f"kubepods/burstable/pod2/{HEX}")
    _cgroup(root, "system.slice/ssh.service")  # a service, not a container
    mine = _cgroup(root, f"pydock/{'a' * 64}")
    records.add("a" * 64, "web", cgroup_paths={"unified": mine}, pid=443)
    docker = tmp_path / "docker"
    (docker / "containers" / OTHER).mkdir(parents=True)
    (docker / "containers" / OTHER / "config.v2.json").write_text(
        '{"Name": "/cache", "Config": {"Image": "redis:7", "Labels": {"com.docker.compose.service": "cache"}}}')
    host = replace(fixture_host(root), docker=docker)
    sampler = Sampler(records.root, host, cache_seconds=0, foreign=True, root=False)
    snap = sampler.snapshot()
    found = {(e.target.id, e.target.runtime, e.target.container_id) for e in snap.entries}
    assert found == {
        (f"/pydock/{'a' * 64}", "pydock", "a" * 64),
        (f"/system.slice/docker-{HEX}.scope", "docker", HEX),
        (f"/docker/{OTHER}", "docker", OTHER),
        (f"/machine.slice/libpod-{HEX}.scope", "podman", HEX),
        (f"/libpod_parent/libpod-{OTHER}", "podman", OTHER),
        (KUBE_CTR, "kubernetes", OTHER),
        (f"/kubepods/burstable/pod2/{HEX}", "kubernetes", HEX),
    }
    assert snap.errors == ()
    other = next(e for e in snap.entries if e.target.id == f"/system.slice/docker-{HEX}.scope")
    assert other.target.name == "" and other.target.image == ""  # no metadata to be had: a raw cgroup
    named = next(e for e in snap.entries if e.target.id == f"/docker/{OTHER}")  # Docker's state is readable
    assert (named.target.name, named.target.image) == ("cache", "redis:7")
    assert named.target.labels == {"com.docker.compose.service": "cache"}
    assert named.target.start_time == (root / "docker" / OTHER).stat().st_mtime
    assert other.stats is not None and [i.name for i in other.stats.network] == ["eth0", "ifb0", "ifb1"]


def test_the_live_host_root_cgroup(records: Records) -> None:
    # the host this runs on, read-only: the root cgroup as id="/", network of PID 1
    snap = Sampler(records.root, cache_seconds=0, foreign=False).snapshot()
    (root,) = [e for e in snap.entries if e.target.id == "/"]
    assert root.error is None and root.stats is not None
    assert root.stats.memory is not None and root.stats.memory.usage > 0
    assert root.stats.cpu is not None and root.stats.cpu.usage_ns > 0
    assert all(not i.name.startswith("lo") for i in root.stats.network)
    assert snap.machine.cpu_cores >= 1 and snap.machine.memory_bytes > root.stats.memory.working_set
