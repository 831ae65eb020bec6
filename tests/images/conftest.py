"""Fixtures of the image tests: registries started once per session on loopback (plain, htpasswd,
TLS with a private CA), test images made by umoci and pushed by skopeo, and `pd`, the real CLI in a
private state root and config dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import regpeers as rp

CLI = [sys.executable, "-m", "pydock"]
USER, PASSWORD = "alice", "s3cret-pw"


@dataclass
class BuiltImage:
    oci: Path  # the OCI layout (tag latest)
    hello: str  # the content of /x/hello.txt in the image


@pytest.fixture(scope="session")
def peers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("peers")


@pytest.fixture(scope="session")
def reg(peers_dir: Path) -> Iterator[rp.Registry]:
    r = rp.start_registry(peers_dir / "plain")
    yield r
    r.stop()


@pytest.fixture(scope="session")
def areg(peers_dir: Path) -> Iterator[rp.Registry]:
    d = peers_dir / "auth"
    d.mkdir()
    r = rp.start_registry(d, htpasswd=rp.htpasswd(d, USER, PASSWORD))
    yield r
    r.stop()


@pytest.fixture(scope="session")
def ca(peers_dir: Path) -> tuple[Path, tuple[Path, Path]]:
    return rp.make_ca(peers_dir / "ca")


@pytest.fixture(scope="session")
def treg(peers_dir: Path, ca: tuple[Path, tuple[Path, Path]]) -> Iterator[rp.Registry]:
    r = rp.start_registry(peers_dir / "tls", cert=ca[1])
    yield r
    r.stop()


@pytest.fixture(scope="session")
def image(peers_dir: Path) -> BuiltImage:
    """A two-layer busybox image made by umoci (busybox, then /x/hello.txt)."""
    d = peers_dir / "img"
    root = rp.busybox_rootfs(d)
    extra = d / "extra"
    (extra / "x").mkdir(parents=True)
    hello = "hello from umoci\n" * 200
    (extra / "x" / "hello.txt").write_text(hello)
    return BuiltImage(rp.umoci_image(d, [root, extra], cmd="/bin/sh"), hello)


@pytest.fixture(scope="session")
def pushed(reg: rp.Registry, image: BuiltImage) -> dict[str, str]:
    """The test image on the plain registry as OCI (bb/oci:1) and Docker v2s2 (bb/v2s2:1)."""
    rp.push_oci(image.oci, reg, "bb/oci:1")
    rp.push_oci(image.oci, reg, "bb/v2s2:1", fmt="v2s2")
    return {"oci": f"{reg.host}/bb/oci:1", "v2s2": f"{reg.host}/bb/v2s2:1"}


class PD:
    """Runs `pydock ...` as a subprocess with the test's private root, config dir and certs.d."""

    def __init__(self, env: dict[str, str], tmp: Path) -> None:
        self.env = {**os.environ, **env}
        self.tmp = tmp
        self.root = Path(env["PYDOCK_ROOT"])
        self.config_dir = Path(env["PYDOCK_CONFIG_DIR"])
        self.certs_d = Path(env["PYDOCK_CERTS_D"])

    def __call__(self, *args: str, input: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, input=input,
                              timeout=timeout, check=False)

    def ok(self, *args: str, input: str = "") -> str:
        p = self(*args, input=input)
        assert p.returncode == 0, f"pydock {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout

    def store(self):  # type: ignore[no-untyped-def]
        from pydock.runtime.images import ImageStore

        return ImageStore(self.root / "images")

    def stored(self) -> dict[str, list[str]]:
        """What the store holds: layer dirs, configs, kept blobs, and leftover temporary files."""
        images = self.root / "images"

        def names(sub: str, pattern: str = "*") -> list[str]:
            d = images / sub
            return sorted(p.name for p in d.glob(pattern)) if d.is_dir() else []

        return {"layers": [n for n in names("layers") if not n.endswith(".json")],
                "configs": names("configs"), "blobs": names("blobs/sha256"),
                "tmp": [n for n in names("tmp") if not n.endswith(".lock")]}


@pytest.fixture
def pd(pydock_env: dict[str, str], tmp_path: Path) -> PD:
    env = {**pydock_env, "PYDOCK_CONFIG_DIR": str(tmp_path / "cfg"), "PYDOCK_CERTS_D": str(tmp_path / "certs.d")}
    os.environ.update({k: env[k] for k in ("PYDOCK_CONFIG_DIR", "PYDOCK_CERTS_D")})
    yield PD(env, tmp_path)
    for k in ("PYDOCK_CONFIG_DIR", "PYDOCK_CERTS_D"):
        os.environ.pop(k, None)
    shutil.rmtree(tmp_path / "cfg", ignore_errors=True)


def one_line_error(p: subprocess.CompletedProcess[str]) -> str:
    """The error of a failed command: exit 125, one line on stderr starting `pydock: `."""
    assert p.returncode != 0, p.stdout
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("pydock: "), p.stderr
    return lines[0]
