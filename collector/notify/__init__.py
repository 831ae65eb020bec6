"""Notifications: Alertmanager's routing and notifiers built in, or forwarding to a real Alertmanager.

The rule manager hands `Notifier.send` the alerts that need sending, exactly as Prometheus's notifier
gets them (firing ones again every resend delay, resolved ones for 15 minutes). From there:
- receivers with `webhook_configs`, `email_configs`, `slack_configs`, `discord_configs` or
  `ntfy_configs` get Alertmanager's behaviour (`dispatch.Dispatcher`: grouping, group_wait/interval,
  repeat, silences); each notification is stored as the version 4 webhook payload and turned into
  the integration's own request when delivered (`webhook`, `email`, `slack`, `discord`, `ntfy`);
- receivers with `alertmanager_configs` get the alerts as Prometheus posts them to
  `/api/v2/alerts`, in batches of at most 256; that Alertmanager groups, silences and notifies.
Both go through the persisted outbox (`store`, `delivery`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydock.collector.config import (
    AlertingConfig,
    DiscordConfig,
    EmailConfig,
    HTTPConfig,
    NtfyConfig,
    Receiver,
    SlackConfig,
    WebhookConfig,
)
from pydock.collector.notify.delivery import Delivery
from pydock.collector.notify.discord import Discord
from pydock.collector.notify.dispatch import Dispatcher, match_routes
from pydock.collector.notify.email import Email
from pydock.collector.notify.integration import Integration, Outcome
from pydock.collector.notify.model import Alert
from pydock.collector.notify.ntfy import Ntfy
from pydock.collector.notify.silences import Silences
from pydock.collector.notify.slack import Slack
from pydock.collector.notify.store import NotifyStore, OutboxItem
from pydock.collector.notify.webhook import JSONPost

log = logging.getLogger(__name__)
MAX_BATCH = 256  # Prometheus's notifier DefaultMaxBatchSize
GC_INTERVAL = 15 * 60.0  # Alertmanager's nflog/silence maintenance interval

__all__ = ["Alert", "Integration", "Notifier"]


class _Gone:
    """A destination removed by a reload whose notifications cannot be sent without its config."""

    def __init__(self, error: str) -> None:
        self.error = error

    async def send(self, client: object, body: str) -> Outcome:
        return Outcome(self.error)


class Notifier:
    def __init__(self, db_path: Path, config: AlertingConfig, external_url: str) -> None:
        self.store = NotifyStore(db_path)
        self.silences = Silences(self.store)
        self.external_url = external_url
        self.config = config
        self.dispatcher: Dispatcher | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.delivery = Delivery(self.store, self._endpoint, config.retry)
        self.apply_config(config)

    def _silenced(self, labels: Mapping[str, str], now: float) -> bool:
        return bool(self.silences.silenced_by(labels, now))

    def apply_config(self, config: AlertingConfig) -> None:
        """Swap in a reloaded config; alerts in the old groups are re-routed through the new tree."""
        old = self.dispatcher
        self.config = config
        self.delivery.retry = config.retry
        self.delivery.alertmanager_ttl = 4 * config.resend_delay
        self.dispatcher = None
        if config.route is not None:
            self.dispatcher = Dispatcher(config.route, config.receivers, self.store, self._silenced,
                                         self.external_url)
            if old is not None:
                self.dispatcher.put(old.alerts())

    def _endpoint(self, item: OutboxItem) -> Integration:
        """The integration that delivers one stored notification, from the config in force now."""
        receiver: Receiver | None = self.config.receivers.get(item.receiver)
        if receiver is not None and item.kind == "alertmanager" and item.idx < len(receiver.alertmanagers):
            am = receiver.alertmanagers[item.idx]
            return JSONPost(am.url.rstrip("/") + "/api/v2/alerts", am.timeout, am.http)
        conf = receiver.integration(item.kind, item.idx) if receiver is not None else None
        if isinstance(conf, WebhookConfig):
            return JSONPost(conf.url, conf.timeout, conf.http)
        if isinstance(conf, EmailConfig):
            return Email(conf)
        if isinstance(conf, SlackConfig):
            return Slack(conf)
        if isinstance(conf, DiscordConfig):
            return Discord(conf)
        if isinstance(conf, NtfyConfig):
            return Ntfy(conf)
        if item.kind in ("webhook", "alertmanager"):
            return JSONPost(item.url, 10.0, HTTPConfig())  # receiver gone after a reload: stored URL, no auth
        return _Gone(f"{item.dest} is no longer configured")

    def send(self, alerts: Iterable[Alert], now: float | None = None) -> None:
        """Take alerts from the rule manager (already filtered by Prometheus's needsSending)."""
        now = time.time() if now is None else now
        batch = list(alerts)
        if not batch or self.config.route is None:
            return
        if self.dispatcher is not None:
            self.dispatcher.put(batch, now)
        forward: dict[tuple[str, int], list[Alert]] = {}
        for alert in batch:
            seen: set[tuple[str, int]] = set()
            for route, _ in match_routes(self.config.route, alert.labels):
                for idx, _am in enumerate(self.config.receivers[route.receiver].alertmanagers):
                    key = (route.receiver, idx)
                    if key not in seen:
                        seen.add(key)
                        forward.setdefault(key, []).append(alert)
        for (receiver, idx), items in forward.items():
            am = self.config.receivers[receiver].alertmanagers[idx]
            url = am.url.rstrip("/") + "/api/v2/alerts"
            for i in range(0, len(items), MAX_BATCH):
                body = json.dumps([a.to_api() for a in items[i:i + MAX_BATCH]])
                self.store.enqueue(receiver, "alertmanager", idx, url, body, now)
        if forward or self.dispatcher is not None:
            self._wake()

    def _wake(self) -> None:
        """Wake the delivery task; callable from any thread (send and tick may run in workers)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.delivery.wake.set)
        else:
            self.delivery.wake.set()

    def tick(self, now: float | None = None) -> None:
        if self.dispatcher is not None and self.dispatcher.tick(now):
            self._wake()

    def maintenance(self, now: float | None = None) -> None:
        self.store.gc(time.time() if now is None else now)

    async def run(self, stop: asyncio.Event, poll: float = 0.1) -> None:
        """Group timers and delivery, until `stop` is set."""
        self._loop = asyncio.get_running_loop()
        deliver = asyncio.create_task(self.delivery.run(stop))
        next_gc = time.monotonic()
        try:
            while not stop.is_set():
                try:
                    if time.monotonic() >= next_gc:
                        next_gc = time.monotonic() + GC_INTERVAL
                        await asyncio.to_thread(self.maintenance)
                    d = self.dispatcher
                    if d is not None and d.due(time.time()):
                        await asyncio.to_thread(self.tick)  # each queued notification is an fsync
                except Exception:  # a storage error must not stop the group timers; logged with its cause
                    log.exception("flushing alert groups failed")
                try:
                    await asyncio.wait_for(stop.wait(), poll)
                except TimeoutError:
                    pass
        finally:
            await deliver
            self._loop = None

    def close(self) -> None:
        self.store.close()
