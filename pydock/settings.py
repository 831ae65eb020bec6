"""Paths and settings shared by every part of pydock.

The state root (`PYDOCK_ROOT`, default /var/lib/pydock) holds containers, images and volumes; the
runtime dir (`PYDOCK_RUN`, default /run/pydock) holds sockets and pid files. Every test uses its own
temporary root by setting these variables or passing a `Settings` explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    root: Path
    run: Path
    config_file: Path

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "Settings":
        env = os.environ if environ is None else environ
        return cls(
            root=Path(env.get("PYDOCK_ROOT", "/var/lib/pydock")),
            run=Path(env.get("PYDOCK_RUN", "/run/pydock")),
            config_file=Path(env.get("PYDOCK_CONFIG", "/etc/pydock/daemon.json")),
        )

    @property
    def containers(self) -> Path:
        return self.root / "containers"

    @property
    def images(self) -> Path:
        return self.root / "images"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"
