"""Helpers for the log driver tests: a container's LogInfo, golden files (imported as `ldhelpers`)."""

from __future__ import annotations

import os
from pathlib import Path

from pydock.logdrivers.base import LogInfo

GOLDEN = Path(__file__).resolve().parent / "golden"
# PYDOCK_REGEN_GOLDEN=1 rewrites the golden files from the current output instead of comparing.
REGEN = os.environ.get("PYDOCK_REGEN_GOLDEN") == "1"

CID = "4f1b2c3d4e5f60718293a4b5c6d7e8f90123456789abcdef0123456789abcdef"
IMAGE_ID = "sha256:" + "9e" * 32


def make_info(log_dir: Path, **kw: object) -> LogInfo:
    base: dict[str, object] = {
        "container_id": CID, "container_name": "web", "image_name": "busybox:latest", "image_id": IMAGE_ID,
        "command": ["sh", "-c", "echo hi"], "created_ns": 1_700_000_000_123_456_789,
        "labels": {"com.example.team": "core", "tier": "db"}, "env": ["APP=shop", "REGION=eu-1", "EMPTY="],
        "log_dir": str(log_dir), "hostname": "testhost",
    }
    base.update(kw)
    return LogInfo(**base)  # type: ignore[arg-type]


def golden(name: str, actual: bytes) -> None:
    """Compare `actual` with golden/`name` (or rewrite it when PYDOCK_REGEN_GOLDEN=1)."""
    path = GOLDEN / name
    if REGEN:
        path.write_bytes(actual)
        return
    assert path.exists(), f"golden file {path} missing: run with PYDOCK_REGEN_GOLDEN=1 once"
    expected = path.read_bytes()
    assert actual == expected, f"{name} differs from its golden file"
