"""Fixtures of the build tests: the runtime tests' busybox store and `pd` helper (loaded from
tests/runtime/conftest.py, not copied), and `ctx`, a build context directory filled from a dict."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("runtime_fixtures_build", Path(__file__).parent.parent / "runtime" / "conftest.py")
assert _spec and _spec.loader
_runtime = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_runtime)
busybox_store = _runtime.busybox_store
pd = _runtime.pd
tar_bytes = _runtime.tar_bytes


@pytest.fixture
def ctx(tmp_path: Path) -> Callable[[dict[str, str | bytes]], Path]:
    """`ctx({"Dockerfile": "...", "a.txt": "..."})`: a fresh context directory holding those files."""
    counter = iter(range(1000))

    def make(files: dict[str, str | bytes]) -> Path:
        d = tmp_path / f"ctx{next(counter)}"
        for name, data in files.items():
            p = d / name
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(data, bytes):
                p.write_bytes(data)
            else:
                p.write_text(data)
        d.mkdir(exist_ok=True)
        return d

    return make
