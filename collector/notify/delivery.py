"""Delivers the outbox: POST each persisted notification, retry with backoff, delete on 2xx.

Each destination (one webhook or Alertmanager of one receiver) is a FIFO queue: its oldest pending
notification goes first and later ones wait, so a receiver that comes back gets its notifications in
order (a resolved one never overtakes the firing one). As in Alertmanager's notify.Retrier, 2xx is
success, 5xx and network errors are retried (exponential backoff from `retry.initial` up to
`retry.max`), any other status fails for good. A notification still undelivered after
`retry.max_age` is given up on and kept as failed; a batch for a real Alertmanager is dropped
sooner, once newer sends have superseded it (`alertmanager_ttl`). Attempts count in the database, so backoff and
queue survive a restart.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from pydock.collector.config import HTTPConfig, RetryConfig
from pydock.collector.notify.store import NotifyStore, OutboxItem

log = logging.getLogger(__name__)
USER_AGENT = "pydock-collector/0.1"


def scrub(text: str, url: str) -> str:
    """`text` without `url` or its parts: a webhook URL's userinfo, path and query may all be secrets
    (Alertmanager treats webhook URLs as secrets), so logs and stored errors name the destination
    (`receiver/kind/index`) instead."""
    try:
        parts = httpx.URL(url)
    except httpx.InvalidURL:
        return text.replace(url, "<secret>")
    for secret in sorted({url, str(parts), parts.userinfo.decode(errors="replace"), parts.path,
                          parts.query.decode(errors="replace"), parts.password or ""}, key=len, reverse=True):
        if len(secret) > 1:
            text = text.replace(secret, "<secret>")
    return text


@dataclass(frozen=True)
class Endpoint:
    url: str
    timeout: float
    http: HTTPConfig


class Delivery:
    def __init__(self, store: NotifyStore, endpoint: Callable[[OutboxItem], Endpoint], retry: RetryConfig) -> None:
        self.store = store
        self.endpoint = endpoint
        self.retry = retry
        self.wake = asyncio.Event()
        self.sent = 0
        self.failures = 0
        # Batches for a real Alertmanager older than this are obsolete: each alert in them was re-sent
        # since (every resend delay) or has passed its endsAt (4 x resend delay), which Alertmanager
        # honours by itself. Delivering them late would only replay stale state. Set by the Notifier.
        self.alertmanager_ttl = 240.0

    async def run_once(self, client: httpx.AsyncClient, now: float | None = None) -> int:
        """Try the due head of every destination once; returns how many were delivered."""
        now = time.time() if now is None else now
        due = [item for item in await asyncio.to_thread(self.store.heads) if item.next_at <= now]
        results = await asyncio.gather(*(self._attempt(client, item, now) for item in due))
        return sum(results)

    async def _attempt(self, client: httpx.AsyncClient, item: OutboxItem, now: float) -> int:
        if item.kind == "alertmanager" and now - item.created > self.alertmanager_ttl:
            await asyncio.to_thread(self.store.delivered, item.id)
            log.info("alert batch %d to %s superseded by newer sends; dropped", item.id, item.dest)
            return 0
        if now - item.created > self.retry.max_age:
            await asyncio.to_thread(self.store.failed, item.id,
                                    f"gave up after {item.attempts} attempts: {item.last_error}")
            log.error("notification %d to %s dropped after %d attempts", item.id, item.dest, item.attempts)
            return 0
        ep = self.endpoint(item)
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **ep.http.headers()}
        if ep.http.basic_auth:
            user, password = ep.http.basic_auth
            headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        try:
            resp = await client.post(ep.url, content=item.body.encode(), headers=headers, timeout=ep.timeout)
        except httpx.HTTPError as exc:
            return await self._later(item, scrub(f"{type(exc).__name__}: {exc}", ep.url))
        if 200 <= resp.status_code < 300:
            await asyncio.to_thread(self.store.delivered, item.id)
            self.sent += 1
            return 1
        error = scrub(f"unexpected status code {resp.status_code}: {resp.text[:200]}", ep.url)
        if resp.status_code >= 500:
            return await self._later(item, error)
        self.failures += 1
        await asyncio.to_thread(self.store.failed, item.id, error)
        log.error("notification %d to %s failed for good: %s", item.id, item.dest, error)
        return 0

    async def _later(self, item: OutboxItem, error: str) -> int:
        delay = min(self.retry.initial * (2 ** min(item.attempts, 30)), self.retry.max)
        self.failures += 1
        await asyncio.to_thread(self.store.retry_later, item.id, time.time() + delay, error)
        log.warning("notification %d to %s failed (%s); retrying in %.1fs", item.id, item.dest, error, delay)
        return 0

    async def run(self, stop: asyncio.Event, poll: float = 0.25) -> None:
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                try:
                    await self.run_once(client)
                except Exception:
                    log.exception("notification delivery failed")
                self.wake.clear()
                try:
                    await asyncio.wait_for(self.wake.wait(), poll)
                except TimeoutError:
                    pass
