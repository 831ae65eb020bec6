"""Which containers the agent reports: pydock's own, other runtimes' cgroups, and the root cgroup.

pydock containers come from the state root through `pydock.runtime.store` (the one runtime API the
agent may use). Other runtimes are found the way cAdvisor's raw factory sees them, by the cgroup
layouts Docker (`docker-<id>.scope`, `/docker/<id>`), Podman (`libpod-<id>.scope`,
`/libpod_parent/libpod-<id>`) and Kubernetes (`kubepods...`) create; they are reported with their cgroup
path as `id` and empty name and image, as cAdvisor does for cgroups it has no runtime metadata for.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pydock.runtime.store import LIVE_STATES, ContainerStore, effective_state, load_record

from pydock.errors import PydockError
from pydock.units import parse_iso

from . import parsers
from .cgroups import CgroupRef, Hierarchies

_HEX64 = r"[0-9a-f]{64}"
# (runtime, pattern over a cgroup directory's name, group 1 = container id)
_NAME_PATTERNS = (
    ("docker", re.compile(rf"docker-({_HEX64})\.scope")),
    # systemd manager: machine.slice/libpod-<id>.scope; cgroupfs manager: /libpod_parent/libpod-<id>
    ("podman", re.compile(rf"libpod-({_HEX64})(?:\.scope)?")),
    ("containerd", re.compile(rf"cri-containerd-({_HEX64})\.scope")),
    ("crio", re.compile(rf"crio-({_HEX64})\.scope")),
)
_BARE_ID = re.compile(_HEX64)
MAX_DEPTH = 8  # kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/<ctr>


@dataclass(frozen=True)
class LogStats:
    driver: str
    lines: dict[str, int]  # stream -> count
    bytes: dict[str, int]
    dropped: int
    redactions: int | None = None  # values the redaction options replaced; None: none configured


@dataclass(frozen=True)
class Target:
    """One thing to report: `id` is the cgroup path (cAdvisor's `id` label), "/" for the host."""

    id: str
    name: str
    image: str
    container_id: str  # full runtime id; "" for the root cgroup
    runtime: str  # "pydock", "docker", "podman", "containerd", "crio", "kubernetes", "root"
    cgroup: CgroupRef | None  # None: not running (pydock records only)
    init_pid: int | None = None  # whose /proc/PID/net/dev gives the network figures
    labels: dict[str, str] = field(default_factory=dict)
    start_time: float | None = None
    state: str | None = None  # pydock: created, running, paused, restarting, exited, dead
    restarts: int = 0
    health: str | None = None  # pydock: starting, healthy, unhealthy
    log_stats: LogStats | None = None
    errors: tuple[str, ...] = ()  # what could not be read about this target (with paths)

    @property
    def short_id(self) -> str:
        return self.container_id[:12]


def root_target(hier: Hierarchies) -> Target:
    # The host's own figures: network of PID 1, as cAdvisor reports id="/".
    return Target(id="/", name="", image="", container_id="", runtime="root",
                  cgroup=CgroupRef("/", hier.paths_for("/")), init_pid=1)


class PydockRecords:
    """pydock's containers from the state root, re-parsed only when a record's files change.

    A scrape of 100 containers would otherwise parse 200 JSON files; here each costs two or three
    stat calls, plus the shim-lock probe for live ones (a live record whose shim died must turn into
    "exited" on the next scrape, which `load_record` works out)."""

    def __init__(self, state_root: Path, hier: Hierarchies) -> None:
        self.store = ContainerStore(state_root)
        self.hier = hier
        self._cache: dict[str, tuple[tuple[int, ...], Target]] = {}

    def targets(self) -> list[Target]:
        out = []
        seen = set()
        base = str(self.store.dir)
        for cid in self.store.ids():
            seen.add(cid)
            d = f"{base}/{cid}"
            try:
                key = tuple(_mtime(f"{d}/{f}") for f in ("config.json", "state.json", "logstats.json"))
            except FileNotFoundError:
                continue  # removed while we listed
            cached = self._cache.get(cid)
            if cached is not None and cached[0] == key:
                hit = cached[1]
                # the store's own rule: a live state whose shim lock nobody holds is a dead shim
                if hit.state not in LIVE_STATES or effective_state(Path(d), {"Status": hit.state})["Status"] == hit.state:
                    out.append(hit)
                    continue
            loaded = self._load(Path(d), cid)
            if cached is not None and cached[1].cgroup is not None:
                parsers.SPECS.forget(cached[1].cgroup.paths.values())  # `pydock update` rewrote config.json
            if loaded is not None:
                if loaded.cgroup is not None:
                    parsers.SPECS.own(loaded.cgroup.paths.values())  # its limits are re-read when the record changes
                self._cache[cid] = (key, loaded)
                out.append(loaded)
        for gone in set(self._cache) - seen:
            hit = self._cache.pop(gone)[1]
            if hit.cgroup is not None:
                parsers.SPECS.forget(hit.cgroup.paths.values())
        return out

    def _load(self, record_dir: Path, cid: str) -> Target | None:
        try:
            rec = load_record(record_dir)
        except PydockError:
            return None  # removed while we listed
        except (ValueError, KeyError, OSError) as exc:  # a record that does not parse is reported
            return Target(id="", name="", image="", container_id=cid, runtime="pydock", cgroup=None,
                          errors=(f"{record_dir}: unreadable record: {exc}",))
        errors: list[str] = []
        cgroup = None
        if rec.status in LIVE_STATES:
            paths = {k: v for k, v in rec.cgroup_paths.items() if os.path.isdir(v)}
            if paths:
                cgroup = CgroupRef(self.hier.cgroup_path_of(next(iter(paths.values()))), paths)
        start = None
        started_at = rec.state.get("StartedAt")
        if started_at and not started_at.startswith("0001-"):
            try:
                start = parse_iso(started_at)
            except PydockError as exc:
                errors.append(f"{record_dir / 'state.json'}: StartedAt: {exc}")
        log_stats, log_error = _log_stats(record_dir / "logstats.json", rec.log_driver)
        if log_error:
            errors.append(log_error)
        health = rec.state.get("Health")
        return Target(
            id=cgroup.id if cgroup else "",
            name=rec.name.lstrip("/"),
            image=rec.image,
            container_id=rec.id,
            runtime="pydock",
            cgroup=cgroup,
            init_pid=rec.pid or None,
            labels=rec.labels,
            start_time=start,
            state=rec.status,
            restarts=int(rec.state.get("RestartCount") or 0),
            health=str(health.get("Status")) if isinstance(health, dict) and health.get("Status") else None,
            log_stats=log_stats,
            errors=tuple(errors),
        )


def _mtime(path: str) -> int:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if path.endswith("logstats.json"):
            return 0  # absent until the log driver first writes it
        raise
    return st.st_mtime_ns ^ (st.st_ino << 1) ^ st.st_size


def _log_stats(path: Path, driver: str) -> tuple[LogStats | None, str | None]:
    """logstats.json (docs/internals.md §3); absent until the driver first writes it."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        return LogStats(
            driver=str(data.get("driver") or driver),
            lines={str(k): int(v) for k, v in (data.get("lines") or {}).items()},
            bytes={str(k): int(v) for k, v in (data.get("bytes") or {}).items()},
            dropped=int(data.get("dropped") or 0),
            redactions=int(data["redactions"]) if "redactions" in data else None,
        ), None
    except FileNotFoundError:
        return None, None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        return None, f"{path}: {exc}"


class DockerMetadata:
    """Name, image and labels of Docker's containers from `<docker root>/containers/<id>/config.v2.json`,
    when the agent can read Docker's state (cAdvisor's docker handler asks the daemon for the same).
    Parsed once per container id; a container without the file keeps name="" and image=""."""

    def __init__(self, docker_root: Path | None) -> None:
        self.root = docker_root
        self._cache: dict[str, tuple[str, str, dict[str, str]] | None] = {}

    def enrich(self, t: Target) -> Target:
        if self.root is None or t.runtime != "docker":
            return t
        if t.container_id not in self._cache:
            self._cache[t.container_id] = self._read(t.container_id)
        meta = self._cache[t.container_id]
        if meta is None:
            return t
        name, image, labels = meta
        return replace(t, name=name, image=image, labels=labels)

    def _read(self, cid: str) -> tuple[str, str, dict[str, str]] | None:
        assert self.root is not None
        try:
            with open(self.root / "containers" / cid / "config.v2.json", "rb") as f:
                data = json.loads(f.read())
            config = data.get("Config") or {}
            labels = {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}
            return str(data.get("Name", "")).lstrip("/"), str(config.get("Image", "")), labels
        except (OSError, ValueError, AttributeError):
            return None  # not readable here: reported as a raw cgroup, like cAdvisor without the daemon


def foreign_targets(hier: Hierarchies, skip: set[str]) -> list[Target]:
    """Containers of other runtimes, by walking one hierarchy; cgroup paths in `skip` are pydock's."""
    base = hier.unified if hier.kind == "v2" else next(
        (hier.v1[c] for c in ("memory", "cpu", "cpuacct", "pids", "blkio") if c in hier.v1), None)
    if base is None:
        return []
    out: list[Target] = []
    _walk(hier, base, "", 0, skip, out)
    return out


def _walk(hier: Hierarchies, d: Path, rel: str, depth: int, skip: set[str], out: list[Target]) -> None:
    try:
        entries = [e for e in os.scandir(d) if e.is_dir(follow_symlinks=False)]
    except OSError:  # removed while walking
        return
    in_docker = rel.endswith("/docker")
    in_kube = "kubepods" in rel
    for e in entries:
        path = f"{rel}/{e.name}"
        if path in skip:
            continue
        found = _match(e.name, in_docker, in_kube)
        if found is not None:
            runtime, cid = found
            try:  # cAdvisor's creation time of a raw cgroup: its directory's modification time
                start: float | None = e.stat(follow_symlinks=False).st_mtime
            except OSError:
                start = None
            out.append(Target(id=path, name="", image="", container_id=cid, runtime=runtime,
                              cgroup=CgroupRef(path, hier.paths_for(path)), init_pid=None, start_time=start))
        elif depth < MAX_DEPTH:
            _walk(hier, Path(e.path), path, depth + 1, skip, out)


def _match(name: str, in_docker: bool, in_kube: bool) -> tuple[str, str] | None:
    for runtime, pattern in _NAME_PATTERNS:
        m = pattern.fullmatch(name)
        if m:
            return ("kubernetes" if in_kube else runtime), m.group(1)
    if _BARE_ID.fullmatch(name) and (in_docker or in_kube):  # cgroupfs driver: /docker/<id>, kubepods/pod<uid>/<id>
        return ("kubernetes" if in_kube else "docker"), name
    return None


class Discovery:
    """The root cgroup, then pydock's containers (all states), then other runtimes' running ones."""

    def __init__(self, state_root: Path, hier: Hierarchies, *, foreign: bool = True, root: bool = True,
                 docker_root: Path | None = None) -> None:
        self.hier = hier
        self.records = PydockRecords(state_root, hier)
        self.docker = DockerMetadata(docker_root)
        self.foreign = foreign
        self.root = root

    def targets(self) -> list[Target]:
        mine = self.records.targets()
        targets = [root_target(self.hier)] if self.root else []
        targets.extend(mine)
        if self.foreign:
            skip = {t.id for t in mine if t.id}
            targets.extend(self.docker.enrich(t) for t in foreign_targets(self.hier, skip))
        return targets
