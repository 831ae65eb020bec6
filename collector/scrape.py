"""Scraping: targets from static and file discovery, one loop per target, samples into the TSDB.

Follows Prometheus's scrape package where it shows on the outside:
- target labels: the group's labels, then `job`, `__address__`, `__scheme__`, `__metrics_path__`,
  `__scrape_interval__`, `__scrape_timeout__` where unset; `instance` defaults to `__address__`;
  `__`-prefixed labels are dropped after that.
- sample labels (mutateSampleLabels): with honor_labels the scraped value wins; without it the target
  label wins and the scraped one is kept as `exported_<name>` (prefixed again while that is taken).
- after every scrape `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
  `scrape_samples_post_metric_relabeling` and `scrape_series_added`, with the target labels only.
- staleness: a series of the previous scrape that is missing from this one (or every series, when
  the scrape failed, or when the target goes away) gets the stale NaN at this scrape's time; samples
  with explicit timestamps are exempt, as in Prometheus.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import yaml
from pydock.collector.config import CollectorConfig, ScrapeConfig
from pydock.collector.exposition import ParseError, parse_exposition_keyed
from pydock.collector.notify.model import go_time
from pydock.collector.ticker import ticks
from pydock.collector.tsdb import STALE_NAN
from pydock.collector.yamlconf import format_duration

log = logging.getLogger(__name__)

ACCEPT = ("application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
          "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")
USER_AGENT = "pydock-collector/0.1"
Appender = Callable[[list[tuple[dict[str, str], int, float]]], Any]
LabelKey = tuple[tuple[str, str], ...]


def target_labels(job: ScrapeConfig, address: str, group_labels: Mapping[str, str]) -> tuple[dict[str, str],
                                                                                                 dict[str, str]]:
    """(discovered labels, final target labels) for one address, as Prometheus's populateLabels."""
    lset = {"__address__": address, **group_labels}
    defaults = {"job": job.job_name, "__address__": address, "__scheme__": job.scheme,
                "__metrics_path__": job.metrics_path,
                "__scrape_interval__": format_duration(job.scrape_interval),
                "__scrape_timeout__": format_duration(job.scrape_timeout)}
    for k, v in defaults.items():
        if not lset.get(k):
            lset[k] = v
    discovered = dict(lset)
    if not lset.get("instance"):
        lset["instance"] = lset["__address__"]
    final = {k: v for k, v in lset.items() if not k.startswith("__") and v != ""}
    return discovered, final


def mutate_labels(scraped: Mapping[str, str], target: Mapping[str, str], honor: bool) -> dict[str, str]:
    out = dict(scraped)
    if honor:
        for k, v in target.items():
            if not out.get(k):
                out[k] = v
    else:
        conflicts = {k: out[k] for k in target if out.get(k)}
        for k, v in target.items():
            out[k] = v
        for k, v in conflicts.items():
            name = "exported_" + k
            while name in scraped or name in target:
                name = "exported_" + name
            out[name] = v
    return {k: v for k, v in out.items() if v != ""}


@dataclass
class Target:
    job: ScrapeConfig
    address: str
    discovered: dict[str, str]
    labels: dict[str, str]
    health: str = "unknown"
    last_error: str = ""
    last_scrape: float = 0.0
    last_duration: float = 0.0
    samples: int = 0

    @property
    def url(self) -> str:
        d = self.discovered
        # Go's url.Values.Encode: keys sorted, each name and value query-escaped
        query = urlencode([(k, v) for k in sorted(self.job.params) for v in self.job.params[k]])
        return f"{d['__scheme__']}://{d['__address__']}{d['__metrics_path__']}" + (f"?{query}" if query else "")

    @property
    def key(self) -> tuple[str, str, LabelKey]:
        return (self.job.job_name, self.url, tuple(sorted(self.labels.items())))

    def to_api(self) -> dict[str, Any]:
        return {"discoveredLabels": dict(self.discovered), "labels": dict(self.labels),
                "scrapePool": self.job.job_name, "scrapeUrl": self.url, "globalUrl": self.url,
                "lastError": self.last_error,
                "lastScrape": go_time(self.last_scrape) if self.last_scrape else "0001-01-01T00:00:00Z",
                "lastScrapeDuration": self.last_duration, "health": self.health,
                "scrapeInterval": format_duration(self.job.scrape_interval),
                "scrapeTimeout": format_duration(self.job.scrape_timeout)}


@dataclass
class ScrapeLoop:
    target: Target
    append: Appender
    previous: set[LabelKey] = field(default_factory=set)
    # series text -> (labels after the target's, their key); the labels dicts are shared by the
    # samples of every scrape, and appenders only read them.
    _series: dict[str, tuple[dict[str, str], LabelKey]] = field(default_factory=dict, repr=False)
    _series_owner: tuple[bool, tuple[tuple[str, str], ...]] | None = field(default=None, repr=False)

    async def scrape_once(self, client: httpx.AsyncClient, now: float | None = None) -> None:
        t = self.target
        start = time.time() if now is None else now
        ts = int(start * 1000)
        samples: list[tuple[dict[str, str], int, float]] = []
        current: set[LabelKey] = set()
        error = ""
        scraped = 0
        try:
            resp = await client.get(t.url, timeout=t.job.scrape_timeout, headers={
                "Accept": ACCEPT, "User-Agent": USER_AGENT,
                "X-Prometheus-Scrape-Timeout-Seconds": f"{t.job.scrape_timeout:g}"})
            if resp.status_code != 200:
                raise httpx.HTTPStatusError(f"server returned HTTP status {resp.status_code} {resp.reason_phrase}",
                                            request=resp.request, response=resp)
            openmetrics = resp.headers.get("content-type", "").startswith("application/openmetrics-text")
            # ~0.1 ms a series: a big exposition would stall the event loop for seconds
            samples, current, scraped = await asyncio.to_thread(self._samples, resp.text, openmetrics, ts)
        except (httpx.HTTPError, ParseError, UnicodeDecodeError) as exc:
            error = str(exc) or type(exc).__name__
            if isinstance(exc, httpx.TimeoutException):
                error = "context deadline exceeded"
            samples, current, scraped = [], set(), 0
        duration = time.time() - start if now is None else 0.0
        stale = self.previous - current
        samples.extend((dict(k), ts, STALE_NAN) for k in sorted(stale))
        report = {"up": 0.0 if error else 1.0, "scrape_duration_seconds": duration,
                  "scrape_samples_scraped": float(scraped),
                  "scrape_samples_post_metric_relabeling": float(scraped),
                  "scrape_series_added": float(len(current - self.previous))}
        for name, value in report.items():
            samples.append(({"__name__": name, **t.labels}, ts, value))
        self.previous = current
        await asyncio.to_thread(self.append, samples)
        t.health, t.last_error = ("down", error) if error else ("up", "")
        t.last_scrape, t.last_duration, t.samples = start, duration, scraped

    def _samples(self, text: str, openmetrics: bool, ts: int) -> tuple[list[tuple[dict[str, str], int, float]],
                                                                       set[LabelKey], int]:
        """Parse one scrape: its samples with the target's labels, the series it has (those with
        explicit timestamps are exempt from staleness) and how many samples it had."""
        t = self.target
        samples: list[tuple[dict[str, str], int, float]] = []
        current: set[LabelKey] = set()
        seen: set[LabelKey] = set()
        scraped = 0
        # A target exposes the same series scrape after scrape: remember what each line's series
        # text became (labels after the target's, and their key), so that the next scrape splits
        # the line and skips label parsing, relabelling and sorting.
        owner = (t.job.honor_labels, tuple(t.labels.items()))
        if owner != self._series_owner:
            self._series, self._series_owner = {}, owner
        cache = self._series
        for series, labels, value, sample_ts in parse_exposition_keyed(text, openmetrics, cache):
            scraped += 1
            if labels is None:
                final, key = cache[series]
            else:
                final = mutate_labels(labels, t.labels, t.job.honor_labels)
                key = tuple(sorted(final.items()))
                cache[series] = (final, key)
            if key in seen:
                continue  # Prometheus drops duplicates within one scrape
            seen.add(key)
            if sample_ts is not None and t.job.honor_timestamps:
                samples.append((final, sample_ts, value))
            else:
                current.add(key)
                samples.append((final, ts, value))
        if len(cache) > 2 * scraped + 1000:  # series that went away: start afresh rather than grow
            self._series = {}
        return samples, current, scraped

    async def stop_staleness(self) -> None:
        """The target went away: its series and report series end now (Prometheus's end-of-run staleness)."""
        ts = int(time.time() * 1000)
        keys = set(self.previous)
        for name in ("up", "scrape_duration_seconds", "scrape_samples_scraped",
                     "scrape_samples_post_metric_relabeling", "scrape_series_added"):
            keys.add(tuple(sorted({"__name__": name, **self.target.labels}.items())))
        self.previous = set()
        await asyncio.to_thread(self.append, [(dict(k), ts, STALE_NAN) for k in sorted(keys)])

    async def run(self, client: httpx.AsyncClient, stop: asyncio.Event) -> None:
        interval = self.target.job.scrape_interval
        # Spread targets over the interval as Prometheus does (offset from a hash of the target).
        offset = (hash(self.target.key) % 1000) / 1000 * min(interval, 1.0)
        async for _ in ticks(interval, stop, time.monotonic() + offset):
            try:
                await self.scrape_once(client)
            except Exception:
                log.exception("scrape of %s failed", self.target.url)


def read_sd_file(path: Path) -> list[tuple[list[str], dict[str, str]]]:
    """A file_sd file: a JSON or YAML list of {targets: [...], labels: {...}}."""
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    out = []
    for group in data or []:
        if not isinstance(group, dict) or not isinstance(group.get("targets", []), list):
            raise ValueError(f"{path}: each entry needs a targets list")  # noqa: TRY004 - bad file content
        labels = {str(k): str(v) for k, v in (group.get("labels") or {}).items()}
        out.append(([str(t) for t in group.get("targets") or []], labels))
    return out


class ScrapeManager:
    """Owns the scrape loops; `apply` turns a config (and the current file_sd contents) into targets."""

    def __init__(self, append: Appender) -> None:
        self.append = append
        self.loops: dict[tuple[str, str, LabelKey], tuple[ScrapeLoop, asyncio.Task[None], asyncio.Event]] = {}
        self.config: CollectorConfig | None = None
        self.client: httpx.AsyncClient | None = None
        self._sd_state: dict[str, tuple[int, ...]] = {}
        self._sd_cache: dict[str, list[tuple[list[str], dict[str, str]]]] = {}
        self.sd_errors: dict[str, str] = {}

    def discover(self, config: CollectorConfig) -> list[Target]:
        targets: dict[tuple[str, str, LabelKey], Target] = {}
        for job in config.scrape_configs:
            groups: list[tuple[Iterable[str], Mapping[str, str]]] = [(s.targets, s.labels) for s in job.static_configs]
            for sd in job.file_sd_configs:
                for pattern in sd.files:
                    for p in sorted(glob.glob(pattern)):
                        groups.extend(self._sd_cache.get(p, []))
            for addrs, labels in groups:
                for addr in addrs:
                    discovered, final = target_labels(job, addr, labels)
                    t = Target(job, addr, discovered, final)
                    targets.setdefault(t.key, t)
        return list(targets.values())

    def refresh_sd(self, config: CollectorConfig, force: bool = False) -> bool:
        """Re-read changed file_sd files (by their stat); returns whether anything changed."""
        changed = False
        live: set[str] = set()
        for job in config.scrape_configs:
            for sd in job.file_sd_configs:
                for pattern in sd.files:
                    for p in glob.glob(pattern):
                        live.add(p)
                        try:
                            st = os.stat(p)
                        except OSError:
                            continue
                        # ctime and inode too: an atomic replace or a rewrite may keep mtime and size
                        sig = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino, st.st_dev)
                        if not force and self._sd_state.get(p) == sig:
                            continue
                        try:
                            groups = read_sd_file(Path(p))
                        except (OSError, ValueError, yaml.YAMLError) as exc:
                            # Prometheus keeps the last good targets of a file that fails to parse.
                            self.sd_errors[p] = str(exc)
                            log.error("file_sd %s: %s", p, exc)
                            self._sd_state[p] = sig
                            continue
                        self.sd_errors.pop(p, None)
                        self._sd_state[p], self._sd_cache[p] = sig, groups
                        changed = True
        for gone in set(self._sd_cache) - live:
            del self._sd_cache[gone]
            self._sd_state.pop(gone, None)
            changed = True
        return changed

    async def apply(self, config: CollectorConfig) -> None:
        self.config = config
        if self.client is None:
            self.client = httpx.AsyncClient()
        self.refresh_sd(config, force=True)
        await self._sync()

    async def _sync(self) -> None:
        assert self.config is not None and self.client is not None
        wanted = {t.key: t for t in self.discover(self.config)}
        # A target whose job changed gets a new loop that inherits the old one's series, as
        # Prometheus's scrapePool.reload hands over the scrape cache: staleness tracking goes on.
        carried: dict[tuple[str, str, LabelKey], set[LabelKey]] = {}
        for key in list(self.loops):
            loop, task, stop = self.loops[key]
            if key not in wanted or wanted[key].job != loop.target.job:
                stop.set()
                await task
                del self.loops[key]
                if key not in wanted:
                    await loop.stop_staleness()
                else:
                    carried[key] = loop.previous
        for key, target in wanted.items():
            if key in self.loops:
                continue
            loop = ScrapeLoop(target, self.append, carried.get(key, set()))
            stop = asyncio.Event()
            self.loops[key] = (loop, asyncio.create_task(loop.run(self.client, stop)), stop)

    def targets(self) -> list[Target]:
        return [loop.target for loop, _, _ in self.loops.values()]

    async def watch_sd(self, stop: asyncio.Event, poll: float = 1.0) -> None:
        """Poll file_sd files for changes; re-read all of them every refresh_interval regardless."""
        last_full = time.monotonic()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), poll)
                break
            except TimeoutError:
                pass
            if self.config is None:
                continue
            intervals = [sd.refresh_interval for j in self.config.scrape_configs for sd in j.file_sd_configs]
            force = bool(intervals) and time.monotonic() - last_full >= min(intervals)
            if force:
                last_full = time.monotonic()
            if self.refresh_sd(self.config, force=force):
                await self._sync()

    async def close(self) -> None:
        for loop, task, stop in self.loops.values():
            stop.set()
            await task
        self.loops.clear()
        if self.client is not None:
            await self.client.aclose()
            self.client = None
