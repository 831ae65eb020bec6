"""No acknowledged line lost, none stored twice: 200,000 lines from four containers, shipped by a real
`pydock agent --collector` to a real `pydock collector`, while the collector is SIGKILLed and
restarted and the agent is SIGKILLed and restarted. The files are written by the json-file driver
(with rotation and compression) while shipping goes on."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import JSONFileDriver

pytestmark = pytest.mark.slow

PYDOCK = [sys.executable, "-m", "pydock"]
CONTAINERS = 4
PER_CONTAINER = 50_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Procs:
    """Every process the test starts, stopped by PID at the end whatever happened."""

    def __init__(self) -> None:
        self.all: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as f:
            p = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        self.all.append(p)
        return p

    def kill(self, p: subprocess.Popen[bytes]) -> None:
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(10)

    def stop_all(self) -> None:
        for p in self.all:
            self.kill(p)


@pytest.fixture
def procs() -> Iterator[Procs]:
    ps = Procs()
    yield ps
    ps.stop_all()


def wait_http(url: str, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


def count(db: Path) -> int:
    con = sqlite3.connect(db, timeout=30)
    try:
        return int(con.execute("SELECT count(*) FROM logs").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def writer(root: Path, idx: int, pace: threading.Event) -> None:
    cid = f"{idx:x}" * 64
    d = root / "containers" / cid
    d.mkdir(parents=True)
    opts = {"max-size": "1m", "max-file": "40", "compress": "true"}
    (d / "config.json").write_text(json.dumps({"Id": cid, "Name": f"app{idx}",
                                               "HostConfig": {"LogConfig": {"Type": "json-file", "Config": opts}}}))
    info = LogInfo(container_id=cid, container_name=f"app{idx}", image_name="busybox", image_id="sha256:" + "0" * 64,
                   command=["sh"], created_ns=0, labels={}, env=[], log_dir=str(d))
    drv = JSONFileDriver(info, opts)
    try:
        for i in range(PER_CONTAINER):
            drv.log(LogMessage(f"app{idx} seq={i:06d} payload={'p' * 40}".encode(),
                               "stderr" if i % 13 == 0 else "stdout", time.time_ns()))
            if i % 5000 == 4999:
                pace.wait(30)  # a steady trickle while the kills happen
    finally:
        drv.close()


def test_every_line_arrives_exactly_once(tmp_path: Path, procs: Procs) -> None:
    root, data = tmp_path / "root", tmp_path / "collector"
    root.mkdir()
    cport, aport = free_port(), free_port()
    curl = f"http://127.0.0.1:{cport}"
    db = data / "logs.sqlite"
    env_log = tmp_path / "procs.log"
    collector_cmd = PYDOCK + ["collector", "--listen", f"127.0.0.1:{cport}", "--data", str(data),
                              "--log-level", "warning"]
    agent_cmd = PYDOCK + ["agent", "--listen", f"127.0.0.1:{aport}", "--state-root", str(root), "--pydock-only",
                          "--collector", curl, "--hostname", "node-a"]

    pace = threading.Event()
    pace.set()
    writers = [threading.Thread(target=writer, args=(root, i + 1, pace)) for i in range(CONTAINERS)]
    for w in writers:
        w.start()
    try:
        col = procs.start(collector_cmd, env_log)
        wait_http(curl + "/api/v1/logs/query?limit=1")
        agent = procs.start(agent_cmd, env_log)

        def wait_count(n: int, timeout: float = 60) -> None:
            deadline = time.time() + timeout
            while count(db) < n:
                assert time.time() < deadline, f"only {count(db)} of {n} lines after {timeout}s"
                time.sleep(0.1)

        wait_count(30_000)
        procs.kill(col)  # the collector dies mid-stream, batches in flight
        time.sleep(0.5)  # the agent meets a dead collector and backs off
        col = procs.start(collector_cmd, env_log)
        wait_http(curl + "/api/v1/logs/query?limit=1")
        wait_count(90_000)
        procs.kill(agent)  # the agent dies mid-stream
        agent = procs.start(agent_cmd, env_log)
        wait_count(140_000)
        procs.kill(col)
        procs.kill(agent)
        col = procs.start(collector_cmd, env_log)
        wait_http(curl + "/api/v1/logs/query?limit=1")
        agent = procs.start(agent_cmd, env_log)
        for w in writers:
            w.join(120)
        wait_count(CONTAINERS * PER_CONTAINER, timeout=120)
        time.sleep(1.0)  # anything more would be a duplicate: give it the chance to show
        procs.kill(agent)
        procs.kill(col)
    finally:
        pace.set()
        for w in writers:
            w.join(120)

    con = sqlite3.connect(db)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT line) FROM logs").fetchone()
        assert (total, distinct) == (CONTAINERS * PER_CONTAINER, CONTAINERS * PER_CONTAINER)
        for i in range(1, CONTAINERS + 1):
            seqs = [int(r[0][len(f"app{i} seq="):][:6]) for r in
                    con.execute("SELECT line FROM logs WHERE container_name = ? ORDER BY time_ns, id", (f"app{i}",))]
            assert seqs == list(range(PER_CONTAINER)), f"app{i} out of order or incomplete"
        assert con.execute("SELECT count(DISTINCT host) FROM logs").fetchone()[0] == 1
    finally:
        con.close()
    assert any(p.name.endswith(".gz") for p in (root / "containers").rglob("*")), "rotation+compression exercised"
