"""Fixtures of the network tests: a busybox image made once, and per test a private state root whose
default bridge, subnet and nftables table are the test's own (PYDOCK_BRIDGE, daemon.json `bip`,
PYDOCK_NFT_TABLE), all removed after the test even when it fails: containers, networks, bridges,
veths, netns files and the table."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from nethelpers import CLI, Net, veths

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
        except Exception as exc:  # noqa: BLE001 - clean as much as possible, say what failed
            print(f"cleanup: rm {rec.short_id}: {exc}")
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
