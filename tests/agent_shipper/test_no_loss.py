"""No acknowledged line lost, none stored twice: 200,000 lines from four real containers (`pydock
run`, json-file with rotation and compression), shipped by a real `pydock agent --collector` to a real
`pydock collector`, while the collector is SIGKILLed and restarted and the agent is SIGKILLed and
restarted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.root]

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
        # the containers' lines only: the agent also ships their lifecycle events (stream "event")
        return int(con.execute("SELECT count(*) FROM logs WHERE stream != 'event'").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def run_container(env: dict[str, str], idx: int) -> str:
    # seq and sed print the lines without a fork per line; the container exits when done.
    script = f"seq -w 0 {PER_CONTAINER - 1} | sed 's/^/app{idx} seq=/; s/$/ payload={'p' * 40}/'"
    r = subprocess.run(PYDOCK + ["run", "-d", "--name", f"app{idx}", "--log-opt", "max-size=1m",
                                 "--log-opt", "max-file=40", "--log-opt", "compress=true", "busybox", "sh", "-c",
                                 script], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_every_line_arrives_exactly_once(tmp_path: Path, procs: Procs) -> None:
    root, data = tmp_path / "root", tmp_path / "collector"
    root.mkdir()
    run_dir = Path("/run/pydock-test") / f"noloss{os.getpid()}"
    run_dir.mkdir(parents=True, exist_ok=True)
    cport, aport = free_port(), free_port()
    curl = f"http://127.0.0.1:{cport}"
    db = data / "logs.sqlite"
    env_log = tmp_path / "procs.log"
    collector_cmd = PYDOCK + ["collector", "--listen", f"127.0.0.1:{cport}", "--data", str(data),
                              "--log-level", "warning"]
    agent_cmd = PYDOCK + ["agent", "--listen", f"127.0.0.1:{aport}", "--state-root", str(root), "--pydock-only",
                          "--collector", curl, "--hostname", "node-a"]

    env = dict(os.environ, PYDOCK_ROOT=str(root), PYDOCK_RUN=str(run_dir), PYDOCK_CONFIG=str(tmp_path / "d.json"))
    ids: list[str] = []
    try:
        subprocess.run(PYDOCK + ["image", "bootstrap", "busybox"], env=env, check=True, capture_output=True, timeout=60)
        col = procs.start(collector_cmd, env_log)
        wait_http(curl + "/api/v1/logs/query?limit=1")
        agent = procs.start(agent_cmd, env_log)
        ids = [run_container(env, i + 1) for i in range(CONTAINERS)]

        def wait_count(n: int, timeout: float = 90) -> None:
            deadline = time.time() + timeout
            while count(db) < n:
                assert time.time() < deadline, f"only {count(db)} of {n} lines after {timeout}s"
                time.sleep(0.05)

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
        wait_count(CONTAINERS * PER_CONTAINER, timeout=120)
        time.sleep(1.0)  # anything more would be a duplicate: give it the chance to show
        procs.kill(agent)
        procs.kill(col)
    finally:
        for cid in ids:
            subprocess.run(PYDOCK + ["rm", "-f", cid], env=env, capture_output=True, timeout=60, check=False)
        shutil.rmtree(run_dir, ignore_errors=True)

    con = sqlite3.connect(db)
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT line) FROM logs WHERE stream != 'event'"
                                      ).fetchone()
        assert (total, distinct) == (CONTAINERS * PER_CONTAINER, CONTAINERS * PER_CONTAINER)
        for i in range(1, CONTAINERS + 1):
            seqs = [int(r[0].split()[1][4:]) for r in
                    con.execute("SELECT line FROM logs WHERE container_name = ? AND stream != 'event'"
                                " ORDER BY time_ns, id", (f"app{i}",))]
            assert seqs == list(range(PER_CONTAINER)), f"app{i} out of order or incomplete"
        assert con.execute("SELECT count(DISTINCT host) FROM logs").fetchone()[0] == 1
        # every container's lifecycle events arrived once each, through the agent's event shipper
        events = con.execute("SELECT count(*), count(DISTINCT container_id || line) FROM logs WHERE stream = 'event'"
                             " AND line IN ('container create', 'container start')").fetchone()
        assert events == (2 * CONTAINERS, 2 * CONTAINERS)
    finally:
        con.close()
    # Rotation and compression happened under the shipper (the containers are gone; their files
    # went with them, so the agent's checkpoint tells).
    ck = json.loads((root / "agent" / "shipper-checkpoint.json").read_text())
    assert len(ck["containers"]) == CONTAINERS and all(len(f) >= 3 for f in ck["containers"].values())
