"""The read API of container records (docs/internals.md §1): the only runtime module the agent imports.

A record is a directory `$ROOT/containers/<id>/` with `config.json` (what was asked) and `state.json`
(what is). The shim holds an flock on `shim.lock` there for as long as it lives; a record that says
"running" while nobody holds that lock belongs to a shim that was killed, and is reported as exited
with the reason, so nothing shows "running" forever. Reading never writes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from pydock.runtime.atomic import is_locked
from pydock.runtime.records import ZERO_TIME, list_configs, read_config, read_state, record_ids, resolve

from pydock.jsonscan import loads

SHIM_LOCK = "shim.lock"
STATE_LOCK = "state.lock"
EXIT_FILE = "exitcode"  # written by the shim right after waitpid, before state.json
LIVE_STATES = ("running", "paused", "restarting")


class ContainerRecord(NamedTuple):
    """One container's record as read. A NamedTuple, not the frozen dataclass values are elsewhere:
    every quick command reads records, and `dataclasses` (with inspect, ast, dis) is ~10 ms of their
    start-up on the bench host (docs/performance.md, "CLI start-up")."""

    id: str
    name: str
    image: str
    image_id: str
    created: str
    config: dict[str, Any]
    state: dict[str, Any]
    dir: Path

    def __repr__(self) -> str:  # config and state are long: left out, as the dataclass did
        return (f"ContainerRecord(id={self.id!r}, name={self.name!r}, image={self.image!r}, "
                f"image_id={self.image_id!r}, created={self.created!r}, dir={self.dir!r})")

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
        data = loads((dir / EXIT_FILE).read_bytes())
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


def load_record(dir: Path, config: dict[str, Any] | None = None) -> ContainerRecord:
    """The record at `dir`; `config` when the caller has read config.json already."""
    if config is None:
        config = read_config(str(dir))
    state = read_state(str(dir))
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
        return record_ids(str(self.dir))

    def list(self) -> list[ContainerRecord]:
        return [load_record(Path(dir), config) for dir, config in list_configs(str(self.dir))]

    def get(self, ref: str) -> ContainerRecord:
        """By full id, name (with or without a leading '/') or unique id prefix."""
        dir, config = resolve(str(self.dir), ref)
        return load_record(Path(dir), config)
