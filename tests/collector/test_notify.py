"""Alertmanager's routing, grouping, dedup and webhook payload; the persisted outbox and its retries."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_helpers import WebhookReceiver
from pydock.collector.config import AlertingConfig, load_config
from pydock.collector.notify import Notifier
from pydock.collector.notify.delivery import Delivery
from pydock.collector.notify.dispatch import match_routes, quote_meta
from pydock.collector.notify.model import Alert, fingerprint_hex, go_time, parse_go_time, sort_key

T0 = float(int(time.time())) - 1000  # in the past: delivery compares due times with the real clock


def alerting(tmp_path: Path, url: str, route: str, extra_receivers: str = "", hook: str = "") -> AlertingConfig:
    p = tmp_path / "c.yml"
    p.write_text(f"""alerting:
  retry: {{initial: 1s, max: 2s}}
  receivers:
    - name: hook
      webhook_configs: [{{url: '{url}'{hook}}}]
{extra_receivers}
  route:
{route}
""")
    return load_config(p).alerting


def firing(name: str, t: float = T0, **labels: str) -> Alert:
    return Alert({"alertname": name, **labels}, {"summary": f"{name} fired"}, t, t + 240, "http://c/graph", t)


def resolved(a: Alert, t: float) -> Alert:
    return Alert(a.labels, a.annotations, a.starts_at, t, a.generator_url, t)


def outbox(n: Notifier) -> list[dict]:
    return [json.loads(i.body) for i in n.store.pending()]


def test_routes_continue_and_keys(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://x/h", """    receiver: hook
    routes:
      - {matchers: ['team="db"'], receiver: hook, continue: true}
      - {matchers: ['severity="page"'], receiver: hook}
      - {matchers: ['team="db"'], receiver: hook}""")
    assert cfg.route is not None
    keys = [k for _, k in match_routes(cfg.route, {"team": "db", "severity": "page"})]
    assert keys == ['{}/{team="db"}', '{}/{severity="page"}']
    assert [k for _, k in match_routes(cfg.route, {"team": "web"})] == ["{}"]
    assert [k for _, k in match_routes(cfg.route, {"team": "db"})] == ['{}/{team="db"}', '{}/{team="db"}']


def test_group_wait_interval_repeat_and_resolve(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    group_by: [alertname]
    group_wait: 10s
    group_interval: 30s
    repeat_interval: 2m""")
    n = Notifier(tmp_path / "n.db", cfg, "http://collector:9339")
    a1, a2 = firing("Down", instance="a", job="j"), firing("Down", instance="b", job="j")
    n.send([a1], now=T0)
    n.tick(T0 + 9)
    assert outbox(n) == []  # still in group_wait
    n.send([a2], now=T0 + 5)
    n.tick(T0 + 10)
    [first] = outbox(n)
    assert first["groupKey"] == '{}:{alertname="Down"}'
    assert first["status"] == "firing" and first["version"] == "4" and first["truncatedAlerts"] == 0
    assert first["groupLabels"] == {"alertname": "Down"}
    assert first["commonLabels"] == {"alertname": "Down", "job": "j"}
    assert first["commonAnnotations"] == {"summary": "Down fired"}
    assert first["externalURL"] == "http://collector:9339" and first["receiver"] == "hook"
    assert [x["labels"]["instance"] for x in first["alerts"]] == ["a", "b"]
    assert all(x["endsAt"] == "0001-01-01T00:00:00Z" and x["status"] == "firing" for x in first["alerts"])
    assert first["alerts"][0]["startsAt"] == go_time(T0)
    assert first["alerts"][0]["fingerprint"] == fingerprint_hex(a1.labels)
    # nothing changed: no notification at the next group_interval ticks until repeat_interval has passed
    n.tick(T0 + 40)
    n.tick(T0 + 70)
    assert len(outbox(n)) == 1
    n.tick(T0 + 131)
    assert len(outbox(n)) == 2 and outbox(n)[1]["alerts"] == first["alerts"]
    # one resolves: notified at the next tick, with the real endsAt
    n.send([resolved(a1, T0 + 140)], now=T0 + 140)
    n.tick(T0 + 150)
    assert len(outbox(n)) == 2  # the timer has not run out yet (ticks at 131 + 30)
    n.tick(T0 + 161)
    third = outbox(n)[2]
    assert third["status"] == "firing"
    assert [(x["labels"]["instance"], x["status"]) for x in third["alerts"]] == [("a", "resolved"), ("b", "firing")]
    assert third["alerts"][0]["endsAt"] == go_time(T0 + 140)
    # the resolved alert left the group; the other resolves too: a "resolved" notification
    n.send([resolved(a2, T0 + 170)], now=T0 + 170)
    n.tick(T0 + 191)
    last = outbox(n)[3]
    assert last["status"] == "resolved" and [x["labels"]["instance"] for x in last["alerts"]] == ["b"]
    assert n.dispatcher is not None and n.dispatcher.groups == {}
    n.close()


def test_group_by_all_max_alerts_and_send_resolved_false(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    group_by: ['...']
    group_wait: 0s""", hook=", max_alerts: 1, send_resolved: false")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    a, b = firing("X", instance="a"), firing("X", instance="b")
    n.send([a, b], now=T0)
    n.tick(T0)
    bodies = outbox(n)
    assert sorted(b["groupKey"] for b in bodies) == ['{}:{alertname="X", instance="a"}',
                                                     '{}:{alertname="X", instance="b"}']
    n.send([resolved(a, T0 + 1)], now=T0 + 1)
    n.tick(T0 + 400)
    assert len(outbox(n)) == 2  # send_resolved: false sends nothing for the resolved group
    n.close()
    m = Notifier(tmp_path / "m.db", alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""", hook=", max_alerts: 1"), "http://c")
    m.send([a, b], now=T0)
    m.tick(T0)
    [one] = outbox(m)
    assert one["truncatedAlerts"] == 1 and len(one["alerts"]) == 1
    assert one["commonLabels"] == {"alertname": "X", "instance": "a"}
    m.close()


def test_old_alert_flushes_without_group_wait_and_resolved_in_wait_is_never_sent(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    group_by: [alertname]
    group_wait: 30s""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    n.send([firing("Old", t=T0 - 100)], now=T0)
    n.tick(T0)
    assert [b["groupLabels"] for b in outbox(n)] == [{"alertname": "Old"}]
    a = firing("Brief")
    n.send([a], now=T0)
    n.send([resolved(a, T0 + 5)], now=T0 + 5)
    n.tick(T0 + 31)
    assert len(outbox(n)) == 1
    n.close()


def test_silenced_alerts_are_not_notified(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    sid = n.silences.upsert({"matchers": [{"name": "instance", "value": "a", "isRegex": False}],
                             "endsAt": go_time(T0 + 3600), "createdBy": "me", "comment": "maint"}, now=T0)
    n.send([firing("X", instance="a"), firing("X", instance="b")], now=T0)
    n.tick(T0)
    [body] = outbox(n)
    assert [x["labels"]["instance"] for x in body["alerts"]] == ["b"]
    n.silences.expire(sid, now=T0 + 10)
    assert n.silences.get(sid).state(T0 + 11) == "expired"
    n.tick(T0 + 301)
    assert [x["labels"]["instance"] for x in outbox(n)[1]["alerts"]] == ["a", "b"]
    with pytest.raises(Exception, match="must not match the empty string"):
        n.silences.upsert({"matchers": [{"name": "x", "value": ".*", "isRegex": True}],
                           "endsAt": go_time(T0 + 60)}, now=T0)
    n.close()


def test_quote_meta_and_times() -> None:
    assert quote_meta("team.a (db)") == r"team\.a \(db\)"
    assert go_time(None) == "0001-01-01T00:00:00Z"
    assert go_time(1700000000.5) == "2023-11-14T22:13:20.5Z"
    assert parse_go_time("2023-11-14T22:13:20.5Z") == 1700000000.5


async def _deliver(n: Notifier, until: float = 10.0) -> None:
    async with httpx.AsyncClient() as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until
        while loop.time() < deadline and any(i.state == "pending" for i in n.store.pending()):
            await n.delivery.run_once(client)
            await asyncio.sleep(0.05)


def test_delivery_retries_5xx_and_keeps_order_then_gives_up_on_4xx(tmp_path: Path,
                                                                     webhook: WebhookReceiver) -> None:
    cfg = alerting(tmp_path, webhook.url, """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""", hook=", http_config: {bearer_token: tok}")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    a = firing("Flaky", t=T0)
    n.send([a], now=T0)
    n.tick(T0)
    n.send([resolved(a, T0 + 1)], now=T0 + 1)
    n.tick(T0 + 301)
    assert len(n.store.pending()) == 2
    webhook.status = 503
    asyncio.run(_deliver(n, until=0.5))
    assert webhook.attempts >= 1 and webhook.bodies == []
    [head, _] = n.store.pending()
    assert head.attempts >= 1 and "503" in head.last_error
    webhook.status = 200
    asyncio.run(_deliver(n, until=6))
    assert [b["status"] for b in webhook.bodies] == ["firing", "resolved"]  # FIFO survives the retries
    assert webhook.requests[0]["headers"]["Authorization"] == "Bearer tok"
    assert webhook.requests[0]["headers"]["Content-Type"] == "application/json"
    assert n.store.pending() == []
    n.send([firing("Rejected", t=T0 + 400)], now=T0 + 400)
    n.tick(T0 + 400)
    webhook.status = 400
    asyncio.run(_deliver(n, until=1))
    [failed] = n.store.pending()
    assert failed.state == "failed" and "400" in failed.last_error
    n.close()


def test_pending_notifications_survive_a_restart(tmp_path: Path) -> None:
    receiver = WebhookReceiver()  # not started yet: the receiver is down
    cfg = alerting(tmp_path, receiver.url, """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    n.send([firing("Persisted")], now=T0)
    n.tick(T0)
    asyncio.run(_deliver(n, until=0.3))
    assert n.store.pending()[0].attempts >= 1
    n.close()
    receiver.start()
    try:
        again = Notifier(tmp_path / "n.db", cfg, "http://c")  # a new process opens the same database
        asyncio.run(_deliver(again, until=6))
        assert [b["groupLabels"] for b in receiver.bodies] == [{"alertname": "Persisted"}]
        # the nflog came back too: the same firing alert is not notified again after the restart
        again.send([firing("Persisted")], now=T0 + 10)
        again.tick(T0 + 10)
        assert again.store.pending() == []
        again.close()
    finally:
        receiver.stop()


def test_forward_to_alertmanager_batches(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    routes:
      - {matchers: ['fwd="1"'], receiver: am}""",
                   extra_receivers="    - name: am\n      alertmanager_configs: [{url: 'http://127.0.0.1:2/'}]")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    alerts = [firing("F", fwd="1", i=str(i)) for i in range(300)]
    n.send(alerts, now=T0)
    rows = [i for i in n.store.pending() if i.kind == "alertmanager"]
    assert [len(json.loads(r.body)) for r in rows] == [256, 44]
    assert rows[0].url == "http://127.0.0.1:2/api/v2/alerts"
    first = json.loads(rows[0].body)[0]
    assert first == {"labels": {"alertname": "F", "fwd": "1", "i": "0"}, "annotations": {"summary": "F fired"},
                     "startsAt": go_time(T0), "endsAt": go_time(T0 + 240), "generatorURL": "http://c/graph"}
    assert n.dispatcher is not None and n.dispatcher.groups == {}  # alertmanager-only receivers are not grouped
    # Alertmanager stayed down past 4 x resend_delay: the batches are obsolete (re-sent since, or past
    # their endsAt) and are dropped rather than replayed
    assert n.delivery.alertmanager_ttl == 240
    asyncio.run(_deliver(n, until=0.5))
    assert [i.kind for i in n.store.pending()] == []
    n.close()


def test_delivery_class_is_the_notifiers(tmp_path: Path) -> None:
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", "    receiver: hook")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    assert isinstance(n.delivery, Delivery) and n.delivery.retry.initial == 1
    n.close()


def test_alerts_are_ordered_as_alertmanager_orders_them(tmp_path: Path) -> None:
    # Alertmanager's AlertSlice.Less: job, then instance (present before absent), then
    # LabelSet.Before: fewer labels first; of two sets the same size, the one that lacks the first
    # differing label name comes first. The order decides which alerts max_alerts keeps.
    job = firing("Ord", job="j", x="1")
    short = firing("Ord", z="9")
    ab, bc = firing("Ord", a="1", c="1"), firing("Ord", b="1", c="1")
    v1, v2 = firing("Ord", a="1", c="1", d="1"), firing("Ord", a="1", c="2", d="1")
    assert [a.labels for a in sorted([v2, ab, v1, short, bc, job], key=sort_key)] == [
        job.labels, short.labels, bc.labels, ab.labels, v1.labels, v2.labels]
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""", hook=", max_alerts: 2")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    n.send([ab, bc, short], now=T0)
    n.tick(T0)
    [body] = outbox(n)
    assert [a["labels"] for a in body["alerts"]] == [short.labels, bc.labels]
    assert body["truncatedAlerts"] == 1
    n.close()


def test_delivery_never_logs_webhook_credentials(tmp_path: Path, webhook: WebhookReceiver,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    # The webhook's userinfo, path and query may all be secrets (Slack-style URLs); Alertmanager
    # keeps webhook URLs out of its logs, and so does the collector.
    url = webhook.url.replace("http://", "http://bob:pw-s3cret@") + "/T0K3N-PATH?key=q-s3cret"
    cfg = alerting(tmp_path, url, """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    caplog.set_level("DEBUG", logger="pydock")  # httpx's own request log: test_collector_cli
    n.send([firing("Leak")], now=T0)
    n.tick(T0)
    webhook.status = 503
    asyncio.run(_deliver(n, until=0.3))
    webhook.status = 400
    asyncio.run(_deliver(n, until=3))
    [failed] = n.store.pending()
    assert failed.state == "failed" and webhook.attempts >= 2
    for secret in ("pw-s3cret", "T0K3N-PATH", "q-s3cret"):
        assert secret not in caplog.text
        assert secret not in failed.last_error
    n.close()


def test_notification_database_writes_stay_off_the_event_loop(tmp_path: Path, webhook: WebhookReceiver) -> None:
    # Each commit fsyncs (synchronous=FULL, ~10 ms here): flushing many groups, or delivering many
    # notifications, on the event loop would stall the API and the scrapes.
    cfg = alerting(tmp_path, webhook.url, """    receiver: hook
    group_by: [alertname]
    group_wait: 0s""")
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    writers: list[threading.Thread] = []
    def spying(real: Any) -> Any:
        def spy(*args: object, **kwargs: object) -> Any:
            writers.append(threading.current_thread())
            return real(*args, **kwargs)
        return spy

    for name in ("enqueue", "put_log", "delivered", "retry_later", "failed"):
        setattr(n.store, name, spying(getattr(n.store, name)))

    async def go() -> threading.Thread:
        stop = asyncio.Event()
        task = asyncio.create_task(n.run(stop, poll=0.02))
        n.send([firing(f"OffLoop{i}", t=time.time()) for i in range(3)])
        for _ in range(300):
            if len(webhook.bodies) == 3:
                break
            await asyncio.sleep(0.02)
        stop.set()
        await task
        return threading.current_thread()

    loop_thread = asyncio.run(go())
    assert len(webhook.bodies) == 3 and len(writers) >= 6  # 3 queued, 3 delivered
    assert loop_thread not in writers
    n.close()


def test_notification_log_and_failed_notifications_expire(tmp_path: Path) -> None:
    # Alertmanager's nflog keeps entries for --data.retention (120h): with group_by ['...'] every
    # distinct alert is a group key, and the log must not grow for ever; nor may failed notifications.
    from pydock.collector.notify.store import RETENTION, LogEntry, NotifyStore

    store = NotifyStore(tmp_path / "n.db")
    store.put_log("old", LogEntry(frozenset({1}), frozenset(), T0 - RETENTION - 10))
    old = store.enqueue("r", "webhook", 0, "http://h", "{}", T0 - RETENTION - 10)
    store.failed(old, "400")
    kept = store.enqueue("r", "webhook", 1, "http://h", "{}", T0 - RETENTION - 10)  # still pending: kept
    store.put_log("new", LogEntry(frozenset({2}), frozenset(), T0))
    store.gc(T0)
    assert store.get_log("old") is None and store.get_log("new") is not None
    assert [i.id for i in store.pending()] == [kept]
    store.close()


def test_group_key_quotes_as_alertmanager_does(tmp_path: Path) -> None:
    # Seen from Alertmanager 0.25 (Debian's) for this route and alert: route matchers unescape only
    # \n, \" and \\ (other escapes stay literal) and print with those three escaped; the group's label
    # set prints with Go's %q (\x01, \x7f, \u2028 escaped; printable non-ASCII as is).
    cfg = alerting(tmp_path, "http://127.0.0.1:1/h", r"""    receiver: hook
    group_by: [x]
    routes:
      - {receiver: hook, matchers: ['team=~"a\tb.*"', 'zone!="q\"z"']}""")
    value = 'a\tb"c\\d\u00e9\u2028\x01\x7f'
    n = Notifier(tmp_path / "n.db", cfg, "http://c")
    n.send([firing("Q", t=T0 - 100, team="a\tbx", x=value)], now=T0)
    n.tick(T0)
    [body] = outbox(n)
    seen = r'"{}/{team=~\"a\\\\tb.*\",zone!=\"q\\\"z\"}:{x=\"a\\tb\\\"c\\\\d\u00e9\\u2028\\x01\\x7f\"}"'
    assert body["groupKey"] == json.loads(seen)
    n.close()
