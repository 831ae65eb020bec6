"""The agent's log shipper against the collector's push API (ASGI test client as its HTTP client),
reading files written by the real json-file driver, with rotation and compression."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydock.agent.shipper import PushError, Shipper
from pydock.collector.api import logs as logs_api
from pydock.collector.logstore import LogQuery
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import JSONFileDriver
from pydock.logdrivers.local import LocalDriver


def make_container(root: Path, cid: str, name: str, opts: dict[str, str] | None = None,
                   log_type: str = "json-file") -> Any:
    d = root / "containers" / cid
    d.mkdir(parents=True)
    (d / "config.json").write_text(json.dumps({"Id": cid, "Name": name, "HostConfig": {
        "LogConfig": {"Type": log_type, "Config": opts or {}}}}))
    info = LogInfo(container_id=cid, container_name=name, image_name="busybox", image_id="sha256:" + "0" * 64,
                   command=["sh"], created_ns=0, labels={}, env=[], log_dir=str(d))
    return (LocalDriver if log_type == "local" else JSONFileDriver)(info, opts or {})


def write(drv: Any, start: int, n: int, tag: str) -> None:
    for i in range(start, start + n):
        drv.log(LogMessage(f"{tag} line {i:06d} {'x' * 40}".encode(), "stdout" if i % 7 else "stderr",
                           time.time_ns()))


class Collector:
    """The push API on a store; `fail` makes the next pushes answer 503 (after storing them if
    `store_then_fail`: an acknowledgement lost on the way back)."""

    def __init__(self, tmp: Path) -> None:
        self.store = SQLiteLogStore(tmp / "logs.db")
        app = FastAPI()
        app.state.logstore = self.store
        self.fail = 0
        self.store_then_fail = False
        self.pushes = 0
        self.batch_sizes: list[int] = []

        @app.middleware("http")
        async def flaky(request: Any, call_next: Any) -> Any:
            self.pushes += 1
            self.batch_sizes.append(len(gzip.decompress(await request.body()).splitlines()))
            if self.fail:
                self.fail -= 1
                if self.store_then_fail:
                    await call_next(request)
                from fastapi.responses import JSONResponse

                return JSONResponse({"error": "unavailable"}, status_code=503)
            return await call_next(request)

        app.include_router(logs_api.router)
        self.client = TestClient(app)

    def lines(self, container: str = "") -> list[str]:
        out: list[str] = []
        cursor = ""
        while True:
            page = self.store.query(LogQuery(container=container, limit=5000, cursor=cursor))
            out += [r.line for r in page.records]
            if not page.next_cursor:
                return out[::-1]
            cursor = page.next_cursor


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path)
    yield c
    c.client.close()
    c.store.close()


def shipper(root: Path, c: Collector, **kw: Any) -> Shipper:
    return Shipper(root / "containers", "http://testserver", root / "agent" / "shipper.json", client=c.client,
                   host="node-1", **kw)


def drain(s: Shipper) -> int:
    total = 0
    while n := s.ship_once():
        total += n
    return total


def test_ships_every_line_once_in_order(tmp_path: Path, collector: Collector) -> None:
    a = make_container(tmp_path, "a" * 64, "web")
    b = make_container(tmp_path, "b" * 64, "db")
    write(a, 0, 300, "web")
    write(b, 0, 120, "db")
    s = shipper(tmp_path, collector, batch_lines=50)
    assert drain(s) == 420
    # Back-pressure: one bounded batch at a time, the rest waits on disk.
    assert max(collector.batch_sizes) == 50 and sum(collector.batch_sizes) == 420
    assert collector.lines("web") == [f"web line {i:06d} {'x' * 40}" for i in range(300)]
    assert len(collector.lines("db")) == 120
    rec = collector.store.query(LogQuery(container="db", limit=1)).records[0]
    assert (rec.host, rec.container_name, rec.container_id) == ("node-1", "db", "b" * 64)
    assert rec.file_id.count(":") == 2 and rec.offset > 0  # dev:inode:head hash
    # Nothing new: nothing sent; a new shipper resumes from the checkpoint without re-sending.
    pushes = collector.pushes
    assert drain(shipper(tmp_path, collector)) == 0 and collector.pushes == pushes
    write(a, 300, 5, "web")
    assert drain(shipper(tmp_path, collector)) == 5
    assert len(collector.lines("web")) == 305
    a.close()
    b.close()


def test_rotation_and_compression_lose_and_repeat_nothing(tmp_path: Path, collector: Collector) -> None:
    drv = make_container(tmp_path, "c" * 64, "rot", {"max-size": "4k", "max-file": "50", "compress": "true"})
    s = shipper(tmp_path, collector, batch_lines=40)
    write(drv, 0, 100, "rot")
    s.ship_once()  # part of the first files only
    write(drv, 100, 400, "rot")  # many rotations; shipped files get compressed under the shipper
    drain(s)
    write(drv, 500, 100, "rot")
    drain(shipper(tmp_path, collector, batch_lines=40))
    files = sorted(p.name for p in (tmp_path / "containers" / ("c" * 64)).iterdir())
    assert any(f.endswith(".gz") for f in files)
    got = collector.lines("rot")
    assert got == [f"rot line {i:06d} {'x' * 40}" for i in range(600)]
    drv.close()


def test_collector_down_or_lost_ack_then_resume(tmp_path: Path, collector: Collector) -> None:
    drv = make_container(tmp_path, "d" * 64, "api")
    write(drv, 0, 100, "api")
    s = shipper(tmp_path, collector, batch_lines=30)
    collector.fail = 2
    with pytest.raises(PushError):
        s.ship_once()
    with pytest.raises(PushError):
        s.ship_once()
    assert collector.lines() == []
    ck = json.loads((tmp_path / "agent" / "shipper.json").read_text())
    assert all(e["offset"] == 0 for ents in ck["containers"].values() for e in ents)
    # The collector stores a batch but the answer is lost: the batch comes again and is dropped.
    collector.fail, collector.store_then_fail = 1, True
    with pytest.raises(PushError):
        s.ship_once()
    assert len(collector.lines()) == 30
    drain(s)
    assert collector.lines("api") == [f"api line {i:06d} {'x' * 40}" for i in range(100)]
    drv.close()


def test_unreachable_collector_is_a_push_error(tmp_path: Path) -> None:
    drv = make_container(tmp_path, "e" * 64, "x")
    write(drv, 0, 3, "x")
    s = Shipper(tmp_path / "containers", "http://127.0.0.1:9", tmp_path / "ck.json", client=httpx.Client(timeout=2))
    with pytest.raises(PushError):
        s.ship_once()
    s.close()
    drv.close()


def test_local_driver_files_with_rotation(tmp_path: Path, collector: Collector) -> None:
    drv = make_container(tmp_path, "f" * 64, "loc", {"max-size": "8k", "max-file": "30", "compress": "true"},
                         log_type="local")
    write(drv, 0, 250, "loc")
    s = shipper(tmp_path, collector, batch_lines=60)
    s.ship_once()
    write(drv, 250, 250, "loc")
    drain(s)
    assert any(p.name.endswith(".gz") for p in (tmp_path / "containers" / ("f" * 64)).rglob("*"))
    assert collector.lines("loc") == [f"loc line {i:06d} {'x' * 40}" for i in range(500)]
    drv.close()
