"""Fixtures of the compose tests: a private state root holding busybox:latest (made once per
session), a `pc` helper that runs the real `pydock compose` CLI in a project directory, and a clean-up
that removes every container and volume a test made, even when it fails."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydock.settings import Settings

CLI = [sys.executable, "-m", "pydock"]


@pytest.fixture(scope="session")
def compose_busybox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("cbbroot")
    run = Path("/run/pydock-test") / f"c-{root.parent.name}-{root.name}"
    env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
    subprocess.run([*CLI, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True)
    yield root / "images"
    shutil.rmtree(run, ignore_errors=True)


class PC:
    """`pydock ...` as a subprocess in the test's root, run from the project directory."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
        self.env.update(env)
        self.cwd = cwd
        self.settings = Settings(Path(env["PYDOCK_ROOT"]), Path(env["PYDOCK_RUN"]), Path("/dev/null"))

    def __call__(self, *args: str, check: bool = True, timeout: float = 90,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([*CLI, *args], env={**self.env, **(env or {})}, cwd=self.cwd, capture_output=True, check=False,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise AssertionError(f"pydock {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def runtime(self):  # type: ignore[no-untyped-def]
        from pydock.runtime.lifecycle import Runtime

        return Runtime(self.settings)


@pytest.fixture
def pc(pydock_env: dict[str, str], compose_busybox: Path, tmp_path: Path) -> Iterator[PC]:
    images = Path(pydock_env["PYDOCK_ROOT"]) / "images"
    shutil.copytree(compose_busybox, images, copy_function=os.link, symlinks=True)
    proj = tmp_path / "proj"
    proj.mkdir()
    helper = PC(pydock_env, proj)
    yield helper
    rt = helper.runtime()
    for rec in rt.store.list():
        rt.remove(rec.id, force=True, volumes=True)
    for vol in rt.volumes.list():
        rt.volumes.remove(vol.name, users=lambda _n: [])
    from pydock.runtime.network import list_networks, remove_network

    for net in list_networks(helper.settings):
        if net["Name"] not in ("bridge", "host", "none"):
            remove_network(helper.settings, net["Id"])
