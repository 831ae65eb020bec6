"""Delivers the outbox: send each persisted notification, retry with backoff, delete once delivered.

Each destination (one webhook or Alertmanager of one receiver) is a FIFO queue: its oldest pending
notification goes first and later ones wait, so a receiver that comes back gets its notifications in
order (a resolved one never overtakes the firing one). The destination's integration (`integration`:
webhook, email, Slack, Discord, ntfy) sends it and says how it went; as in Alertmanager's
notify.Retrier, for HTTP 2xx is success, 5xx and network errors are retried (exponential backoff from
`retry.initial` up to `retry.max`), any other status fails for good. A notification still undelivered after
`retry.max_age` is given up on and kept as failed; a batch for a real Alertmanager is dropped
sooner, once newer sends have superseded it (`alertmanager_ttl`). Attempts count in the database, so backoff and
queue survive a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import httpx
from pydock.collector.config import RetryConfig
from pydock.collector.notify.integration import USER_AGENT, Integration, Outcome, scrub
from pydock.collector.notify.store import NotifyStore, OutboxItem

log = logging.getLogger(__name__)
__all__ = ["USER_AGENT", "Delivery", "scrub"]


class Delivery:
    def __init__(self, store: NotifyStore, endpoint: Callable[[OutboxItem], Integration], retry: RetryConfig) -> None:
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
        outcome: Outcome = await self.endpoint(item).send(client, item.body)
        if outcome.ok:
            await asyncio.to_thread(self.store.delivered, item.id)
            self.sent += 1
            return 1
        if outcome.retry:
            return await self._later(item, outcome.error)
        self.failures += 1
        await asyncio.to_thread(self.store.failed, item.id, outcome.error)
        log.error("notification %d to %s failed for good: %s", item.id, item.dest, outcome.error)
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
