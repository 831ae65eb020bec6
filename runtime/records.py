"""Container records as files: config.json, state.json and the lookup of a reference, with `os` alone.

store.py builds its `ContainerRecord` (a NamedTuple with a `Path`) on these functions; the CLI's hot
paths (`pydock logs`, pydock/logprint.py) call them directly, because dataclasses, pathlib and json
are most of a quick command's imports (docs/performance.md, "CLI start-up"). Paths are strings here.
"""

from __future__ import annotations

import os

from pydock.errors import ConflictError, NotFoundError
from pydock.jsonscan import loads

TYPE_CHECKING = False  # typing costs ~3 ms to import; mypy reads this name as typing's
if TYPE_CHECKING:
    from typing import Any

ZERO_TIME = "0001-01-01T00:00:00Z"
ID_LENGTH = 64


def state_root() -> str:
    """`Settings.from_env().root` as a string, without the dataclass and pathlib imports."""
    return os.environ.get("PYDOCK_ROOT", "/var/lib/pydock")


def read_config(dir: str) -> dict[str, Any]:
    """`config.json` of the record at `dir`; NotFoundError when it has none (removed, or being made)."""
    try:
        with open(os.path.join(dir, "config.json"), "rb") as f:
            config: dict[str, Any] = loads(f.read())
    except FileNotFoundError:
        raise NotFoundError(f"No such container: {os.path.basename(dir)}") from None
    return config


def read_state(dir: str) -> dict[str, Any]:
    """`state.json` as written (store.effective_state tells whether a live-looking one still is)."""
    try:
        with open(os.path.join(dir, "state.json"), "rb") as f:
            state: dict[str, Any] = loads(f.read())
    except FileNotFoundError:
        state = {"Status": "created"}
    except ValueError:
        # state.json is rewritten without fsync (atomic.py): a host crash may leave it empty.
        state = {"Status": "dead", "Dead": True, "Running": False,
                 "Error": "state.json was lost (the host crashed?)"}
    return state


def record_ids(containers: str) -> list[str]:
    """The ids of the records under `containers` ($ROOT/containers), in directory order."""
    try:
        return [e.name for e in os.scandir(containers) if e.is_dir() and len(e.name) == ID_LENGTH]
    except FileNotFoundError:
        return []


def list_configs(containers: str) -> list[tuple[str, dict[str, Any]]]:
    """(record dir, config) of every record, newest first (`docker ps`'s order)."""
    out = []
    for cid in record_ids(containers):
        dir = os.path.join(containers, cid)
        try:
            out.append((dir, read_config(dir)))
        except NotFoundError:
            continue  # removed (or not yet written) while we listed
    out.sort(key=lambda found: found[1].get("Created", ZERO_TIME), reverse=True)
    return out


def resolve(containers: str, ref: str) -> tuple[str, dict[str, Any]]:
    """(record dir, config) of a reference: a full id, a name (with or without a leading '/') or a
    unique id prefix, tried in that order as Docker does."""
    if not ref:
        raise NotFoundError("No such container: (empty reference)")
    if len(ref) == ID_LENGTH and os.path.isdir(os.path.join(containers, ref)):
        dir = os.path.join(containers, ref)
        return dir, read_config(dir)
    name = ref.lstrip("/")
    found = list_configs(containers)
    for dir, config in found:
        if config["Name"] == name:
            return dir, config
    matches = [(dir, config) for dir, config in found if config["Id"].startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ConflictError(f"multiple containers match the id prefix {ref!r}")
    raise NotFoundError(f"No such container: {ref}")
