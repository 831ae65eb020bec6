"""Fixtures shared by every test: a private state root per test, and the markers' rules.

Test files and helper modules are imported by basename (pytest's prepend mode): keep basenames
unique across folders. Tests marked `root` need real namespaces and cgroups; CI runs as root, so they run there and are
never skipped in CI (CI=true turns a would-be skip into a failure).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI runs the suite as root; tests marked 'root' are never skipped there")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(pytest.mark.skip(reason="needs root"))


@pytest.fixture
def pydock_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A private PYDOCK_ROOT / PYDOCK_RUN / PYDOCK_CONFIG for one test, set in os.environ."""
    root = tmp_path / "root"
    run = Path("/run/pydock-test") / f"{os.getpid()}-{tmp_path.name}"  # short: unix socket paths are limited to 108 bytes
    root.mkdir()
    run.mkdir(parents=True, exist_ok=True)
    env = {"PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run), "PYDOCK_CONFIG": str(tmp_path / "daemon.json")}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    yield env
    shutil.rmtree(run, ignore_errors=True)


@pytest.fixture(scope="session")
def regpeers() -> Any:
    """tests/images/regpeers.py (Debian's docker-registry, umoci, skopeo), loaded by path for the test
    folders that push images to a loopback registry (tests/images is not on sys.path for them)."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("shared_regpeers", Path(__file__).parent / "images" / "regpeers.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    for tool in ("docker-registry", "skopeo", "umoci"):
        assert shutil.which(tool), f"{tool} is missing: scripts/setup-test-env installs it"
    return mod
