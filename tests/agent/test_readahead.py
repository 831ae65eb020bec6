"""Reading ahead of the next scrape and the kept gzip of a reading's text (issue 16, 1,000 containers).

The fast paths must serve exactly what the slow ones do: the gzip body decompresses to the bytes of the
streamed text, and a scrape served by a read-ahead gets a reading no older than `cache_seconds`.
"""

from __future__ import annotations

import gzip
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydock.agent import readahead as readahead_mod
from pydock.agent.exporter import collect_series
from pydock.agent.exposition import render_text
from pydock.agent.readahead import ReadAhead
from pydock.agent.sampler import Sampler
from pydock.agent.server import AgentSettings, create_app
from pydock.agent.textcache import GzippedText, accepts_gzip

from .conftest import V1, V2, Records, fixture_host, v1_paths, v2_paths

ID_A, ID_B = "a" * 64, "b" * 64


def _sampler(records: Records, cache: float, cgroup_root: Path = V2) -> Sampler:
    return Sampler(records.root, fixture_host(cgroup_root), cache_seconds=cache, foreign=False, root=False)


@pytest.mark.parametrize("root, paths", [(V2, v2_paths), (V1, v1_paths)])
def test_gzip_body_is_the_streamed_text(records: Records, root: Path, paths) -> None:  # type: ignore[no-untyped-def]
    records.add(ID_A, "web", cgroup_paths=paths(), pid=443, labels={"app": "web"})
    records.add(ID_B, "db", status="exited")
    sampler = _sampler(records, 60.0, root)
    client = TestClient(create_app(AgentSettings(records.root, fixture_host(root), 60.0), sampler))
    plain = client.get("/metrics", headers={"Accept-Encoding": "identity"})
    zipped = client.get("/metrics", headers={"Accept-Encoding": "gzip"})
    assert plain.headers.get("content-encoding") is None
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["content-type"] == plain.headers["content-type"]
    assert zipped.content == plain.content  # the client decompressed it
    events = client.app.state.events.series()  # type: ignore[attr-defined]
    assert plain.content == render_text(collect_series(sampler.snapshot()) + events)
    assert sampler.reads == 1


def test_gzipped_text_appends_the_scrape_time_tail(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    sampler = _sampler(records, 0.0)
    first, second = sampler.snapshot(), sampler.snapshot()
    kept = GzippedText()
    assert kept.prepare(first) and not kept.prepare(first)  # compressed once per reading
    tail = b"# HELP x y\n# TYPE x gauge\nx 1\n"
    for _ in range(2):  # the kept compressor is copied, never used up
        assert gzip.decompress(kept.body(first, tail)) == render_text(collect_series(first)) + tail
    assert gzip.decompress(kept.body(second, b"")) == render_text(collect_series(second))


@pytest.mark.parametrize("header, expected", [
    (None, False), ("", False), ("identity", False), ("gzip", True), ("deflate, gzip;q=0.5", True),
    ("GZIP", True), ("gzip;q=0", False), ("gzip; q=0.0", False), ("*", True), ("br, zstd", False),
])
def test_accepts_gzip(header: str | None, expected: bool) -> None:
    assert accepts_gzip(header) is expected


def test_a_reading_is_never_older_than_cache_seconds(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    sampler = _sampler(records, 0.3)
    first = sampler.snapshot()
    assert sampler.snapshot() is first
    time.sleep(0.35)
    assert sampler.snapshot() is not first and sampler.reads == 2


class FakeSampler:
    def __init__(self, cache_seconds: float, read_seconds: float, age: float | None) -> None:
        self.cache_seconds, self.read_seconds, self._age = cache_seconds, read_seconds, age

    def age(self) -> float | None:
        return self._age


def test_plan_reads_ahead_only_when_fresh_at_the_expected_scrape() -> None:
    def plan(cache: float, read: float, age: float | None, scrapes: list[float]) -> float | None:
        ahead = ReadAhead(FakeSampler(cache, read, age), clock=lambda: 0.0)  # type: ignore[arg-type]
        try:
            for at in scrapes[:-1]:
                ahead.scraped(at)
            return ahead.plan(scrapes[-1])
        finally:
            ahead.close()

    margin = readahead_mod.LEAD_MARGIN_SECONDS
    assert plan(1.0, 0.2, 0.2, [100.0]) is None  # one scrape: no cadence yet
    assert plan(1.0, 0.2, 0.2, [100.0, 115.0]) == pytest.approx(130.0 - 1.5 * 0.2 - margin)
    # a slow read starts as early as freshness allows, not earlier
    assert plan(1.0, 2.0, 2.0, [100.0, 115.0]) == pytest.approx(130.0 - (1.0 - readahead_mod.LATE_SECONDS))
    assert plan(0.0, 0.2, 0.2, [100.0, 115.0]) is None  # --cache-seconds 0: every scrape reads
    assert plan(1.0, 0.01, 0.05, [100.0, 100.3]) is None  # scrapes closer than the cache: it serves them


def test_each_scraper_has_its_own_cadence() -> None:
    """An HA pair of Prometheus servers, 15 s apart each, 7 s apart from each other: two plans, not one
    read-ahead at the wrong time for both."""
    ahead = ReadAhead(FakeSampler(1.0, 0.2, 0.2), clock=lambda: 0.0)  # type: ignore[arg-type]
    lead = 1.5 * 0.2 + readahead_mod.LEAD_MARGIN_SECONDS
    try:
        for at, scraper in ((100.0, "10.0.0.1"), (107.0, "10.0.0.2"), (115.0, "10.0.0.1")):
            ahead.scraped(at, scraper)
        assert ahead.plan(122.0, "10.0.0.2") == pytest.approx(137.0 - lead)
        assert ahead._due == {"10.0.0.1": pytest.approx(130.0 - lead)}
        ahead.scraped(122.0 + readahead_mod.FORGET_SECONDS + 1, "10.0.0.2")  # the other went silent
        assert set(ahead._last_scrape) == set(ahead._due) == {"10.0.0.2"}
    finally:
        ahead.close()


def _scrape(sampler: Sampler, ahead: ReadAhead) -> None:
    """What /metrics does."""
    arrived = time.monotonic()
    ahead.scraped(arrived, "", sampler.snapshot())


def _wait_for_read_ahead(ahead: ReadAhead, reads: int) -> None:
    deadline = time.monotonic() + 5.0
    while ahead.reads < reads and time.monotonic() < deadline:
        time.sleep(0.01)


def _two_scrapes(sampler: Sampler, ahead: ReadAhead) -> None:
    start = time.monotonic()
    for k in range(2):  # two scrapes 0.8 s apart: each reads (the cache is 0.5 s)
        while time.monotonic() < start + 0.8 * k:
            time.sleep(0.01)
        _scrape(sampler, ahead)
    assert ahead.reads == 0 and sampler.reads == 2


def test_a_scrape_at_the_expected_time_is_served_by_the_read_ahead(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    sampler = _sampler(records, 0.5)
    compressed: list[object] = []
    ahead = ReadAhead(sampler, after_read=compressed.append)
    try:
        _two_scrapes(sampler, ahead)
        _wait_for_read_ahead(ahead, 1)  # due just before the third scrape
        called = time.monotonic()
        snap = sampler.snapshot()
        age = sampler.age()
        assert ahead.reads == 1 and sampler.reads == 3  # read ahead, not by this scrape
        assert compressed == [snap]
        assert age is not None and age - (time.monotonic() - called) < sampler.cache_seconds
        ahead.scraped(called, "", snap)
        assert ahead.misses == 0 and ahead._due  # the fourth is planned
    finally:
        ahead.close()


def test_a_late_scrape_reads_on_demand_and_the_next_is_not_read_ahead(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    sampler = _sampler(records, 0.5)
    ahead = ReadAhead(sampler)
    try:
        _two_scrapes(sampler, ahead)
        _wait_for_read_ahead(ahead, 1)
        time.sleep(0.6)  # the read-ahead's reading is now older than the cache: the scrape reads again
        _scrape(sampler, ahead)
        assert sampler.reads == 4 and ahead.misses == 1
        assert ahead._due == {}  # a scraper off its cadence: the next scrape reads on demand
    finally:
        ahead.close()


def test_the_server_stopping_stops_the_read_ahead(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    app = create_app(AgentSettings(records.root, fixture_host(V2), 0.2), _sampler(records, 0.2))
    ahead: ReadAhead = app.state.readahead
    with TestClient(app) as client:
        for _ in range(3):  # a cadence: the read-ahead plans the next read and its thread waits for it
            assert client.get("/metrics").status_code == 200
            time.sleep(0.3)
        thread = ahead._thread
        assert thread is not None and thread.is_alive()
    assert ahead._closed and not thread.is_alive()
