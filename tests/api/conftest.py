"""Fixtures of the Engine API tests: `pydock system service` on a socket in the test's private
state root (a busybox image already in it), the real `docker` CLI pointed at it with a private
DOCKER_CONFIG, and a clean-up that stops the server and removes every container a test made."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pydock.settings import Settings

DOCKER = shutil.which("docker") or "/usr/local/bin/docker"


@pytest.fixture(scope="session")
def api_busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An image store holding busybox:latest, from the runtime's bootstrap_busybox, made once."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    from pydock.runtime.images import ImageStore

    images = tmp_path_factory.mktemp("apibb") / "images"
    ImageStore(images).bootstrap_busybox()
    return images


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Api:
    """The running server: `docker(...)` runs the real CLI, `request(...)` speaks HTTP directly."""

    def __init__(self, env: dict[str, str], sock: Path, proc: subprocess.Popen[bytes]) -> None:
        self.sock, self.proc = sock, proc
        self.docker_bin = DOCKER  # the real CLI, for tests that run it in a pty
        self.env = {**os.environ, **env, "DOCKER_HOST": f"unix://{sock}",
                    "DOCKER_CONFIG": str(Path(env["PYDOCK_ROOT"]).parent / "docker-config")}
        self.env.pop("DOCKER_API_VERSION", None)
        self.settings = Settings(Path(env["PYDOCK_ROOT"]), Path(env["PYDOCK_RUN"]), Path(env["PYDOCK_CONFIG"]))

    def docker(self, *args: str, timeout: float = 30, input: bytes | None = None,
               check: bool = True) -> subprocess.CompletedProcess[str]:
        raw = subprocess.run([DOCKER, *args], check=False, env=self.env, capture_output=True, timeout=timeout,
                             input=input if input is not None else b"")
        p = subprocess.CompletedProcess(raw.args, raw.returncode, raw.stdout.decode(errors="replace"),
                                        raw.stderr.decode(errors="replace"))
        if check and p.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def pydock(self, *args: str) -> str:
        return subprocess.run([sys.executable, "-m", "pydock", *args], env=self.env, capture_output=True,
                              timeout=30, check=True, text=True).stdout

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = UnixHTTPConnection(str(self.sock))
        try:
            data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
            hdrs = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def runtime(self) -> Any:
        from pydock.runtime.lifecycle import Runtime

        return Runtime(self.settings)


@pytest.fixture
def api(pydock_env: dict[str, str], api_busybox: Path) -> Iterator[Api]:
    root = Path(pydock_env["PYDOCK_ROOT"])
    shutil.copytree(api_busybox, root / "images", copy_function=os.link, symlinks=True)
    (root.parent / "docker-config").mkdir(exist_ok=True)
    sock = Path(pydock_env["PYDOCK_RUN"]) / "d.sock"
    env = {**os.environ, **pydock_env}
    with open(root.parent / "api.log", "wb") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "pydock", "system", "service", "--host", f"unix://{sock}"],
                                env=env, stdout=subprocess.DEVNULL, stderr=log)
    deadline = time.monotonic() + 15
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError("the API server did not start:\n" + (root.parent / "api.log").read_text())
        time.sleep(0.02)
    helper = Api(pydock_env, sock, proc)
    try:
        yield helper
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        rt = helper.runtime()
        for rec in rt.store.list():
            rt.remove(rec.id, force=True, volumes=True)
