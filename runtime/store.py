"""The read API of container records (docs/internals.md §1): the only runtime module the agent imports.

A record is a directory `$ROOT/containers/<id>/` with `config.json` (what was asked) and `state.json`
(what is). The shim holds an flock on `shim.lock` there for as long as it lives; a record that says
"running" while nobody holds that lock belongs to a shim that was killed, and is reported as exited
with the reason, so nothing shows "running" forever. Reading never writes.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydock.runtime.atomic import is_locked

from pydock.errors import ConflictError, NotFoundError

ZERO_TIME = "0001-01-01T00:00:00Z"
SHIM_LOCK = "shim.lock"
STATE_LOCK = "state.lock"
EXIT_FILE = "exitcode"  # written by the shim right after waitpid, before state.json
LIVE_STATES = ("running", "paused", "restarting")


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    image: str
    image_id: str
    created: str
    config: dict[str, Any] = field(repr=False)
    state: dict[str, Any] = field(repr=False)
    dir: Path

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def status(self) -> str:
        return str(self.state.get("Status", "created"))

    @property
    def running(self) -> bool:
        return bool(self.state.get("Running"))

    @property
    def pid(self) -> int:
        return int(self.state.get("Pid") or 0)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.config.get("Config", {}).get("Labels") or {})

    @property
    def cgroup_paths(self) -> dict[str, str]:
        return dict(self.state.get("CgroupPaths") or {})

    @property
    def log_path(self) -> str:
        return str(self.config.get("LogPath", ""))

    @property
    def log_driver(self) -> str:
        return str(self.config.get("HostConfig", {}).get("LogConfig", {}).get("Type", "json-file"))

    @property
    def log_opts(self) -> dict[str, str]:
        return dict(self.config.get("HostConfig", {}).get("LogConfig", {}).get("Config") or {})

    @property
    def auto_remove(self) -> bool:
        return bool(self.config.get("HostConfig", {}).get("AutoRemove"))


def _exit_file(dir: Path) -> tuple[int, str] | None:
    try:
        data = json.loads((dir / EXIT_FILE).read_text())
        return int(data["ExitCode"]), str(data.get("FinishedAt", ZERO_TIME))
    except (FileNotFoundError, ValueError, KeyError):
        return None


def effective_state(dir: Path, state: dict[str, Any]) -> dict[str, Any]:
    """The state as it really is: a live-looking state whose shim is gone is reported as exited."""
    if state.get("Status") not in LIVE_STATES or is_locked(dir / SHIM_LOCK):
        return state
    fixed = dict(state)
    found = _exit_file(dir)
    code, finished = found if found else (137, ZERO_TIME)
    fixed.update(Status="exited", Running=False, Paused=False, Restarting=False, Pid=0, ExitCode=code,
                 FinishedAt=finished, Error=state.get("Error") or "shim died")
    return fixed


def load_record(dir: Path) -> ContainerRecord:
    try:
        with open(dir / "config.json", "rb") as f:
            config = json.loads(f.read())
    except FileNotFoundError:
        raise NotFoundError(f"No such container: {dir.name}") from None
    try:
        with open(dir / "state.json", "rb") as f:
            state = json.loads(f.read())
    except FileNotFoundError:
        state = {"Status": "created"}
    except ValueError:
        # state.json is rewritten without fsync (atomic.py): a host crash may leave it empty.
        state = {"Status": "dead", "Dead": True, "Running": False,
                 "Error": "state.json was lost (the host crashed?)"}
    return ContainerRecord(
        id=config["Id"], name=config["Name"], image=config.get("Config", {}).get("Image", config.get("Image", "")),
        image_id=config.get("ImageID", ""), created=config.get("Created", ZERO_TIME), config=config,
        state=effective_state(dir, state), dir=dir,
    )


class ContainerStore:
    """Reads the records under `root/containers`. `root` is the state root (PYDOCK_ROOT)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.dir = self.root / "containers"

    def ids(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.dir) if e.is_dir() and len(e.name) == 64]
        except FileNotFoundError:
            return []

    def list(self) -> list[ContainerRecord]:
        out = []
        for cid in self.ids():
            try:
                out.append(load_record(self.dir / cid))
            except NotFoundError:
                continue  # removed (or not yet written) while we listed
        out.sort(key=lambda r: r.created, reverse=True)
        return out

    def get(self, ref: str) -> ContainerRecord:
        """By full id, name (with or without a leading '/') or unique id prefix."""
        if not ref:
            raise NotFoundError("No such container: (empty reference)")
        if len(ref) == 64 and (self.dir / ref).is_dir():
            return load_record(self.dir / ref)
        name = ref.lstrip("/")
        records = self.list()
        for r in records:
            if r.name == name:
                return r
        matches = [r for r in records if r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ConflictError(f"multiple containers match the id prefix {ref!r}")
        raise NotFoundError(f"No such container: {ref}")
