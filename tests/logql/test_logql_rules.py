"""Log-pattern rules: LogQL in alerting rules, logs+metrics rules, and the `logs` annotation that
carries the container's last lines (redacted, capped) to a real webhook receiver."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from collector_helpers import WebhookReceiver
from logql_helpers import rec
from pydock.collector.config import load_config
from pydock.collector.logql.alertlogs import format_lines, redact, rfc3339_ns
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.collector.notify import Notifier
from pydock.collector.notify.model import Alert
from pydock.collector.promql import Engine
from pydock.collector.rulefiles import load_rule_file
from pydock.collector.rules import RuleManager
from pydock.collector.tsdb import TSDB

T0 = float(int(time.time())) - 1000  # in the past: notification delivery compares times with the real clock

RULES = """\
groups:
  - name: logs
    interval: 15s
    rules:
      - alert: Panic
        expr: count_over_time({name="x"} |= "panic" [1m]) > 0
        labels: {severity: page}
        annotations: {summary: "{{ $labels.name }} panicked {{ $value }} times"}
        log_lines: 5
      - alert: PanicAndBig
        expr: count_over_time({name=~"x|y"} |= "panic" [1m]) > 0 and on(name) container_memory_working_set_bytes > 1e9
"""


def manager(tmp_path: Path, tsdb: TSDB, store: SQLiteLogStore, sent: list[Alert]) -> RuleManager:
    (tmp_path / "r.yml").write_text(RULES)
    mgr = RuleManager(Engine(tsdb, logstore=store), tsdb.append, sent.extend)
    mgr.logstore = store
    mgr.apply(load_rule_file(tmp_path / "r.yml", 60), {}, "http://c:9339", resend_delay=60)
    return mgr


def evaluate(mgr: RuleManager, t: float) -> list[Alert]:
    samples, alerts = mgr.evaluate_group(mgr.groups[0], t)
    mgr.append(samples)
    mgr.send(alerts)
    return alerts


def memory(tsdb: TSDB, t: float, **by_name: float) -> None:
    tsdb.append([({"__name__": "container_memory_working_set_bytes", "name": n, "image": "busybox",
                   "id": f"/pydock/{n}"}, int(t * 1000), v) for n, v in by_name.items()])


async def _deliver(n: Notifier, until: float = 10.0) -> None:
    async with httpx.AsyncClient() as client:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + until
        while loop.time() < deadline and any(i.state == "pending" for i in n.store.pending()):
            await n.delivery.run_once(client)
            await asyncio.sleep(0.05)


def test_panic_rule_fires_with_the_lines_before_it_and_resolves(tmp_path: Path, tsdb: TSDB,
                                                                store: SQLiteLogStore) -> None:
    lines = [rec("x", T0 + i, f"starting step {i}") for i in range(1, 8)]
    lines += [rec("x", T0 + 8, "db login password=hunter2 Authorization: Bearer abcdefghijklmnop"),
              rec("x", T0 + 9, "panic: boom", stream="stderr"),
              rec("x", T0 + 9.5, "goroutine 1 [running]:", stream="stderr"),
              rec("x", T0 + 11, "after the alert started"),  # after startsAt: not in the annotation
              rec("y", T0 + 9, "panic: not mine")]
    store.append(lines)
    sent: list[Alert] = []
    mgr = manager(tmp_path, tsdb, store, sent)
    memory(tsdb, T0, x=5e8, y=5e8)

    assert evaluate(mgr, T0) == []  # nothing in (T0 - 1m, T0]
    [alert] = [a for a in evaluate(mgr, T0 + 10) if a.labels["alertname"] == "Panic"]
    assert alert.labels["name"] == "x" and alert.labels["severity"] == "page"
    assert alert.annotations["summary"] == "x panicked 1 times"
    logs = alert.annotations["logs"].split("\n")
    assert len(logs) == 5  # log_lines: 5, the newest before startsAt, oldest first
    assert logs[0] == f"{rfc3339_ns(int((T0 + 6) * 1e9))} stdout starting step 6"
    assert logs[2] == f"{rfc3339_ns(int((T0 + 8) * 1e9))} stdout db login password=[REDACTED] " \
                      "Authorization: Bearer [REDACTED]"
    assert logs[3] == f"{rfc3339_ns(int((T0 + 9) * 1e9))} stderr panic: boom"
    assert logs[4].endswith("stderr goroutine 1 [running]:")
    assert "hunter2" not in alert.annotations["logs"] and "not mine" not in alert.annotations["logs"]
    assert not [a for a in sent if a.labels["alertname"] == "PanicAndBig"]  # memory is low
    # the alerts API (and the alerts page) show the lines too
    [api] = [a for r in mgr.alerting_rules() for a in r.active.values() if r.spec.name == "Panic"]
    assert "panic: boom" in api.to_api()["annotations"]["logs"]

    # a real webhook receiver gets the Alertmanager payload with the lines
    receiver = WebhookReceiver().start()
    try:
        cfg_path = tmp_path / "c.yml"
        cfg_path.write_text(f"""alerting:
  receivers: [{{name: hook, webhook_configs: [{{url: '{receiver.url}'}}]}}]
  route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s}}
""")
        n = Notifier(tmp_path / "n.db", load_config(cfg_path).alerting, "http://c:9339")
        n.send([alert], now=T0 + 10)
        n.tick(T0 + 10)
        asyncio.run(_deliver(n))
        [body] = receiver.wait_for(1)
        assert body["version"] == "4" and body["status"] == "firing"
        assert "panic: boom" in body["alerts"][0]["annotations"]["logs"]
        assert body["alerts"][0]["annotations"]["logs"].index("step 7") < \
            body["alerts"][0]["annotations"]["logs"].index("panic: boom")

        # still firing while the panic is in the window; resolved once the window has passed
        assert [a.labels["alertname"] for a in evaluate(mgr, T0 + 25)] == []  # resend_delay not over yet
        later = [a for a in evaluate(mgr, T0 + 70) if a.labels["alertname"] == "Panic"]
        assert len(later) == 1 and later[0].resolved(T0 + 70) and later[0].ends_at == T0 + 70
        assert later[0].annotations["logs"] == alert.annotations["logs"]  # the same lines, not re-read
        n.send(later, now=T0 + 70)
        n.tick(T0 + 72)
        asyncio.run(_deliver(n))
        bodies = receiver.wait_for(2)
        assert bodies[1]["status"] == "resolved" and "panic: boom" in bodies[1]["alerts"][0]["annotations"]["logs"]
        n.close()
    finally:
        receiver.stop()


def test_logs_and_metrics_rule_fires_only_when_both_hold(tmp_path: Path, tsdb: TSDB,
                                                         store: SQLiteLogStore) -> None:
    sent: list[Alert] = []
    mgr = manager(tmp_path, tsdb, store, sent)
    store.append([rec("x", T0 + 5, "panic: first"), rec("y", T0 + 5, "all good")])
    memory(tsdb, T0, x=5e8, y=2e9)
    names = lambda alerts: sorted((a.labels["alertname"], a.labels["name"]) for a in alerts)
    assert names(evaluate(mgr, T0 + 10)) == [("Panic", "x")]  # x panics but is small; y is big, no panic
    memory(tsdb, T0 + 20, x=2e9, y=2e9)
    fired = evaluate(mgr, T0 + 30)
    assert names(fired) == [("PanicAndBig", "x")]  # Panic was sent at +10 and waits for resend_delay
    [both] = fired
    assert both.labels["stream"] == "stdout" and "image" not in both.labels  # `and` keeps the LogQL side's labels
    assert "panic: first" in both.annotations["logs"]


def test_redaction_and_size_cap() -> None:
    assert rfc3339_ns(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"
    assert redact("AKIAIOSFODNN7EXAMPLE used") == "[REDACTED] used"
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    assert redact(f"token {jwt} ok") == "token [REDACTED] ok"
    assert redact('{"password": "s3cr3t", "user": "bob"}') == '{"password": "[REDACTED]", "user": "bob"}'
    assert redact("GET https://bob:pa55@example.com/x") == "GET https://bob:[REDACTED]@example.com/x"
    assert redact("api_key=abc123&x=1 secret: xyz") == "api_key=[REDACTED]&x=1 secret: [REDACTED]"
    assert redact("nothing to hide here") == "nothing to hide here"
    recs = [rec("x", T0 + i, f"line {i:03d} " + "x" * 90) for i in range(100)]
    text = format_lines(recs, 4096)
    assert len(text.encode()) <= 4096
    out = text.split("\n")
    assert out[0].startswith("[") and out[0].endswith("older lines cut]")
    assert out[-1].split(" ")[2:4] == ["line", "099"]  # the newest kept, the oldest cut
    cut = int(out[0].strip("[").split()[0])
    assert cut + len(out) - 1 == 100
    huge = format_lines([rec("x", T0, "y" * 10_000)], 4096)
    assert len(huge.encode()) <= 4096 and huge.endswith("[...]")
