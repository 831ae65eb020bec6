"""The contract between the shim and every log driver.

`LogMessage` is one line (or one part of a long line) as the copier cut it; `LogInfo` is what a
driver knows about its container; `LogDriver` is the small protocol every driver implements, and
`LogReader` the extra ability of drivers that can be read back by `pydock logs`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class PartialMeta:
    """Docker's PLogMetaData: the parts of a line over 16 KiB share `id`; `ordinal` counts from 1."""

    id: str
    ordinal: int
    last: bool


@dataclass(frozen=True)
class LogMessage:
    line: bytes  # without its newline
    source: str  # "stdout" or "stderr"
    timestamp_ns: int
    partial: PartialMeta | None = None
    attrs: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LogInfo:
    """What a driver may know about its container (Docker's logger.Info)."""

    container_id: str  # full 64-hex id
    container_name: str  # without a leading '/'
    image_name: str  # as given at creation (Config.Image)
    image_id: str  # "sha256:<64 hex>"
    command: list[str]
    created_ns: int
    labels: Mapping[str, str]
    env: list[str]  # "KEY=VALUE"
    log_dir: str  # the container's directory: drivers that write files put them here
    hostname: str = ""  # the daemon host's hostname
    daemon_name: str = "pydock"


@dataclass(frozen=True)
class ReadConfig:
    tail: int = -1  # -1: all
    since_ns: int = 0
    until_ns: int = 0  # 0: no bound
    follow: bool = False
    # While following: tells whether the writer has finished (the container stopped). Following
    # then ends once everything written is read. None: follow until the caller stops iterating.
    done: Callable[[], bool] | None = None


@runtime_checkable
class LogDriver(Protocol):
    """Constructed as `Driver(info: LogInfo, opts: dict[str, str])`; validates every option there
    and raises `LogOptError` naming the bad key or value."""

    name: str

    def log(self, msg: LogMessage) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class LogReader(Protocol):
    """Offered by drivers whose output can be read back (json-file, local, the dual-logging cache)."""

    def read(self, config: ReadConfig) -> Iterator[LogMessage]: ...
