"""The dual-logging cache through the shipper, with a real cache: a container run by `pydock run
--log-driver gelf` sends its lines to a GELF UDP receiver in this test and, as Docker does, keeps a
local cache of them (`local-logs/container-cached.log`, small `cache-max-size` so that it rotates and
compresses). The agent's shipper finds that cache by the container's log driver and ships every line
once, in order, to the collector's push API; a second pass after more lines ships only the new ones."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_shipper import Collector, drain, shipper

pytestmark = [pytest.mark.root, pytest.mark.peer]

PYDOCK = [sys.executable, "-m", "pydock"]


class GelfReceiver:
    """GELF over UDP, one datagram a message (gzip, zlib or plain JSON); chunked messages are not
    expected here (the lines are short)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.messages: list[dict[str, object]] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if data[:2] == b"\x1f\x8b":
                data = gzip.decompress(data)
            elif data[:1] == b"\x78":
                data = zlib.decompress(data)
            self.messages.append(json.loads(data))

    def wait(self, n: int, timeout: float = 10.0) -> list[dict[str, object]]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < n and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.messages)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def gelf() -> Iterator[GelfReceiver]:
    r = GelfReceiver()
    yield r
    r.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path)
    yield c
    c.client.close()
    c.store.close()


def pd(env: dict[str, str], *args: str) -> str:
    p = subprocess.run([*PYDOCK, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120,
                       check=False)
    assert p.returncode == 0, f"pydock {' '.join(args)}: {p.stderr}"
    return p.stdout.strip()


SCRIPT = 'i={start}; while [ $i -le {end} ]; do echo "gelf line $i"; i=$((i+1)); done; echo "oops {end}" >&2'


def test_gelf_container_cache_is_shipped(pydock_env: dict[str, str], gelf: GelfReceiver,
                                         collector: Collector) -> None:
    root = Path(pydock_env["PYDOCK_ROOT"])
    pd(pydock_env, "image", "bootstrap", "busybox")
    cid = pd(pydock_env, "run", "-d", "--name", "gl", "--log-driver", "gelf",
             "--log-opt", f"gelf-address=udp://127.0.0.1:{gelf.port}", "--log-opt", "cache-max-size=2k",
             "--log-opt", "cache-max-file=40", "busybox", "sh", "-c", SCRIPT.format(start=1, end=300))
    pd(pydock_env, "wait", cid)
    cache = root / "containers" / cid / "local-logs"
    files = sorted(p.name for p in cache.iterdir())
    assert "container-cached.log" in files and any(f.endswith(".gz") for f in files), files  # rotated, compressed
    expected = [f"gelf line {i}" for i in range(1, 301)]

    s = shipper(root, collector)
    assert drain(s) == 301
    got = collector.lines("gl")
    assert [x for x in got if x.startswith("gelf line")] == expected  # each once, in order
    assert got.count("oops 300") == 1
    recs = collector.store.query(collector_query("gl")).records
    assert {r.container_id for r in recs} == {cid} and {r.host for r in recs} == {"node-1"}
    assert {r.stream for r in recs if r.line == "oops 300"} == {"stderr"}
    # the receiver got the same lines: the cache is a copy, not instead of the remote driver
    assert sorted(str(m["short_message"]) for m in gelf.wait(301) if m.get("level") == 6) == sorted(expected)

    # The container runs again: only the new lines are shipped (the checkpoint covers the old files).
    pd(pydock_env, "start", cid)
    pd(pydock_env, "wait", cid)
    s2 = shipper(root, collector)  # a restarted agent: resumes from the checkpoint file
    assert drain(s2) == 301
    got = collector.lines("gl")
    assert len(got) == 602 and got.count("gelf line 150") == 2 and got.count("oops 300") == 2


def collector_query(name: str):  # type: ignore[no-untyped-def]
    from pydock.collector.logstore import LogQuery

    return LogQuery(container=name, limit=5000)
