"""Read every container ahead of the next scrape, so that a scrape serves a reading instead of waiting for it.

cAdvisor reads containers in the background (per-container housekeeping every `--housekeeping_interval`,
1 s, backing off to `--max_housekeeping_interval` for quiet containers), serves /metrics from the latest
reading, and reads on demand when a caller asks for figures younger than a max age
(`containerData.OnDemandHousekeeping`). Reading all containers every second would cost this agent a whole
read (~0.35 s of CPU at 1,000 containers) every second whatever the scrape interval. `ReadAhead` instead
times one read to finish just before the scrape it expects: Prometheus scrapes at a fixed interval, so the
next scrape is due one interval (the last gap between two scrapes) after the last. A scrape then costs
the text only, and the agent still reads once per scrape.

Freshness is the Sampler's: a scrape serves a reading only if that reading *began* less than
`cache_seconds` (`--cache-seconds`) before the scrape arrived; otherwise it reads on demand, as without
read-ahead. So the read-ahead starts `lead` seconds early (1.5× the last read-ahead's duration plus
`LEAD_MARGIN_SECONDS`), but never more than `cache_seconds - LATE_SECONDS` early; a scrape that comes
while it still runs waits for the rest. Each scraper (by address) has its own cadence. A scrape that
comes early reads on demand and its planned read-ahead is replaced; one that comes too late for the
read-ahead (a wasted read) reads on demand and that scraper's next scrape is not read ahead, so a
scraper off its cadence costs at most one wasted read every other scrape. Measured by
bench/agent_scrape.py (see docs/performance.md, "The agent at 1,000 containers").
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from .sampler import Sampler, Snapshot

LEAD_MARGIN_SECONDS = 0.05  # thread wake-up and GIL hand-over before the read begins
LEAD_FACTOR = 1.5  # a read may take longer than the last one (load, new containers)
LATE_SECONDS = 0.15  # a scrape this much later than expected still finds the read-ahead fresh
FORGET_SECONDS = 600.0  # a scraper silent this long is forgotten (its cadence, its planned read)


class ReadAhead:
    """Reads through `sampler` just before each scraper's next expected scrape (`scraped()` is told of
    each one). Scrapers are told apart by their address, so two Prometheus servers (an HA pair) scraping
    at their own phases each get their read-ahead instead of spoiling one cadence."""

    def __init__(self, sampler: Sampler, clock: Callable[[], float] = time.monotonic,
                 after_read: Callable[[Snapshot], None] | None = None) -> None:
        self.sampler = sampler
        self.clock = clock
        self.after_read = after_read  # e.g. compress the reading's text (agent/textcache.py) ahead too
        self.reads = 0  # read-aheads made (each one reads, or finds a read young enough)
        self.cycle_seconds = 0.0  # how long the last read-ahead took, after_read included
        self._cond = threading.Condition()
        self._last_scrape: dict[str, float] = {}  # scraper -> when its last scrape arrived (clock time)
        self._due: dict[str, float] = {}  # scraper -> when the read-ahead for its next scrape starts
        # scraper -> the reading read ahead for it (None while that read runs), until its scrape comes
        self._ahead: dict[str, weakref.ref[Snapshot] | None] = {}
        self.misses = 0  # read-aheads whose scrape came too late for them (and read on demand)
        self._thread: threading.Thread | None = None
        self._closed = False

    def plan(self, at: float, scraper: str = "") -> float | None:
        """When to start reading for `scraper`'s scrape expected after its one at `at`, or None when no
        read-ahead can be fresh then, or none is needed (the latest reading still is)."""
        prev = self._last_scrape.get(scraper)
        if prev is None:
            return None
        expected = at + (at - prev)
        # As early as the read (and what follows it) needs, but late enough to be fresh at the scrape: a
        # scrape that comes while the read-ahead still runs waits only for the rest of it.
        lead = min(LEAD_FACTOR * (self.cycle_seconds or self.sampler.read_seconds) + LEAD_MARGIN_SECONDS,
                   self.sampler.cache_seconds - LATE_SECONDS)
        if lead <= 0:
            return None  # a cache too short for any read-ahead to be fresh when the scrape comes
        age = self.sampler.age()
        if age is not None and age + (expected - at) < self.sampler.cache_seconds:
            return None  # the latest reading serves the expected scrape too (scrapes closer than the cache)
        return expected - lead

    def scraped(self, at: float, scraper: str = "", served: Snapshot | None = None) -> None:
        """A scrape from `scraper` (its address) that arrived at `at` (clock time) was served `served`:
        plan the read for its next one. When the reading read ahead for this scrape was not the one
        served (the scrape came too late for it), the next scrape reads on demand, so a scraper off its
        cadence costs at most one wasted read every other scrape."""
        with self._cond:
            ahead = self._ahead.pop(scraper, None)  # None: nothing read ahead, or its read still runs
            missed = ahead is not None and served is not None and ahead() is not served
            self.misses += missed
            due = None if missed else self.plan(at, scraper)
            self._last_scrape[scraper] = at
            for gone in [k for k, t in self._last_scrape.items() if at - t > FORGET_SECONDS]:
                del self._last_scrape[gone]
                self._due.pop(gone, None)
                self._ahead.pop(gone, None)
            if due is None:
                self._due.pop(scraper, None)
                return
            self._due[scraper] = due
            if self._closed:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="pydock-agent-readahead", daemon=True)
                self._thread.start()
            self._cond.notify()

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._due or self.clock() < min(self._due.values())):
                    self._cond.wait(max(0.0, min(self._due.values()) - self.clock()) if self._due else None)
                if self._closed:
                    return
                now = self.clock()
                # a read that began since the first due time (an early scrape's) serves those scrapes too
                max_age = now - min(self._due.values()) + LEAD_MARGIN_SECONDS
                served = [k for k, t in self._due.items() if t <= now]
                for k in served:
                    del self._due[k]
                    self._ahead[k] = None
            began = self.clock()
            snap = self.sampler.snapshot(max_age=max_age)
            with self._cond:
                for k in served:
                    if k in self._ahead:  # its scrape did not come yet
                        self._ahead[k] = weakref.ref(snap)
            if self.after_read is not None:
                self.after_read(snap)
            self.reads += 1
            self.cycle_seconds = self.clock() - began
