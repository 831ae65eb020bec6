"""The fixed-rate tick that drives the collector's loops (one per scrape target, one per rule group)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator


async def ticks(interval: float, stop: asyncio.Event, first_at: float | None = None) -> AsyncIterator[None]:
    """Yields once per `interval` seconds from `first_at` (monotonic; default now) until `stop` is set.
    A loop that falls behind skips the missed slots rather than bursting to catch up, as Prometheus's
    scrape and rule loops do."""
    next_at = time.monotonic() if first_at is None else first_at
    while not stop.is_set():
        delay = next_at - time.monotonic()
        if delay > 0:
            try:
                await asyncio.wait_for(stop.wait(), delay)
                return
            except TimeoutError:
                pass
        yield
        next_at += interval
        if next_at < time.monotonic():
            next_at = time.monotonic() + interval
