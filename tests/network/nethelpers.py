"""Helpers of the network tests (a module of its own: test files import it by a unique basename)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from pydock.settings import Settings

CLI = [sys.executable, "-m", "pydock"]


class Net:
    """Runs the real CLI in the test's root; `ok` asserts success and returns stdout."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = {**os.environ, **env}
        self.settings = Settings(Path(env["PYDOCK_ROOT"]), Path(env["PYDOCK_RUN"]), Path(env["PYDOCK_CONFIG"]))
        self.bridge = env["PYDOCK_BRIDGE"]
        self.table = env["PYDOCK_NFT_TABLE"]

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*CLI, *args], env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)

    def ok(self, *args: str, timeout: float = 60) -> str:
        p = self(*args, timeout=timeout)
        assert p.returncode == 0, f"pydock {' '.join(args)} -> {p.returncode}\n{p.stdout}\n{p.stderr}"
        return p.stdout.strip()

    def inspect(self, ref: str) -> dict:  # type: ignore[type-arg]
        return dict(json.loads(self.ok("inspect", ref))[0])

    def endpoints(self) -> list[Path]:
        return sorted((self.settings.root / "networks").glob("*/endpoints/*.json"))

    def nft(self) -> str:
        p = subprocess.run(["nft", "list", "table", "ip", self.table], capture_output=True, text=True, check=False)
        return p.stdout if p.returncode == 0 else ""


def veths(prefix: str = "veth") -> set[str]:
    return {n for n in os.listdir("/sys/class/net") if n.startswith(prefix)}


def wait_for(pred, timeout: float = 10.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
