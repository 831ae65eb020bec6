"""Alertmanager's dispatcher: the route tree, aggregation groups and their timers, dedup by the nflog.

Semantics follow alertmanager's dispatch/ and notify/ packages:
- `Route.Match`: a route matches when its matchers do; children are tried in order, the first match
  stops the search unless it has `continue: true`; a route none of whose children match is the match.
- Alerts are grouped per matched route by its `group_by` labels (`...`: all labels). A new group
  waits `group_wait` before its first flush (at once if its alert started longer ago than that), then
  flushes every `group_interval`.
- A flush drops silenced alerts (MuteStage), then notifies each integration of the receiver when the
  notification log says so (DedupStage.needsUpdate): new firing alerts, newly resolved ones (with
  send_resolved), all resolved after a firing notification, or `repeat_interval` passed. Resolved
  alerts that were flushed leave the group.
Notifications are not sent here: each is persisted to the outbox (with its nflog entry, atomically)
and delivered by `notify.delivery`.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pydock.collector.config import IntegrationConfig, Receiver, Route, WebhookConfig
from pydock.collector.matchers import matchers_str, matches_all
from pydock.collector.notify.model import Alert, fingerprint, labelset_str, sort_key
from pydock.collector.notify.store import LogEntry, NotifyStore

log = logging.getLogger(__name__)

_GO_META = set("\\.+*?()|[]{}^$")


def quote_meta(s: str) -> str:
    """Go's regexp.QuoteMeta, which Alertmanager applies to the receiver name in template data (a quirk)."""
    return "".join("\\" + c if c in _GO_META else c for c in s)


def match_routes(route: Route, labels: Mapping[str, str]) -> list[tuple[Route, str]]:
    """The routes an alert goes to, each with its key (`{}/{team="x"}`) for the groupKey."""

    def walk(r: Route, parent_key: str | None) -> list[tuple[Route, str]]:
        if not matches_all(r.matchers, labels):
            return []
        key = (parent_key + "/" if parent_key is not None else "") + matchers_str(r.matchers)
        found: list[tuple[Route, str]] = []
        for child in r.routes:
            hits = walk(child, key)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [(r, key)]

    return walk(route, None)


def group_labels(route: Route, labels: Mapping[str, str]) -> dict[str, str]:
    if route.group_by is None:
        return dict(labels)
    return {k: labels[k] for k in route.group_by if k in labels}


def needs_update(entry: LogEntry | None, firing: frozenset[int], resolved: frozenset[int], send_resolved: bool,
                 repeat: float, now: float) -> bool:
    """notify.DedupStage.needsUpdate."""
    if entry is None:
        return len(firing) > 0
    if not firing <= entry.firing:
        return True
    if not firing:
        return len(entry.firing) > 0
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.ts < now - repeat


def webhook_payload(receiver: str, group_key: str, glabels: Mapping[str, str], alerts: list[Alert],
                    external_url: str, max_alerts: int, now: float) -> dict[str, object]:
    """The webhook body, Alertmanager's version 4 (notify/webhook Message over template.Data)."""
    truncated = 0
    if max_alerts and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    common_labels = dict(alerts[0].labels) if alerts else {}
    common_ann = dict(alerts[0].annotations) if alerts else {}
    for a in alerts[1:]:
        common_labels = {k: v for k, v in common_labels.items() if a.labels.get(k) == v}
        common_ann = {k: v for k, v in common_ann.items() if a.annotations.get(k) == v}
    status = "firing" if any(not a.resolved(now) for a in alerts) else "resolved"
    return {"receiver": quote_meta(receiver), "status": status, "alerts": [a.to_webhook(now) for a in alerts],
            "groupLabels": dict(glabels), "commonLabels": common_labels, "commonAnnotations": common_ann,
            "externalURL": external_url, "version": "4", "groupKey": group_key, "truncatedAlerts": truncated}


@dataclass
class AggregationGroup:
    route: Route
    route_key: str
    labels: dict[str, str]
    next_flush: float
    alerts: dict[int, Alert] = field(default_factory=dict)
    has_flushed: bool = False

    @property
    def key(self) -> str:
        return f"{self.route_key}:{labelset_str(self.labels)}"


class Dispatcher:
    """Groups alerts for webhook receivers and turns flushes into persisted notifications."""

    def __init__(self, route: Route, receivers: Mapping[str, Receiver], store: NotifyStore,
                 is_silenced: Callable[[Mapping[str, str], float], bool], external_url: str) -> None:
        self.route = route
        self.receivers = receivers
        self.store = store
        self.is_silenced = is_silenced
        self.external_url = external_url
        # Keyed by the route node itself, as Alertmanager keys aggrGroupsPerRoute by *Route.
        self.groups: dict[tuple[int, int], AggregationGroup] = {}
        self.lock = threading.Lock()  # guards `groups`: put() runs on the event loop, tick() in a thread

    def put(self, alerts: Iterable[Alert], now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self.lock:
            self._put(alerts, now)

    def _put(self, alerts: Iterable[Alert], now: float) -> None:
        for alert in alerts:
            for route, rkey in match_routes(self.route, alert.labels):
                if not self.receivers[route.receiver].integrations():
                    continue  # alertmanager-only receivers are forwarded, not grouped
                glabels = group_labels(route, alert.labels)
                gid = (id(route), fingerprint(glabels))
                ag = self.groups.get(gid)
                if ag is None:
                    ag = AggregationGroup(route, rkey, glabels, now + route.group_wait)
                    self.groups[gid] = ag
                old = ag.alerts.get(alert.fingerprint)
                if old is not None and not old.resolved(now) and old.starts_at and old.starts_at < alert.starts_at:
                    alert = Alert(alert.labels, alert.annotations, old.starts_at, alert.ends_at,
                                  alert.generator_url, alert.updated_at)
                ag.alerts[alert.fingerprint] = alert
                if not ag.has_flushed and alert.starts_at + route.group_wait < now:
                    ag.next_flush = min(ag.next_flush, now)

    def alerts(self) -> list[Alert]:
        """Every alert held in a group now (a consistent copy, for the API)."""
        with self.lock:
            return [a for ag in self.groups.values() for a in ag.alerts.values()]

    def due(self, now: float) -> bool:
        with self.lock:
            return any(ag.next_flush <= now for ag in self.groups.values())

    def tick(self, now: float | None = None) -> int:
        """Flush every group whose timer ran out; returns how many notifications were queued.

        The lock covers only the in-memory groups; the notification log and the outbox are read and
        written outside it (the notifier runs this in a worker thread), so `put` never waits on an
        fsync. As in Alertmanager, an alert that changes during the flush is kept (DeleteIfNotModified).
        """
        now = time.time() if now is None else now
        with self.lock:
            due = []
            for gid, ag in self.groups.items():
                if ag.next_flush > now:
                    continue
                ag.next_flush = now + ag.route.group_interval
                ag.has_flushed = True
                due.append((gid, ag, sorted(ag.alerts.values(), key=sort_key)))
        queued = 0
        for gid, ag, alerts in due:
            queued += self._flush(ag, alerts, now)
            with self.lock:
                for flushed in alerts:
                    fp = flushed.fingerprint
                    if flushed.resolved(now) and ag.alerts.get(fp) is flushed:
                        del ag.alerts[fp]
                if not ag.alerts and self.groups.get(gid) is ag:
                    del self.groups[gid]
        return queued

    def _flush(self, ag: AggregationGroup, alerts: list[Alert], now: float) -> int:
        active = [a for a in alerts if not self.is_silenced(a.labels, now)]
        queued = 0
        if active:
            firing = frozenset(a.fingerprint for a in active if not a.resolved(now))
            resolved = frozenset(a.fingerprint for a in active if a.resolved(now))
            receiver = self.receivers[ag.route.receiver]
            for kind, idx, conf in receiver.integrations():
                queued += self._notify(ag, receiver.name, kind, idx, conf, active, firing, resolved, now)
        return queued

    def _notify(self, ag: AggregationGroup, receiver: str, kind: str, idx: int, conf: IntegrationConfig,
                alerts: list[Alert], firing: frozenset[int], resolved: frozenset[int], now: float) -> int:
        """One integration's notification, stored as the webhook payload whatever the integration (it
        holds all of Alertmanager's template data; the integration renders its request when sending)."""
        log_key = f"{ag.key}|{receiver}|{kind}|{idx}"
        entry = LogEntry(firing, resolved, now)
        if not needs_update(self.store.get_log(log_key), firing, resolved, conf.send_resolved,
                            ag.route.repeat_interval, now):
            return 0
        sent = alerts if conf.send_resolved else [a for a in alerts if not a.resolved(now)]
        if not sent:
            self.store.put_log(log_key, entry)
            return 0
        max_alerts = conf.max_alerts if isinstance(conf, WebhookConfig) else 0
        body = webhook_payload(receiver, ag.key, ag.labels, sent, self.external_url, max_alerts, now)
        self.store.enqueue(receiver, kind, idx, conf.target, json.dumps(body), now, log_key, entry)
        log.info("queued notification for %s (group %s, %d alerts)", receiver, ag.key, len(sent))
        return 1
