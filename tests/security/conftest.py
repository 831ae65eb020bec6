"""Fixtures of the security tests: the runtime tests' busybox store and `pd` helper (loaded from
tests/runtime/conftest.py, not copied), and a static C probe compiled once per session."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("runtime_fixtures", Path(__file__).parent.parent / "runtime" / "conftest.py")
assert _spec and _spec.loader
_runtime = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_runtime)
busybox_store = _runtime.busybox_store
pd = _runtime.pd
make_tar = _runtime.make_tar

PROBE_C = Path(__file__).parent / "probe.c"


@pytest.fixture(scope="session")
def probe_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A directory holding `probe`, a static binary that makes one syscall by name and prints its
    result (`0` or the errno's name): copied into containers through a read-only volume."""
    if shutil.which("gcc") is None:
        pytest.fail("gcc is needed to build the syscall probe (scripts/setup-test-env installs it)")
    d = tmp_path_factory.mktemp("probe")
    subprocess.run(["gcc", "-static", "-O1", "-o", str(d / "probe"), str(PROBE_C)], check=True,
                   capture_output=True)
    yield d
