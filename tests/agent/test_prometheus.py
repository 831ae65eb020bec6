"""Prometheus (Debian's package) scrapes a running `pydock agent` every second.

`up` must be 1, and `container_memory_usage_bytes{name=...}` read back through Prometheus's HTTP API
must match the container's cgroup file.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import Records
from .live import LiveCgroup

pytestmark = [pytest.mark.root, pytest.mark.peer, pytest.mark.slow]
CID = "e" * 64


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait(10)


def _poll(what: str, fn, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = fn()
            if last:
                return last
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    pytest.fail(f"{what}: not within {timeout} s (last: {last!r})")


@pytest.fixture
def cgroup() -> Iterator[LiveCgroup]:
    cg = LiveCgroup()
    try:
        yield cg
    finally:
        cg.close()


def test_prometheus_scrapes_the_agent(cgroup: LiveCgroup, records: Records, tmp_path: Path) -> None:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        pytest.fail("prometheus is missing: scripts/setup-test-env installs it")
    sleeper = cgroup.spawn(["sleep", "600"])
    records.add(CID, "promprobe", cgroup_paths=cgroup.paths, pid=sleeper.pid)
    agent_port, prom_port = _free_port(), _free_port()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        with open(tmp_path / "agent.err", "wb") as err:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "pydock", "agent", "--listen", f"127.0.0.1:{agent_port}",
                 "--state-root", str(records.root), "--pydock-only", "--cache-seconds", "0.5"],
                stdout=subprocess.DEVNULL, stderr=err))
        _poll("agent /healthz", lambda: httpx.get(f"http://127.0.0.1:{agent_port}/healthz").status_code == 200)
        (tmp_path / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: pydock-agent\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{agent_port}']}}]\n")
        with open(tmp_path / "prometheus.err", "wb") as err:
            procs.append(subprocess.Popen(
                [prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                 f"--web.external-url=http://127.0.0.1:{prom_port}"],
                stdout=subprocess.DEVNULL, stderr=err))
        api = f"http://127.0.0.1:{prom_port}/api/v1/query"

        def query(q: str) -> list[dict]:  # type: ignore[type-arg]
            r = httpx.get(api, params={"query": q}, timeout=5)
            r.raise_for_status()
            return list(r.json()["data"]["result"])

        up = _poll("up == 1", lambda: [x for x in query('up{job="pydock-agent"}') if x["value"][1] == "1"])
        assert up[0]["metric"]["instance"] == f"127.0.0.1:{agent_port}"
        result = _poll("memory series", lambda: query('container_memory_usage_bytes{name="promprobe"}'))
        value = float(result[0]["value"][1])
        file_value = int(cgroup.file("memory", "memory.usage_in_bytes") if "memory" in cgroup.paths
                         else cgroup.file("unified", "memory.current"))
        # a sleeping process: the figure moves by a page or so between the scrape and our read, if at all
        assert abs(value - file_value) <= max(64 * 1024, file_value * 0.01), (value, file_value)
        assert result[0]["metric"]["id"] == cgroup.rel and result[0]["metric"]["image"] == "busybox"
        health = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/targets", timeout=5).json()
        (target,) = health["data"]["activeTargets"]
        assert target["health"] == "up" and target["lastError"] == ""
    finally:
        for p in reversed(procs):
            _stop(p)
