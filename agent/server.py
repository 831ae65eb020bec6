"""The agent's HTTP server: /metrics, /healthz, and the container stats API (docs/internals.md §4).

`create_app(settings)` builds a FastAPI app around one `Sampler`, so every route reads through the
same cache: concurrent scrapes within `cache_seconds` share one read. /metrics also tells a `ReadAhead`
of each scrape, which reads just before the next one is due (agent/readahead.py), so a scrape at
Prometheus's fixed interval costs the text only. A bearer token, when set, protects every route except
/healthz.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response, StreamingResponse

from .dockerstats import cpu_percent, docker_stats, memory_usage_limit
from .events import EventCounters
from .exporter import collect_series
from .exposition import TEXT_CONTENT_TYPE, render, render_text_chunks, wants_openmetrics
from .host import HostPaths, system_cpu_usage_ns
from .readahead import ReadAhead
from .sampler import Entry, Sampler, Snapshot
from .textcache import GzippedText, accepts_gzip


@dataclass(frozen=True)
class AgentSettings:
    state_root: Path
    host: HostPaths = field(default_factory=HostPaths)
    cache_seconds: float = 1.0
    token: str | None = None
    foreign: bool = True  # also report other runtimes' containers found in the cgroup tree


def create_app(settings: AgentSettings, sampler: Sampler | None = None) -> FastAPI:
    sampler = sampler or Sampler(settings.state_root, settings.host, cache_seconds=settings.cache_seconds,
                                 foreign=settings.foreign)
    gzipped = GzippedText()

    def compress_ahead(snap: Snapshot) -> None:
        if gzipped.prepare(snap):
            _release_freed_memory()

    readahead = ReadAhead(sampler, after_read=compress_ahead)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            readahead.close()  # no read begins after the server stops; one under way is waited for

    app = FastAPI(title="pydock agent", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings
    app.state.sampler = sampler
    app.state.readahead = readahead
    app.state.events = EventCounters(settings.state_root)  # pydock_container_events_total, from the journal

    def authorized(request: Request) -> None:
        if settings.token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), settings.token.encode()):
            raise HTTPException(401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", dependencies=[Depends(authorized)])
    def metrics(request: Request) -> Response:
        arrived = readahead.clock()
        snap = sampler.snapshot()
        readahead.scraped(arrived, request.client.host if request.client is not None else "", snap)
        events = request.app.state.events.series()
        accept = request.headers.get("accept")
        if wants_openmetrics(accept):
            body, content_type = render(collect_series(snap) + events, accept)
            return Response(body, media_type=content_type)
        shipper = getattr(request.app.state, "shipper", None)  # the log shipper's health (issue 15)

        def tail() -> Iterator[bytes]:  # what is current at the scrape, after the reading's series
            yield from render_text_chunks(events)
            if shipper is not None:
                from pydock.agent.shipper import metrics_text

                yield metrics_text(shipper).encode()

        if accepts_gzip(request.headers.get("accept-encoding")):  # the kept gzip of this reading's text
            body = gzipped.body(snap, b"".join(tail()))
            _release_freed_memory()  # after a scrape that compressed the text itself
            return Response(body, media_type=TEXT_CONTENT_TYPE, headers={"Content-Encoding": "gzip"})

        def text() -> Iterator[bytes]:  # streamed: the whole text is never in memory at once
            yield from render_text_chunks(collect_series(snap))
            yield from tail()
            _release_freed_memory()

        return StreamingResponse(text(), media_type=TEXT_CONTENT_TYPE)

    @app.get("/api/v1/containers", dependencies=[Depends(authorized)])
    def containers() -> dict[str, Any]:
        snap = sampler.snapshot()
        return {"timestamp": snap.timestamp, "errors": list(snap.errors),
                "containers": [_summary(e, snap, sampler.previous) for e in snap.entries]}

    @app.get("/api/v1/containers/{ref}/stats", dependencies=[Depends(authorized)])
    def stats(ref: str, stream: bool = Query(True), one_shot: bool = Query(False, alias="one-shot")) -> Response:
        snap = sampler.snapshot()
        entry = snap.find(ref)
        if entry is None:
            raise HTTPException(404, f"No such container: {ref}")
        if not stream:
            proc = sampler.host.proc
            if one_shot:
                body = docker_stats(entry, snap.system_cpu_ns, snap.machine, None, 0)
            else:  # Docker waits for a second sample so that CPU % means something
                pre, pre_system = sampler.read_target(entry.target), system_cpu_usage_ns(proc)
                time.sleep(1.0)
                cur, system = sampler.read_target(entry.target), system_cpu_usage_ns(proc)
                body = docker_stats(cur, system, snap.machine, pre, pre_system)
            return Response(json.dumps(body), media_type="application/json")
        return StreamingResponse(_stream(sampler, entry, snap), media_type="application/json")

    return app


_LIBC: Any = None


def _release_freed_memory() -> None:
    """After a scrape: hand the heap pages its text and columns used back to the kernel.

    A scrape of 1,000 containers makes some 20 MB of short-lived strings and lists; glibc keeps freed
    heap memory (and raises its mmap threshold after big frees), so without this the agent's RSS stays
    at the scrape's peak between scrapes. malloc_trim costs about a millisecond here."""
    global _LIBC
    if _LIBC is None:
        try:
            _LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _LIBC.malloc_trim  # noqa: B018 (glibc only; musl has none)
        except (OSError, AttributeError):
            _LIBC = False
    if _LIBC:
        _LIBC.malloc_trim(0)


def _stream(sampler: Sampler, entry: Entry, snap: Snapshot) -> Iterator[bytes]:
    """One JSON object a second, each carrying the previous one's CPU figures as precpu_stats."""
    pre: Entry | None = None
    pre_system = 0
    while True:
        cur = sampler.read_target(entry.target)
        system = system_cpu_usage_ns(sampler.host.proc)
        if cur.stats is None and cur.error is None:
            return  # the container stopped
        yield (json.dumps(docker_stats(cur, system, snap.machine, pre, pre_system)) + "\n").encode()
        pre, pre_system = cur, system
        time.sleep(1.0)


def _summary(e: Entry, snap: Snapshot, prev: Snapshot | None) -> dict[str, Any]:
    t = e.target
    s = e.stats
    pre = prev.find(t.id or t.container_id) if prev is not None and (t.id or t.container_id) else None
    out: dict[str, Any] = {
        "id": t.container_id, "cgroup": t.id, "name": t.name, "image": t.image, "runtime": t.runtime,
        "state": t.state or ("running" if s is not None else None), "labels": t.labels, "error": e.error,
    }
    if s is None:
        return out
    elapsed = s.timestamp - pre.stats.timestamp if pre is not None and pre.stats is not None else 0.0
    ps = pre.stats if pre is not None and elapsed > 0 else None

    def rate(now: int, before: int | None) -> float | None:
        return (now - before) / elapsed if before is not None and elapsed > 0 else None

    usage, limit = memory_usage_limit(s, snap.machine)
    out["cpu"] = {
        "usage_seconds": s.cpu.usage_ns / 1e9 if s.cpu else None,
        "percent": cpu_percent(s, snap.system_cpu_ns, ps, prev.system_cpu_ns if prev else 0, snap.machine.cpu_cores),
        "throttled_periods": s.cpu.throttled_periods if s.cpu else None,
    }
    out["memory"] = {"usage": s.memory.usage if s.memory else None, "working_set": usage,
                     "limit": s.memory.limit if s.memory else None,
                     "percent": usage / limit * 100.0 if limit else None}
    rx, tx = sum(i.rx_bytes for i in s.network), sum(i.tx_bytes for i in s.network)
    rd, wr = sum(d.read_bytes for d in s.blkio), sum(d.write_bytes for d in s.blkio)
    prx = sum(i.rx_bytes for i in ps.network) if ps else None
    ptx = sum(i.tx_bytes for i in ps.network) if ps else None
    prd = sum(d.read_bytes for d in ps.blkio) if ps else None
    pwr = sum(d.write_bytes for d in ps.blkio) if ps else None
    out["network"] = {"rx_bytes": rx, "tx_bytes": tx, "rx_bytes_per_second": rate(rx, prx),
                      "tx_bytes_per_second": rate(tx, ptx)}
    out["blkio"] = {"read_bytes": rd, "write_bytes": wr, "read_bytes_per_second": rate(rd, prd),
                    "write_bytes_per_second": rate(wr, pwr)}
    out["pids"] = s.pids.current if s.pids else None
    return out
