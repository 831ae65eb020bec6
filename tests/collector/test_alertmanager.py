"""The collector forwards alerts to a real Alertmanager (Debian's prometheus-alertmanager), which
delivers them to a webhook receiver of the test; the collector's own webhook payload for the same
alerts matches Alertmanager's field for field (fingerprints included)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from collector_helpers import Peer, WebhookReceiver, free_port, wait_until
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Gauge, start_http_server
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings
from pydock.collector.notify.dispatch import webhook_payload
from pydock.collector.notify.model import Alert, fingerprint_hex, go_time, sort_key

pytestmark = pytest.mark.peer
AM = shutil.which("prometheus-alertmanager")


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: WebhookReceiver) -> Iterator[str]:
    if AM is None:
        pytest.fail("prometheus-alertmanager is not installed (scripts/setup-test-env installs it)")
    port = free_port()
    (tmp_path / "am.yml").write_text(f"""route:
  receiver: ops.hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ops.hook
    webhook_configs: [{{url: '{webhook.url}'}}]
""")
    peer = Peer([AM, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'am'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                 f"--web.external-url=http://127.0.0.1:{port}"], str(tmp_path / "am.log"))
    try:
        peer.wait_ready(f"http://127.0.0.1:{port}/-/ready")
        yield f"http://127.0.0.1:{port}"
    finally:
        peer.stop()


def test_collector_forwards_to_alertmanager(tmp_path: Path, alertmanager: str, webhook: WebhookReceiver) -> None:
    reg = CollectorRegistry()
    g = Gauge("disk_used_ratio", "d", ["mount"], registry=reg)
    g.labels("/").set(0.97)
    g.labels("/var").set(0.99)
    port = free_port()
    server, _ = start_http_server(port, "127.0.0.1", registry=reg)
    direct = WebhookReceiver().start()  # the collector's own webhook, for comparison
    try:
        (tmp_path / "rules.yml").write_text("""groups:
  - name: disks
    interval: 1s
    rules:
      - alert: DiskFull
        expr: disk_used_ratio > 0.95
        labels: {severity: critical}
        annotations: {summary: "{{ $labels.mount }} at {{ $value | humanizePercentage }}"}
""")
        (tmp_path / "collector.yml").write_text(f"""global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: disks
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
rule_files: [rules.yml]
alerting:
  resend_delay: 1s
  retry: {{initial: 200ms, max: 1s}}
  receivers:
    - name: am
      alertmanager_configs: [{{url: '{alertmanager}'}}]
    - name: ops.hook
      webhook_configs: [{{url: '{direct.url}'}}]
  route:
    receiver: am
    routes:
      - {{receiver: ops.hook, matchers: ['alertname=~".+"'], group_by: [alertname], group_wait: 1s,
         group_interval: 1s, continue: true}}
      - {{receiver: am, matchers: ['alertname=~".+"']}}
""")
        settings = CollectorSettings(config_path=tmp_path / "collector.yml", data_dir=tmp_path / "data")
        with TestClient(create_app(settings)):
            def firing_with_both(bodies: list[dict]) -> dict | None:
                for b in bodies:
                    if b["status"] == "firing" and len(b["alerts"]) == 2:
                        return b
                return None

            am_body = wait_until(lambda: firing_with_both(webhook.bodies), timeout=30)
            our_body = wait_until(lambda: firing_with_both(direct.bodies), timeout=10)
            assert am_body["version"] == "4" and am_body["receiver"] == r"ops\.hook"  # QuoteMeta'd (a quirk)
            assert am_body["groupKey"] == '{}:{alertname="DiskFull"}'
            assert am_body["externalURL"] == alertmanager
            for a in am_body["alerts"]:
                # Alertmanager's own fingerprint equals ours
                assert a["fingerprint"] == fingerprint_hex(a["labels"])
                assert a["endsAt"] == "0001-01-01T00:00:00Z"
                assert a["labels"]["job"] == "disks" and a["labels"]["severity"] == "critical"
            # field for field the same notification, apart from who sent it
            for key in ("receiver", "status", "groupLabels", "commonLabels", "commonAnnotations", "truncatedAlerts", "version"):
                assert our_body[key] == am_body[key], key
            assert our_body["alerts"] == am_body["alerts"]
            assert our_body["groupKey"] == '{}/{alertname=~".+"}:{alertname="DiskFull"}'
            # one mount recovers: Alertmanager reports it resolved, with its end time
            g.labels("/var").set(0.5)

            def resolved_var(bodies: list[dict]) -> dict | None:
                for b in bodies:
                    for a in b["alerts"]:
                        if a["status"] == "resolved" and a["labels"]["mount"] == "/var":
                            return a
                return None

            a = wait_until(lambda: resolved_var(webhook.bodies), timeout=30)
            assert a["endsAt"] != "0001-01-01T00:00:00Z"
            ours = wait_until(lambda: resolved_var(direct.bodies), timeout=10)
            assert ours["fingerprint"] == a["fingerprint"] and ours["endsAt"] == a["endsAt"]
            time.sleep(0.1)
    finally:
        direct.stop()
        server.shutdown()
        server.server_close()


def test_alert_order_and_group_key_match_alertmanager(alertmanager: str, webhook: WebhookReceiver) -> None:
    # Alertmanager orders a notification's alerts by job, instance, then LabelSet.Before (fewer labels
    # first, ...); the collector's webhook must list them in the same order (max_alerts keeps a prefix).
    sets = [{"alertname": "Ord", "a": "1", "c": "1"}, {"alertname": "Ord", "b": "1", "c": "1"},
            {"alertname": "Ord", "z": "9"}, {"alertname": "Ord", "job": "j", "x": "1"},
            {"alertname": "Ord", "a": "1", "c": "2", "d": "1"}, {"alertname": "Ord", "a": "1", "c": "1", "d": "1"},
            {"alertname": "Ord", "instance": "i", "y": "1"}]
    now = time.time()
    resp = httpx.post(alertmanager + "/api/v2/alerts", timeout=10, json=[
        {"labels": s, "startsAt": go_time(now - 5), "endsAt": go_time(now + 300)} for s in sets])
    assert resp.status_code == 200, resp.text
    body = wait_until(lambda: next((b for b in webhook.bodies if len(b["alerts"]) == len(sets)), None), timeout=20)
    ours = [Alert(s, {}, now - 5, now + 300) for s in sets]
    payload = webhook_payload("ops.hook", body["groupKey"], {"alertname": "Ord"}, sorted(ours, key=sort_key),
                              alertmanager, 0, now)
    assert [a["labels"] for a in payload["alerts"]] == [a["labels"] for a in body["alerts"]]  # type: ignore[union-attr]
    assert [a["fingerprint"] for a in payload["alerts"]] == [a["fingerprint"] for a in body["alerts"]]  # type: ignore[union-attr]
    assert body["groupKey"] == '{}:{alertname="Ord"}'
