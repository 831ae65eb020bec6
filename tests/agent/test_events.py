"""Lifecycle events as data: the journal read incrementally, pydock_container_events_total on /metrics,
and events shipped to the collector's log store as entries of stream `event` (LogQL finds them).
The last test runs real containers (one exits 3, one is OOM-killed) through `pydock run`."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydock.agent.events import EventCounters, EventShipper, JournalTail, event_line
from pydock.agent.sampler import Sampler
from pydock.agent.server import AgentSettings, create_app
from pydock.collector.api import logs as logs_api
from pydock.collector.logql import LogQLEvaluator, parse
from pydock.collector.logstore import LogQuery
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.runtime.events import EventJournal

from .conftest import V2, Records, fixture_host

ID_A, ID_B = "a" * 64, "b" * 64


def emit(root: Path, action: str, cid: str = ID_A, name: str = "web", **attrs: str) -> None:
    EventJournal(root, max_bytes=4096).emit(action, cid, {"image": "busybox", "name": name, **attrs})


def test_tail_reads_only_what_was_appended_and_survives_rotation(tmp_path: Path) -> None:
    tail = JournalTail(tmp_path)
    assert tail.read() == []  # no journal yet
    emit(tmp_path, "create")
    emit(tmp_path, "start")
    assert [e.action for e in tail.read()] == ["create", "start"]
    assert tail.read() == []
    offset = tail.offset
    # a half-written line is left for the next read
    with open(tmp_path / "events.jsonl", "ab") as f:
        f.write(b'{"Action":"die"')
    assert tail.read() == [] and tail.offset == offset
    (tmp_path / "events.jsonl").write_bytes((tmp_path / "events.jsonl").read_bytes()[:offset])
    # enough events to rotate the 4 KiB journal several times: each is read once, in order
    for i in range(40):
        emit(tmp_path, "die", exitCode=str(i))
        if i % 7 == 0:
            got = tail.read()
            assert got and all(e.action == "die" for e in got)
    assert (tmp_path / "events.jsonl.1").exists()
    fresh = JournalTail(tmp_path)  # a new agent starts from what the journal still holds
    kept = [e.attributes["exitCode"] for e in fresh.read()]
    assert kept == sorted(kept, key=int) and kept[-1] == "39"


def test_tail_reads_the_rest_of_a_rotated_file(tmp_path: Path) -> None:
    tail = JournalTail(tmp_path)
    emit(tmp_path, "start")
    assert len(tail.read()) == 1
    seen: list[str] = []
    for i in range(30):  # rotations happen between reads; nothing is lost when a read spans one
        emit(tmp_path, "restart", restartCount=str(i))
        if i % 3 == 2:
            seen += [e.attributes["restartCount"] for e in tail.read()]
    assert seen == [str(i) for i in range(30)]


def test_counters_on_metrics(tmp_path: Path, records: Records) -> None:
    root = records.root
    emit(root, "create")
    emit(root, "start")
    emit(root, "die", exitCode="1")
    emit(root, "start")
    emit(root, "health_status: unhealthy")
    emit(root, "exec_start: sh -c 'echo $SECRET'")
    emit(root, "oom", ID_B, "db")
    emit(root, "die", ID_B, "db", exitCode="137")
    host = fixture_host(V2)
    sampler = Sampler(root, host, cache_seconds=0, foreign=False, root=False)
    client = TestClient(create_app(AgentSettings(root, host, 0), sampler))

    def counts() -> dict[tuple[str, str], float]:
        text = client.get("/metrics").text
        fam = {f.name: f for f in text_string_to_metric_families(text)}["pydock_container_events"]
        assert fam.type == "counter"
        out = {}
        for s in fam.samples:
            assert s.name == "pydock_container_events_total" and s.labels["image"] == "busybox"
            assert s.labels["id"] in (ID_A, ID_B)
            out[(s.labels["name"], s.labels["event"])] = s.value
        return out

    assert counts() == {("web", "create"): 1, ("web", "start"): 2, ("web", "die"): 1,
                        ("web", "health_status: unhealthy"): 1, ("web", "exec_start"): 1,
                        ("db", "oom"): 1, ("db", "die"): 1}
    emit(root, "die", exitCode="0")
    assert counts()[("web", "die")] == 2  # incremental: only the new line was read
    om = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}).text
    assert 'pydock_container_events_total{event="oom",id="' + ID_B in om and om.endswith("# EOF\n")
    # a destroyed container's series go once it has been gone a while
    counters = EventCounters(root)
    emit(root, "destroy", ID_B, "db")
    counters.update()
    assert any(k[0] == ID_B for k in counters.counts)
    counters.update(now=time.time() + 7200)
    assert all(k[0] != ID_B for k in counters.counts) and counters.counts


def test_event_lines() -> None:
    from pydock.runtime.events import Event

    assert event_line(Event("die", ID_A, 1, {"exitCode": "137", "name": "web", "team": "x"})) == \
        "container die (exitCode=137)"
    assert event_line(Event("health_status: healthy", ID_A, 1, {})) == "container health_status: healthy"
    assert event_line(Event("restart", ID_A, 1, {"restartCount": "2", "delay": "0.2"})) == \
        "container restart (restartCount=2, delay=0.2)"


class Collector:
    """The collector's push API on a SQLite log store, through the ASGI test client; `fail` answers 503."""

    def __init__(self, tmp: Path) -> None:
        self.store = SQLiteLogStore(tmp / "logs.db")
        app = FastAPI()
        app.state.logstore = self.store
        self.fail = 0

        @app.middleware("http")
        async def flaky(request: Any, call_next: Any) -> Any:
            if self.fail:
                self.fail -= 1
                from fastapi.responses import JSONResponse

                return JSONResponse({"error": "unavailable"}, status_code=503)
            return await call_next(request)

        app.include_router(logs_api.router)
        self.client = TestClient(app)

    def events(self, container: str = "") -> list[tuple[str, str, str]]:
        page = self.store.query(LogQuery(container=container, limit=1000))
        return [(r.container_name, r.stream, r.line) for r in reversed(page.records) if r.stream == "event"]

    def logql(self, query: str) -> list[str]:
        """A LogQL log query, oldest line first."""
        found = LogQLEvaluator(self.store).lines(parse(query), 0, time.time_ns() + 10**9)  # type: ignore[arg-type]
        return [r.line for _, r in reversed(found)]


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path)
    yield c
    c.client.close()


def shipper(root: Path, tmp: Path, c: Collector) -> EventShipper:
    return EventShipper(root, "http://testserver", tmp / "ckpt.json", host="h1", client=c.client)  # type: ignore[arg-type]


def test_shipper_pushes_events_as_log_entries_at_least_once(tmp_path: Path, collector: Collector) -> None:
    root = tmp_path / "root"
    emit(root, "start")
    emit(root, "die", exitCode="137")
    emit(root, "oom", ID_B, "db")
    s = shipper(root, tmp_path, collector)
    assert s.ship_once() == 3
    assert collector.events() == [("web", "event", "container start"), ("web", "event", "container die (exitCode=137)"),
                                  ("db", "event", "container oom")]
    # the collector is down: events wait in order, nothing is lost or doubled
    collector.fail = 1
    emit(root, "restart", restartCount="1")
    with pytest.raises(httpx.HTTPError):
        s.ship_once()
    assert s.ship_once() == 1
    # a restarted agent resumes from its checkpoint; re-sent entries would be dropped as duplicates
    again = shipper(root, tmp_path, collector)
    emit(root, "start")
    assert again.ship_once() == 1
    assert [line for _, _, line in collector.events()] == [
        "container start", "container die (exitCode=137)", "container oom", "container restart (restartCount=1)",
        "container start"]
    assert [line for _, _, line in collector.events(ID_B)] == ["container oom"]
    assert collector.logql('{name="web", stream="event"} |= "die"') == ["container die (exitCode=137)"]
    assert collector.logql('{name="db", stream="event"}') == ["container oom"]
    # the checkpoint lost: everything is sent again, and the store keeps one copy
    (tmp_path / "ckpt.json").unlink()
    assert shipper(root, tmp_path, collector).ship_once() == 5
    assert len(collector.events()) == 5


# --- real containers -------------------------------------------------------------------------------------

def _pydock(env: dict[str, str], *args: str, timeout: float = 120) -> str:
    res = subprocess.run([sys.executable, "-m", "pydock", *args], env=env, capture_output=True, timeout=timeout,
                         check=False)
    assert res.returncode == 0, (args, res.stderr.decode())
    return res.stdout.decode()


@pytest.mark.root
@pytest.mark.slow
def test_exit_and_oom_of_real_containers(tmp_path: Path, collector: Collector) -> None:
    root, run = tmp_path / "root", Path("/run/pydock-test") / tmp_path.name
    root.mkdir()
    run.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
    _pydock(env, "image", "bootstrap", "busybox")
    try:
        failing = _pydock(env, "run", "-d", "--name", "failing", "busybox", "sh", "-c", "exit 3").strip()
        hog = _pydock(env, "run", "-d", "--name", "hog", "-m", "32m", "--memory-swap", "32m", "busybox", "sh",
                      "-c", "tail /dev/zero").strip()
        journal = EventJournal(root)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            dies = {e.id for e in journal.read() if e.action == "die"}
            if {failing, hog} <= dies:
                break
            time.sleep(0.2)
        else:
            pytest.fail("both containers did not die within 60 s")
        sampler = Sampler(root, cache_seconds=0, foreign=False, root=False)
        client = TestClient(create_app(AgentSettings(root, cache_seconds=0, foreign=False), sampler))
        text = client.get("/metrics").text
        samples = {(s.labels["name"], s.labels["event"]): (s.value, s.labels["id"])
                   for f in text_string_to_metric_families(text) if f.name == "pydock_container_events"
                   for s in f.samples}
        assert samples[("failing", "die")] == (1, failing) and samples[("failing", "start")][0] == 1
        assert samples[("hog", "oom")] == (1, hog) and samples[("hog", "die")][0] == 1
        assert ("failing", "oom") not in samples
        s = shipper(root, tmp_path, collector)
        assert s.ship_once() >= 6  # create, start, die of one; create, start, oom, die of the other
        assert "container die (exitCode=3)" in [line for n, _, line in collector.events() if n == "failing"]
        hog_lines = [line for n, _, line in collector.events() if n == "hog"]
        assert "container oom" in hog_lines and "container die (exitCode=137)" in hog_lines
        assert collector.logql('{name="failing", stream="event"} |= "die"') == ["container die (exitCode=3)"]
    finally:
        for name in ("failing", "hog"):
            subprocess.run([sys.executable, "-m", "pydock", "rm", "-f", name], env=env, capture_output=True,
                           timeout=60, check=False)


def test_push_body_is_the_collectors_format(tmp_path: Path) -> None:
    root = tmp_path / "root"
    emit(root, "die", exitCode="2")
    seen: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(gzip.decompress(request.content))
        assert request.headers["authorization"] == "Bearer tok"
        return httpx.Response(204)

    s = EventShipper(root, "http://c:9339/", tmp_path / "c.json", token="tok", host="h",
                     client=httpx.Client(transport=httpx.MockTransport(handler)))
    assert s.ship_once() == 1
    [rec] = [json.loads(line) for line in seen[0].splitlines()]
    assert rec.keys() == {"host", "container_id", "container_name", "stream", "time_ns", "line", "file_id", "offset"}
    assert (rec["stream"], rec["line"], rec["file_id"], rec["offset"]) == ("event", "container die (exitCode=2)",
                                                                            "events", rec["time_ns"])
