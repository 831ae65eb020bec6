"""One running collector: config, TSDB, engine, scrape manager, rule manager and notifier, wired.

`Collector.start` loads collector.yml (refusing a bad one), starts scraping, rule evaluation and the
notifier; `reload` re-reads the config and every rule file and swaps them in only when all of them
are valid, so a failed reload keeps the running config (as Prometheus does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from pydock.collector.config import CollectorConfig, CollectorSettings, config_from_file
from pydock.collector.notify import Notifier
from pydock.collector.promql import Engine
from pydock.collector.promql.limits import QueryLimits
from pydock.collector.rulefiles import GroupSpec, load_rule_files
from pydock.collector.rules import RuleManager
from pydock.collector.scrape import ScrapeManager
from pydock.collector.tsdb import TSDB

from pydock.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    config: CollectorConfig
    groups: list[GroupSpec]


def load_all(settings: CollectorSettings) -> Loaded:
    """collector.yml plus its rule files, all checked; raises ConfigError naming file and line."""
    config = config_from_file(settings.config_path)
    groups = load_rule_files(config.rule_paths(), config.global_.evaluation_interval)
    return Loaded(config, groups)


class Collector:
    """The parts of one collector and their life: `start`, `reload`, `stop`, `close`."""

    def __init__(self, settings: CollectorSettings, engine_factory: Any = None) -> None:
        self.settings = settings
        self.loaded = load_all(settings)  # refuse a bad config before anything opens
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.tsdb = TSDB(settings.data_dir / "tsdb.sqlite", retention_ms=int(settings.retention_s * 1000))
        limits = QueryLimits(settings.query_timeout_s, settings.query_max_samples, settings.query_max_concurrency)
        self.engine = engine_factory(self.tsdb) if engine_factory else Engine(self.tsdb, limits=limits)
        self.notifier = Notifier(settings.data_dir / "notify.sqlite", self.loaded.config.alerting, settings.base_url)
        self.scrape = ScrapeManager(self.tsdb.append)
        self.rules = RuleManager(self.engine, self.tsdb.append, self.notifier.send)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._reload_lock = asyncio.Lock()  # SIGHUP and POST /-/reload may arrive together
        self.reloads = 0
        self.last_reload_error = ""
        self.ready = False
        self.started_at = time.time()
        self.config_loaded_at = self.started_at

    @property
    def config(self) -> CollectorConfig:
        return self.loaded.config

    def _apply_rules(self, loaded: Loaded, first: bool = False) -> None:
        c = loaded.config
        self.rules.apply(loaded.groups, c.global_.external_labels, self.settings.base_url, c.alerting.resend_delay,
                         restore=first)

    async def start(self) -> None:
        self._stop = asyncio.Event()
        self._apply_rules(self.loaded, first=True)
        await self.scrape.apply(self.loaded.config)
        await self.rules.start()
        self._tasks = [asyncio.create_task(self.notifier.run(self._stop)),
                       asyncio.create_task(self.scrape.watch_sd(self._stop))]
        self.ready = True
        log.info("collector started: %d scrape configs, %d rule groups", len(self.config.scrape_configs),
                 len(self.loaded.groups))

    async def reload(self) -> None:
        """Re-read everything; on any error raise ConfigError and keep running the old config."""
        async with self._reload_lock:
            await self._reload()

    async def _reload(self) -> None:
        try:
            loaded = load_all(self.settings)
        except ConfigError as exc:
            self.last_reload_error = str(exc)
            log.error("reload failed, keeping the running config: %s", exc)
            raise
        self.loaded = loaded
        self.config_loaded_at = time.time()
        self.notifier.apply_config(loaded.config.alerting)
        await self.rules.stop()  # no evaluation may run while rules and their state are swapped
        self._apply_rules(loaded)
        await self.scrape.apply(loaded.config)
        await self.rules.start()
        self.reloads += 1
        self.last_reload_error = ""
        log.info("configuration reloaded")

    async def stop(self) -> None:
        self.ready = False
        self._stop.set()
        cancel = getattr(self.engine, "cancel_all", None)
        if cancel is not None:
            cancel(close=True)  # a rule's query running in a thread must not hold up the stop
        await self.rules.stop()
        await self.scrape.close()
        for t in self._tasks:
            await t
        self._tasks = []
        log.info("collector stopped")

    def close(self) -> None:
        self.notifier.close()
        self.tsdb.close()
