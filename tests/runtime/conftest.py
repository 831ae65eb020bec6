"""Fixtures of the runtime tests: a busybox image made once per session and shared into each test's
private state root by hard links, a `pd` helper that runs the real CLI, and a clean-up that removes
every container a test made (so no shim, cgroup or mount outlives a test, even a failing one)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pydock.settings import Settings

CLI = [sys.executable, "-m", "pydock"]


@pytest.fixture(scope="session")
def busybox_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An image store holding busybox:latest, made once per session from the host's busybox."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("bbroot")
    run = Path("/run/pydock-test") / f"{root.parent.name}-{root.name}"  # unique per pytest session
    env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
    subprocess.run([*CLI, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True)
    yield root / "images"
    shutil.rmtree(run, ignore_errors=True)


class PD:
    """Runs `pydock ...` as a subprocess in the test's private state root."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.settings = Settings(Path(env["PYDOCK_ROOT"]), Path(env["PYDOCK_RUN"]), Path("/dev/null"))

    def __call__(self, *args: str, check: bool = False, timeout: float = 60,
                 input: bytes | None = None) -> subprocess.CompletedProcess[str]:
        raw = subprocess.run([*CLI, *args], env=self.env, capture_output=True, timeout=timeout,
                             input=input if input is not None else b"", check=False)
        p = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                        raw.stderr.decode(errors="replace"))
        if check and p.returncode != 0:
            raise AssertionError(f"pydock {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def out(self, *args: str) -> str:
        return self(*args, check=True).stdout.strip()

    def runtime(self):  # type: ignore[no-untyped-def]
        from pydock.runtime.lifecycle import Runtime

        return Runtime(self.settings)


@pytest.fixture
def pd(pydock_env: dict[str, str], busybox_store: Path) -> Iterator[PD]:
    """The CLI in a private root that already holds busybox:latest; removes its containers after."""
    images = Path(pydock_env["PYDOCK_ROOT"]) / "images"
    shutil.copytree(busybox_store, images, copy_function=os.link, symlinks=True)
    helper = PD(pydock_env)
    yield helper
    rt = helper.runtime()
    for rec in rt.store.list():
        rt.remove(rec.id, force=True, volumes=True)


def tar_bytes(entries: list[tuple[str, bytes | str | None, dict[str, object]]]) -> bytes:
    """A tar archive in memory: (name, file content | None for a dir, TarInfo attributes)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data, attrs in entries:
            ti = tarfile.TarInfo(name)
            payload = data.encode() if isinstance(data, str) else data
            if payload is None and "type" not in attrs:
                ti.type = tarfile.DIRTYPE
                ti.mode = 0o755
            else:
                ti.mode = 0o644
            for k, v in attrs.items():
                setattr(ti, k, v)
            if payload is not None:
                ti.size = len(payload)
            tf.addfile(ti, io.BytesIO(payload) if payload is not None else None)
    return buf.getvalue()


@pytest.fixture
def tarball() -> Callable[[list[tuple[str, bytes | str | None, dict[str, object]]]], bytes]:
    """`tar_bytes` as a fixture, for tests that build archives of archives."""
    return tar_bytes


@pytest.fixture
def make_tar(tmp_path: Path) -> Callable[..., Path]:
    counter = iter(range(1000))

    def make(entries: list[tuple[str, bytes | str | None, dict[str, object]]], name: str = "") -> Path:
        path = tmp_path / (name or f"t{next(counter)}.tar")
        path.write_bytes(tar_bytes(entries))
        return path

    return make
