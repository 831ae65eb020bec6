"""Prometheus rule evaluation: groups on their interval, alert states, ALERTS series, re-sending.

Semantics are Prometheus 2.42's rules/alerting.go and rules/manager.go (reference anchors C.1):
- identity: the result sample's labels without `__name__`, plus the expanded rule labels, plus
  `alertname`; two results with one identity make the evaluation fail.
- a new element is pending with ActiveAt = eval time; it fires when `ts - ActiveAt >= for`
  (at once with `for: 0`); an existing alert gets the new value and annotations only.
- when the element vanishes, a pending alert is deleted; a firing one becomes inactive with
  ResolvedAt = ts unless `keep_firing_for` (counted from the first eval without it) still runs;
  resolved alerts are kept 15 minutes so they are re-sent.
- `ALERTS{alertstate}` = 1 and `ALERTS_FOR_STATE` = ActiveAt (unix seconds) for pending and firing
  alerts; series a rule stops producing get the stale NaN. A rule whose evaluation fails neither
  marks its series stale nor sends (Group.Eval returns early).
- sending (Alert.needsSending): never pending ones; a resolved alert at once; a firing one when
  `LastSentAt + resend_delay < ts`. Each send sets ValidUntil = ts + 4 * max(resend_delay, interval);
  `endsAt` is ResolvedAt for resolved alerts, ValidUntil otherwise; startsAt is FiredAt.
- after a start, rules whose `for` is at least the grace period (10m) restore their pending alerts'
  ActiveAt from ALERTS_FOR_STATE (written up to an hour ago) after their second evaluation, as
  Prometheus's RestoreForState does; until then they write no ALERTS series.

pydock's addition: with a log store, an alert that fires takes the last `log_lines` (default 20) log
lines of its container before startsAt into the annotation `logs` (collector/logql/alertlogs.py),
read once, outside the state lock, and carried by every later notification of that alert. An alert
about a container gets as `generatorURL` that container's page at the alert's window
(collector/web/links.py); others keep Prometheus's graph link.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydock.collector import templating
from pydock.collector.notify.model import Alert, fingerprint, go_time
from pydock.collector.rulefiles import GroupSpec, RuleSpec
from pydock.collector.ticker import ticks
from pydock.collector.tsdb import STALE_NAN
from pydock.collector.web.links import alert_generator_url

from pydock.errors import PydockError

log = logging.getLogger(__name__)
RESOLVED_RETENTION = 15 * 60.0
FOR_OUTAGE_TOLERANCE = 3600.0  # --rules.alert.for-outage-tolerance
FOR_GRACE_PERIOD = 600.0  # --rules.alert.for-grace-period
Samples = list[tuple[dict[str, str], int, float]]


class QueryEngine(Protocol):
    def instant(self, expr: str, t: float) -> Any: ...


@dataclass
class ActiveAlert:
    labels: dict[str, str]
    annotations: dict[str, str]
    active_at: float
    value: float
    state: str = "pending"
    fired_at: float = 0.0
    resolved_at: float = 0.0
    last_sent_at: float = 0.0
    valid_until: float = 0.0
    keep_firing_since: float = 0.0
    logs: str | None = None  # the `logs` annotation, read when the alert fired; None: not read yet

    def needs_sending(self, ts: float, resend_delay: float) -> bool:
        if self.state == "pending":
            return False
        if self.resolved_at > self.last_sent_at:
            return True
        return self.last_sent_at + resend_delay < ts

    def to_api(self) -> dict[str, Any]:
        annotations = {**self.annotations, "logs": self.logs} if self.logs else dict(self.annotations)
        out: dict[str, Any] = {"labels": dict(self.labels), "annotations": annotations,
                               "state": self.state, "activeAt": go_time(self.active_at),
                               "value": go_e_format(self.value)}
        if self.keep_firing_since:
            out["keepFiringSince"] = go_time(self.keep_firing_since)
        return out


def go_e_format(v: float) -> str:
    """strconv.FormatFloat(v, 'e', -1, 64), the API's alert `value` (`1e+00`, `5.5e-01`)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    mant, exp = f"{v:.17e}".split("e")
    # shortest round-tripping mantissa
    for digits in range(17):
        cand = f"{v:.{digits}e}"
        if float(cand) == v:
            mant, exp = cand.split("e")
            break
    e = int(exp)
    return f"{mant}e{'+' if e >= 0 else '-'}{abs(e):02d}"


def _vector(result: Any, t_ms: int) -> list[tuple[dict[str, str], float]]:
    """Engine results as (labels, value); a scalar becomes one sample without labels, as Prometheus's
    EngineQueryFunc does for rules."""
    kind = getattr(result, "result_type", None)
    if kind == "vector":
        return [(dict(s.metric), s.v) for s in result.samples]
    if kind == "scalar":
        return [({}, result.v)]
    raise PydockError(f"rule result must be a vector or scalar, got {kind}")


@dataclass
class Rule:
    spec: RuleSpec
    active: dict[int, ActiveAlert] = field(default_factory=dict)
    health: str = "unknown"
    last_error: str = ""
    last_evaluation: float = 0.0
    evaluation_time: float = 0.0
    series: set[tuple[tuple[str, str], ...]] = field(default_factory=set)
    restored: bool = True  # False until RestoreForState ran (first start, `for` >= the grace period)

    def state(self) -> str:
        states = {a.state for a in self.active.values()}
        return "firing" if "firing" in states else "pending" if "pending" in states else "inactive"

    def eval_alert(self, result: list[tuple[dict[str, str], float]], ts: float,
                   external_labels: Mapping[str, str], external_url: str) -> Samples:
        spec = self.spec
        fresh: dict[int, ActiveAlert] = {}
        for metric, value in result:
            def expand(text: str, metric: Mapping[str, str] = metric, value: float = value) -> str:
                return templating.expand(text, metric, value, external_labels, external_url, spec.name)

            lbs = {k: v for k, v in metric.items() if k != "__name__"}
            for k, v in spec.labels.items():
                lbs[k] = expand(v)
            lbs["alertname"] = spec.name
            lbs = {k: v for k, v in lbs.items() if v != ""}
            h = fingerprint(lbs)
            if h in fresh:
                raise PydockError("vector contains metrics with the same labelset after applying alert labels")
            fresh[h] = ActiveAlert(lbs, {k: expand(v) for k, v in spec.annotations.items()}, ts, value)
        for h, a in fresh.items():
            old = self.active.get(h)
            if old is not None and old.state != "inactive":
                old.value, old.annotations = a.value, a.annotations
                continue
            self.active[h] = a
        out: Samples = []
        t_ms = int(ts * 1000)
        for h, a in list(self.active.items()):
            if h not in fresh:
                keep = False
                if a.state == "firing" and spec.keep_firing_for > 0:
                    if not a.keep_firing_since:
                        a.keep_firing_since = ts
                    keep = ts - a.keep_firing_since < spec.keep_firing_for
                if a.state == "pending" or (a.resolved_at and ts - a.resolved_at > RESOLVED_RETENTION):
                    del self.active[h]
                if a.state != "inactive" and not keep:
                    a.state, a.resolved_at = "inactive", ts
                if not keep:
                    continue
            else:
                a.keep_firing_since = 0.0
            if a.state == "pending" and ts - a.active_at >= spec.for_:
                a.state, a.fired_at = "firing", ts
            if self.restored:  # Prometheus writes nothing for a rule until its `for` state is restored
                out.append(({"__name__": "ALERTS", **a.labels, "alertstate": a.state}, t_ms, 1.0))
                out.append(({"__name__": "ALERTS_FOR_STATE", **a.labels}, t_ms, float(int(a.active_at))))
        return out

    def eval_record(self, result: list[tuple[dict[str, str], float]], ts: float) -> Samples:
        out: Samples = []
        seen: set[tuple[tuple[str, str], ...]] = set()
        for metric, value in result:
            lbs = dict(metric)
            lbs["__name__"] = self.spec.record or ""
            for k, v in self.spec.labels.items():
                lbs[k] = v
            lbs = {k: v for k, v in lbs.items() if v != ""}
            key = tuple(sorted(lbs.items()))
            if key in seen:
                raise PydockError("vector contains metrics with the same labelset after applying rule labels")
            seen.add(key)
            out.append((lbs, int(ts * 1000), value))
        return out

    def to_api(self) -> dict[str, Any]:
        s = self.spec
        common = {"health": self.health, "evaluationTime": self.evaluation_time,
                  "lastEvaluation": go_time(self.last_evaluation) if self.last_evaluation else "0001-01-01T00:00:00Z"}
        if self.last_error:
            common["lastError"] = self.last_error
        if s.alert is not None:
            return {"state": self.state(), "name": s.name, "query": s.expr, "duration": s.for_,
                    "keepFiringFor": s.keep_firing_for, "labels": dict(s.labels),
                    "annotations": dict(s.annotations),
                    "alerts": [a.to_api() for a in self.active.values() if a.state != "inactive"],
                    **common, "type": "alerting"}
        out: dict[str, Any] = {"name": s.name, "query": s.expr}
        if s.labels:
            out["labels"] = dict(s.labels)
        return {**out, **common, "type": "recording"}


def _with_logs(rule: Rule, sending: list[tuple[ActiveAlert, Alert]], logstore: Any) -> list[Alert]:
    """The alerts with their `logs` annotation; lines are read (without the state lock) the first time
    an alert goes out, and kept on it for its later notifications."""
    from dataclasses import replace

    out = []
    n = rule.spec.log_lines
    for a, alert in sending:
        if a.logs is None and logstore is not None:
            from pydock.collector.logql.alertlogs import DEFAULT_LINES, alert_logs

            a.logs = alert_logs(logstore, a.labels, a.fired_at or a.active_at, DEFAULT_LINES if n is None else n)
        if a.logs:
            alert = replace(alert, annotations={**alert.annotations, "logs": a.logs})
        out.append(alert)
    return out


@dataclass
class Group:
    spec: GroupSpec
    rules: list[Rule]
    last_evaluation: float = 0.0
    evaluation_time: float = 0.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.spec.file, self.spec.name)

    def evaluate(self, engine: QueryEngine, ts: float, external_labels: Mapping[str, str], external_url: str,
                 resend_delay: float, lock: AbstractContextManager[Any] | None = None, logstore: Any = None
                 ) -> tuple[Samples, list[Alert]]:
        """One evaluation at `ts`: samples to write (incl. stale markers) and alerts to send.

        Queries run without `lock`; it is held only while a rule's state changes, so readers of the
        alert state (the API, on the event loop) never wait for a query."""
        lock = lock if lock is not None else nullcontext()
        started = time.monotonic()
        samples: Samples = []
        to_send: list[Alert] = []
        t_ms = int(ts * 1000)
        for rule in self.rules:
            r_start = time.monotonic()
            try:
                result = _vector(engine.instant(rule.spec.expr, ts), t_ms)
            except PydockError as exc:
                with lock:
                    self._failed(rule, exc, ts, r_start)
                continue
            with lock:
                try:
                    if rule.spec.alert is not None:
                        produced = rule.eval_alert(result, ts, external_labels, external_url)
                        active = sum(1 for a in rule.active.values() if a.state != "inactive")
                        if self.spec.limit and active > self.spec.limit:
                            rule.active.clear()
                            raise PydockError(f"exceeded limit of {self.spec.limit} with {active} alerts")
                    else:
                        produced = rule.eval_record(result, ts)
                        if self.spec.limit and len(produced) > self.spec.limit:
                            raise PydockError(f"exceeded limit of {self.spec.limit} with {len(produced)} series")
                except PydockError as exc:
                    self._failed(rule, exc, ts, r_start)
                    continue
                rule.health, rule.last_error = "ok", ""
                sending: list[tuple[ActiveAlert, Alert]] = []
                if rule.spec.alert is not None:
                    sending = self._to_send(rule, ts, external_labels, external_url, resend_delay)
                keys = {tuple(sorted(lbs.items())) for lbs, _, _ in produced}
                samples.extend(produced)
                samples.extend((dict(k), t_ms, STALE_NAN) for k in sorted(rule.series - keys))
                rule.series = keys
                rule.last_evaluation, rule.evaluation_time = ts, time.monotonic() - r_start
            to_send.extend(_with_logs(rule, sending, logstore))
        self.last_evaluation, self.evaluation_time = ts, time.monotonic() - started
        return samples, to_send

    def _failed(self, rule: Rule, exc: PydockError, ts: float, r_start: float) -> None:
        # As Prometheus's Group.Eval: a failed rule sends nothing and leaves the series of its last
        # good evaluation alone (no stale markers), so one failed query is no gap.
        rule.health, rule.last_error = "err", str(exc)
        rule.last_evaluation, rule.evaluation_time = ts, time.monotonic() - r_start
        log.warning("rule %s in group %s failed: %s", rule.spec.name, self.spec.name, exc)

    def _to_send(self, rule: Rule, ts: float, external_labels: Mapping[str, str], external_url: str,
                 resend_delay: float) -> list[tuple[ActiveAlert, Alert]]:
        out = []
        for a in rule.active.values():
            if not a.needs_sending(ts, resend_delay):
                continue
            a.last_sent_at = ts
            a.valid_until = ts + 4 * max(resend_delay, self.spec.interval)
            labels = dict(a.labels)
            for k, v in external_labels.items():
                labels.setdefault(k, v)
            # An alert about a container links to its page at the alert's window (collector/web/links.py).
            url = alert_generator_url(external_url, rule.spec.expr, rule.spec.for_, a.labels, a.fired_at,
                                      a.resolved_at or ts)
            out.append((a, Alert(labels, dict(a.annotations), a.fired_at, a.resolved_at or a.valid_until, url, ts)))
        return out

    def to_api(self) -> dict[str, Any]:
        return {"name": self.spec.name, "file": self.spec.file, "rules": [r.to_api() for r in self.rules],
                "interval": self.spec.interval, "limit": self.spec.limit,
                "evaluationTime": self.evaluation_time,
                "lastEvaluation": go_time(self.last_evaluation) if self.last_evaluation else "0001-01-01T00:00:00Z"}


class RuleManager:
    """Runs every group at its interval; `apply` swaps in reloaded groups and keeps alert state."""

    def __init__(self, engine: QueryEngine, append: Callable[[Samples], Any],
                 send: Callable[[list[Alert]], None]) -> None:
        self.engine = engine
        self.append = append
        self.send = send
        self.groups: list[Group] = []
        self.external_labels: Mapping[str, str] = {}
        self.external_url = ""
        self.resend_delay = 60.0
        # Evaluations run in a worker thread; API readers take this lock so they never see an alert
        # map in the middle of an update.
        self.lock = threading.Lock()
        self._stale: Samples = []
        self._tasks: dict[tuple[str, str], tuple[asyncio.Task[None], asyncio.Event]] = {}
        self.logstore: Any = None  # a LogStore: alerts then carry their container's log lines (`logs`)

    def apply(self, specs: list[GroupSpec], external_labels: Mapping[str, str], external_url: str,
              resend_delay: float, restore: bool = False) -> None:
        """Install groups (stop the running ones first; `start` runs them). Rules of a group with the same file and name keep their
        alerts when their name and expression are unchanged, as Prometheus's copyState does."""
        old = {g.key: g for g in self.groups}
        groups = []
        dropped: list[Rule] = []
        for spec in specs:
            prev = old.get((spec.file, spec.name))
            prev_rules = {(r.spec.name, r.spec.expr): r for r in prev.rules} if prev else {}
            rules = []
            for rs in spec.rules:
                r = Rule(rs)
                # Only the first load after a start restores (Prometheus's shouldRestore).
                r.restored = not (restore and rs.alert is not None and rs.for_ >= FOR_GRACE_PERIOD)
                p = prev_rules.pop((rs.name, rs.expr), None)
                if p is not None:
                    r.active, r.series, r.health = p.active, p.series, p.health
                rules.append(r)
            dropped.extend(prev_rules.values())
            groups.append(Group(spec, rules))
        kept = {(s.file, s.name) for s in specs}
        dropped.extend(r for key, g in old.items() if key not in kept for r in g.rules)
        # Series of rules that are gone end now, as Prometheus marks them stale when a group goes.
        t_ms = int(time.time() * 1000)
        self._stale = [(dict(k), t_ms, STALE_NAN) for r in dropped for k in sorted(r.series)]
        self.groups = groups
        self.external_labels, self.external_url, self.resend_delay = external_labels, external_url, resend_delay

    def evaluate_group(self, group: Group, ts: float) -> tuple[Samples, list[Alert]]:
        return group.evaluate(self.engine, ts, self.external_labels, self.external_url, self.resend_delay,
                              self.lock, self.logstore)

    async def _run_group(self, group: Group, stop: asyncio.Event) -> None:
        evaluations = 0
        async for _ in ticks(group.spec.interval, stop):
            try:
                samples, alerts = await asyncio.to_thread(self.evaluate_group, group, time.time())
                if samples:
                    await asyncio.to_thread(self.append, samples)
                if alerts:  # forwarding to an Alertmanager persists batches: an fsync each
                    await asyncio.to_thread(self.send, alerts)
                evaluations += 1
                # Restore after the second evaluation: the first may run before enough is scraped.
                if evaluations == 2 and not all(r.restored for r in group.rules):
                    await asyncio.to_thread(self.restore_for_state, group, time.time())
            except Exception:  # one failing evaluation must not end the group; logged with its cause
                log.exception("evaluation of group %s failed", group.spec.name)

    def restore_for_state(self, group: Group, ts: float) -> None:
        """Prometheus's RestoreForState: pending alerts take back the ActiveAt they had before a
        restart (shifted by the downtime), read from ALERTS_FOR_STATE within the outage tolerance."""
        storage = getattr(self.engine, "storage", None)
        with self.lock:
            for rule in group.rules:
                if rule.restored:
                    continue
                for a in rule.active.values():
                    if storage is None:
                        break
                    want = {"__name__": "ALERTS_FOR_STATE", **a.labels}
                    found = [pts for labels, pts in storage.select(
                        [(k, "=", v) for k, v in want.items()], int((ts - FOR_OUTAGE_TOLERANCE) * 1000),
                        int(ts * 1000)) if labels == want and pts]
                    if not found:
                        continue
                    t_ms, v = found[0][-1]
                    if math.isnan(v):  # the stale marker: the alert was not active any more
                        continue
                    down_at, active_at = t_ms // 1000, float(int(v))
                    remaining = rule.spec.for_ - (down_at - active_at)
                    if remaining <= 0:
                        continue  # it was firing; the next evaluation makes it fire again
                    if remaining < FOR_GRACE_PERIOD:
                        a.active_at = ts + FOR_GRACE_PERIOD - rule.spec.for_
                    else:
                        a.active_at = active_at + (ts - down_at)
                rule.restored = True

    async def start(self) -> None:
        await self.stop()
        if self._stale:
            stale, self._stale = self._stale, []
            await asyncio.to_thread(self.append, stale)
        for g in self.groups:
            ev = asyncio.Event()
            self._tasks[g.key] = (asyncio.create_task(self._run_group(g, ev)), ev)

    async def stop(self) -> None:
        for task, ev in self._tasks.values():
            ev.set()
            await task
        self._tasks.clear()

    def alerting_rules(self) -> list[Rule]:
        return [r for g in self.groups for r in g.rules if r.spec.alert is not None]

    def active_alerts(self) -> list[ActiveAlert]:
        with self.lock:
            return [a for r in self.alerting_rules() for a in r.active.values() if a.state != "inactive"]

    def groups_api(self) -> list[dict[str, Any]]:
        with self.lock:
            return [g.to_api() for g in self.groups]

