"""The whole collector through its ASGI app: scrape a real exporter, fire a rule, notify a webhook,
resolve; the status API's shapes; silences; reload good and bad; a restart with a notification pending."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from collector_helpers import WebhookReceiver, free_port, wait_until
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings
from pydock.collector.notify.model import fingerprint_hex, go_time, parse_go_time

from pydock.errors import ConfigError

RULES = """groups:
  - name: temps
    interval: 1s
    rules:
      - alert: Hot
        expr: temp > 40
        labels: {severity: page}
        annotations: {summary: "{{ $labels.room }} is {{ $value }} degrees"}
"""


def config(exporter: str, hook: str, extra_job: str = "") -> str:
    return f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels: {{site: lab}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['{exporter}']}}]
{extra_job}
rule_files: [rules.yml]
alerting:
  resend_delay: 1s
  retry: {{initial: 200ms, max: 500ms}}
  receivers:
    - name: hook
      webhook_configs: [{{url: '{hook}'}}]
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
"""


@pytest.fixture
def exporter() -> Iterator[tuple[str, Gauge]]:
    reg = CollectorRegistry()
    g = Gauge("temp", "temperature", ["room"], registry=reg)
    port = free_port()
    server, _ = start_http_server(port, "127.0.0.1", registry=reg)
    try:
        yield f"127.0.0.1:{port}", g
    finally:
        server.shutdown()
        server.server_close()


def settings(tmp_path: Path, token: str | None = None) -> CollectorSettings:
    return CollectorSettings(config_path=tmp_path / "collector.yml", data_dir=tmp_path / "data",
                             listen="127.0.0.1:9339", token=token, enable_lifecycle=True)


def test_scrape_alert_notify_resolve(tmp_path: Path, exporter: tuple[str, Gauge], webhook: WebhookReceiver) -> None:
    address, temp = exporter
    temp.labels("lab1").set(55)
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "collector.yml").write_text(config(address, webhook.url))
    with TestClient(create_app(settings(tmp_path))) as client:
        assert client.get("/-/ready").status_code == 200
        [body] = webhook.wait_for(1, timeout=15)
        assert set(body) == {"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels",
                             "commonLabels", "commonAnnotations", "externalURL", "alerts"}
        assert body["status"] == "firing" and body["groupKey"] == '{}:{alertname="Hot"}'
        assert body["externalURL"] == "http://127.0.0.1:9339"
        labels = {"alertname": "Hot", "room": "lab1", "severity": "page", "job": "app", "instance": address,
                  "site": "lab"}
        [alert] = body["alerts"]
        assert alert["labels"] == labels and alert["annotations"] == {"summary": "lab1 is 55 degrees"}
        assert alert["endsAt"] == "0001-01-01T00:00:00Z" and alert["fingerprint"] == fingerprint_hex(labels)
        assert alert["generatorURL"].startswith("http://127.0.0.1:9339/graph?g0.expr=temp+%3E+40")
        # Prometheus's API shapes
        targets = client.get("/api/v1/targets").json()
        [t] = targets["data"]["activeTargets"]
        assert targets["status"] == "success" and targets["data"]["droppedTargets"] == []
        assert t["health"] == "up" and t["labels"] == {"job": "app", "instance": address}
        assert t["scrapeUrl"] == f"http://{address}/metrics" and t["scrapeInterval"] == "1s"
        assert t["discoveredLabels"]["__address__"] == address and t["scrapePool"] == "app"
        alerts = client.get("/api/v1/alerts").json()["data"]["alerts"]
        assert [(a["labels"], a["state"]) for a in alerts] == [({k: v for k, v in labels.items() if k != "site"},
                                                                 "firing")]
        [group] = client.get("/api/v1/rules").json()["data"]["groups"]
        assert group["name"] == "temps" and group["file"] == str(tmp_path / "rules.yml")
        assert group["rules"][0]["state"] == "firing" and group["rules"][0]["health"] == "ok"
        assert client.get("/api/v1/rules", params={"type": "record"}).json()["data"]["groups"][0]["rules"] == []
        assert client.get("/api/v1/status/buildinfo").json()["data"]["version"] == "2.42.0"
        assert "job_name: app" in client.get("/api/v1/status/config").json()["data"]["yaml"]
        assert client.get("/api/v1/status/runtimeinfo").json()["data"]["reloadConfigSuccess"] is True
        am_alerts = client.get("/api/v2/alerts").json()
        assert [a["fingerprint"] for a in am_alerts] == [fingerprint_hex(labels)]
        # the condition ends: a resolved notification
        temp.labels("lab1").set(20)
        bodies = wait_until(lambda: [b for b in webhook.bodies if b["status"] == "resolved"], timeout=15)
        assert bodies[0]["alerts"][0]["status"] == "resolved"
        assert bodies[0]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
        # repeat_interval is 1h: no firing notification was repeated meanwhile
        assert [b["status"] for b in webhook.bodies] == ["firing", "resolved"]


def test_silences_api(tmp_path: Path) -> None:
    (tmp_path / "collector.yml").write_text("")
    with TestClient(create_app(settings(tmp_path, token="t0k"))) as client:
        body = {"matchers": [{"name": "alertname", "value": "Hot", "isRegex": False}],
                "startsAt": go_time(time.time()), "endsAt": go_time(time.time() + 3600),
                "createdBy": "test", "comment": "maintenance"}
        assert client.post("/api/v2/silences", json=body).status_code == 401  # writes need the token
        auth = {"Authorization": "Bearer t0k"}
        sid = client.post("/api/v2/silences", json=body, headers=auth).json()["silenceID"]
        [s] = client.get("/api/v2/silences").json()
        assert s["id"] == sid and s["status"] == {"state": "active"} and s["comment"] == "maintenance"
        assert s["matchers"] == [{"name": "alertname", "value": "Hot", "isRegex": False, "isEqual": True}]
        assert client.get(f"/api/v2/silence/{sid}").json()["id"] == sid
        assert [x["id"] for x in client.get("/api/v2/silences", params={"filter": 'alertname="Hot"'}).json()] == [sid]
        assert client.get("/api/v2/silences", params={"filter": 'alertname="Cold"'}).json() == []
        bad = dict(body, endsAt=go_time(time.time() - 10))
        assert client.post("/api/v2/silences", json=bad, headers=auth).status_code == 400
        assert client.delete(f"/api/v2/silence/{sid}", headers=auth).status_code == 200
        assert client.get(f"/api/v2/silence/{sid}").json()["status"]["state"] == "expired"
        assert client.delete("/api/v2/silence/nope", headers=auth).status_code == 404


def test_reload_refuses_bad_config_and_keeps_the_running_one(tmp_path: Path, exporter: tuple[str, Gauge],
                                                             webhook: WebhookReceiver) -> None:
    address, _ = exporter
    (tmp_path / "rules.yml").write_text(RULES)
    cfg = tmp_path / "collector.yml"
    cfg.write_text(config(address, webhook.url))
    with TestClient(create_app(settings(tmp_path))) as client:
        cfg.write_text(config(address, webhook.url).replace("scrape_interval: 1s", "scrape_interval: 1 s", 1))
        resp = client.post("/-/reload")
        assert resp.status_code == 500 and f"{cfg}:2: scrape_interval: not a valid duration" in resp.text
        (tmp_path / "rules.yml").write_text(RULES.replace("temp > 40", "temp >"))
        cfg.write_text(config(address, webhook.url))
        resp = client.post("/-/reload")
        assert resp.status_code == 500 and f"{tmp_path / 'rules.yml'}:6: could not parse expression" in resp.text
        jobs = [t["scrapePool"] for t in client.get("/api/v1/targets").json()["data"]["activeTargets"]]
        assert jobs == ["app"]
        assert client.get("/api/v1/rules").json()["data"]["groups"][0]["rules"][0]["query"] == "temp > 40"
        (tmp_path / "rules.yml").write_text(RULES.replace("temp > 40", "temp > 45"))
        extra = f"  - job_name: second\n    static_configs: [{{targets: ['{address}']}}]\n"
        cfg.write_text(config(address, webhook.url, extra))
        assert client.post("/-/reload").status_code == 200
        jobs = [t["scrapePool"] for t in client.get("/api/v1/targets").json()["data"]["activeTargets"]]
        assert jobs == ["app", "second"]
        assert client.get("/api/v1/rules").json()["data"]["groups"][0]["rules"][0]["query"] == "temp > 45"


def test_bad_config_refused_at_start(tmp_path: Path) -> None:
    (tmp_path / "collector.yml").write_text("scrape_configs:\n  - job_name: a\n    scheme: gopher\n")
    with pytest.raises(ConfigError, match=r"collector\.yml:3: unknown scheme"):
        create_app(settings(tmp_path))


def test_notification_pending_across_a_collector_restart(tmp_path: Path, exporter: tuple[str, Gauge]) -> None:
    address, temp = exporter
    temp.labels("lab2").set(99)
    receiver = WebhookReceiver()  # down while the first collector runs
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "collector.yml").write_text(config(address, receiver.url))
    with TestClient(create_app(settings(tmp_path))) as client:
        wait_until(lambda: client.get("/api/v1/alerts").json()["data"]["alerts"], timeout=15)
        notifier = client.app.state.notifier  # type: ignore[attr-defined]
        wait_until(lambda: any(i.attempts > 0 for i in notifier.store.pending()), timeout=15)
    temp.labels("lab2").set(0)  # the alert ends while the collector is down
    receiver.start()
    try:
        with TestClient(create_app(settings(tmp_path))):
            bodies = receiver.wait_for(1, timeout=15)
            assert bodies[0]["status"] == "firing" and bodies[0]["alerts"][0]["labels"]["room"] == "lab2"
    finally:
        receiver.stop()


def test_grouping_and_repeat_end_to_end(tmp_path: Path, exporter: tuple[str, Gauge],
                                        webhook: WebhookReceiver) -> None:
    address, temp = exporter
    temp.labels("r1").set(50)
    temp.labels("r2").set(60)
    temp.labels("r3").set(10)
    (tmp_path / "rules.yml").write_text(RULES)
    (tmp_path / "collector.yml").write_text(
        config(address, webhook.url).replace("repeat_interval: 1h", "repeat_interval: 2s")
        .replace("group_wait: 0s", "group_wait: 2s"))
    with TestClient(create_app(settings(tmp_path))):
        bodies = webhook.wait_for(2, timeout=20)
        first, second = bodies[0], bodies[1]
        # both hot rooms in one notification of the alertname group (group_wait let them gather)
        assert sorted(a["labels"]["room"] for a in first["alerts"]) == ["r1", "r2"]
        assert first["groupLabels"] == {"alertname": "Hot"}
        assert first["commonLabels"] == {"alertname": "Hot", "severity": "page", "job": "app",
                                         "instance": address, "site": "lab"}
        assert first["commonAnnotations"] == {}  # the summaries differ
        # nothing changed: the same group again once repeat_interval passed
        assert [a["fingerprint"] for a in second["alerts"]] == [a["fingerprint"] for a in first["alerts"]]
        assert second["status"] == "firing"  # (the exact repeat timing is tested with a fixed clock)


def test_forwarding_resends_firing_alerts_like_prometheus(tmp_path: Path, exporter: tuple[str, Gauge],
                                                          webhook: WebhookReceiver) -> None:
    """An `alertmanager_configs` receiver gets what Prometheus would POST to /api/v2/alerts: the firing
    alert again every resend delay with endsAt = send time + 4 x max(resend delay, interval), then
    the resolved alert with endsAt = its resolve time. (The webhook stands in for Alertmanager here;
    test_alertmanager.py uses the real one.)"""
    address, temp = exporter
    temp.labels("lab3").set(70)
    (tmp_path / "rules.yml").write_text(RULES)
    am_base = webhook.url.rsplit("/", 1)[0]
    (tmp_path / "collector.yml").write_text(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['{address}']}}]
rule_files: [rules.yml]
alerting:
  resend_delay: 1s
  receivers: [{{name: am, alertmanager_configs: [{{url: '{am_base}'}}]}}]
  route: {{receiver: am}}
""")
    def sends() -> list[tuple[dict[str, Any], float]]:
        return [(r["body"][0], r["time"]) for r in list(webhook.requests)]

    with TestClient(create_app(settings(tmp_path))):
        webhook.wait_for(3, timeout=20)
        temp.labels("lab3").set(0)
        wait_until(lambda: [a for a, t in sends() if parse_go_time(a["endsAt"]) <= t], timeout=20)
    assert all(r["path"] == "/api/v2/alerts" and len(r["body"]) == 1 for r in webhook.requests)
    firing = [(a, t) for a, t in sends() if parse_go_time(a["endsAt"]) > t]
    resolved = [a for a, t in sends() if parse_go_time(a["endsAt"]) <= t]
    assert len(firing) >= 3 and resolved
    assert len({a["startsAt"] for a, _ in firing + [(resolved[0], 0)]}) == 1  # one alert, re-sent
    for a, t in firing:
        assert a["labels"]["alertname"] == "Hot"
        assert set(a) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        # ValidUntil = evaluation time + 4 x max(resend_delay 1s, interval 1s), and it was sent after that
        assert parse_go_time(a["endsAt"]) <= t + 4.0 + 1e-3
    ends = [parse_go_time(a["endsAt"]) for a, _ in firing]
    assert ends == sorted(ends) and len(set(ends)) == len(ends)  # each re-send moves endsAt on


def test_status_config_shows_the_running_config_without_secrets(tmp_path: Path) -> None:
    # Prometheus's /api/v1/status/config prints the loaded config with secrets as <secret>; the
    # collector's webhook URLs, passwords and bearer tokens must not leak to anyone who can read.
    cfg = tmp_path / "collector.yml"
    cfg.write_text("""alerting:
  receivers:
    - name: hook
      webhook_configs:
        - url: 'https://hooks.example/T0K3N-PATH'
          http_config: {basic_auth: {username: bob, password: pw-s3cret}}
        - {url: 'http://h/x', http_config: {bearer_token: bt-s3cret}}
    - name: am
      alertmanager_configs: [{url: 'http://amuser:am-s3cret@am.example:9093'}]
  route: {receiver: hook}
scrape_configs:
  - job_name: running
""")
    with TestClient(create_app(settings(tmp_path))) as client:
        shown = client.get("/api/v1/status/config").json()["data"]["yaml"]
        for secret in ("T0K3N-PATH", "pw-s3cret", "bt-s3cret", "am-s3cret"):
            assert secret not in shown
        assert "job_name: running" in shown and "username: bob" in shown and "<secret>" in shown
        assert "am.example:9093" in shown
        cfg.write_text("scrape_configs: [{job_name: broken, scheme: gopher}]\n")
        assert client.post("/-/reload").status_code == 500
        assert client.get("/api/v1/status/config").json()["data"]["yaml"] == shown  # still the running one
