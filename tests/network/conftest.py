"""Fixtures of the network tests: a busybox image made once, and per test a private state root whose
default bridge, subnet and nftables table are the test's own (PYDOCK_BRIDGE, daemon.json `bip`,
PYDOCK_NFT_TABLE), all removed after the test even when it fails: containers, networks, bridges,
veths, netns files and the table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pydock.settings import Settings

CLI = [sys.executable, "-m", "pydock"]
BIP = "10.231.0.1/24"


@pytest.fixture(scope="session")
def net_busybox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = tmp_path_factory.mktemp("netbb")
    run = Path("/run/pydock-test") / f"netbb-{os.getpid()}"
    env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
    subprocess.run([*CLI, "image", "bootstrap", "busybox"], env=env, check=True, capture_output=True)
    yield root / "images"
    shutil.rmtree(run, ignore_errors=True)


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


@pytest.fixture
def net(tmp_path: Path, net_busybox: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Net]:
    root = tmp_path / "root"
    run = Path("/run/pydock-test") / f"n{os.getpid()}-{tmp_path.name[-8:]}"
    run.mkdir(parents=True, exist_ok=True)
    cfg = tmp_path / "daemon.json"
    cfg.write_text(json.dumps({"bip": BIP}))
    tag = f"{os.getpid() % 100000}"
    env = {"PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run), "PYDOCK_CONFIG": str(cfg),
           "PYDOCK_BRIDGE": f"pdt{tag}", "PYDOCK_NFT_TABLE": f"pydock_test_{tag}"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    root.mkdir()
    shutil.copytree(net_busybox, root / "images", copy_function=os.link, symlinks=True)
    helper = Net(env)
    before = veths()
    yield helper
    _cleanup(helper, before)
    shutil.rmtree(run, ignore_errors=True)


def _cleanup(n: Net, before: set[str]) -> None:
    from pydock.runtime.lifecycle import Runtime
    from pydock.runtime.network import bridge, nat
    from pydock.runtime.network.store import NetworkStore

    rt = Runtime(n.settings)
    mine = {f"veth{rec.id[:8]}" for rec in rt.store.list()}
    for rec in rt.store.list():
        try:
            rt.remove(rec.id, force=True, volumes=True)
        except Exception:  # noqa: BLE001 - clean as much as possible, then check below
            pass
    for net in NetworkStore(n.settings.root).list():
        name = net.get("Options", {}).get("com.docker.network.bridge.name")
        if name:
            bridge.delete_link(name)
    for leftover in veths() - before:
        if leftover[:12] in mine:  # only this test's: other sessions may run containers meanwhile
            bridge.delete_link(leftover)
    netns = n.settings.run / "netns"
    if netns.exists():
        for f in netns.iterdir():
            bridge.delete_netns(f)
    nat.delete_table(n.table)
