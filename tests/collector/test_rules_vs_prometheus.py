"""pydock's default rule file, loaded into real Prometheus (Debian's package) and into the collector,
fires the same alerts (names and labels) for the same data: both scrape one exporter that serves the
agent's metric names, plus a target that is down."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_helpers import Peer, free_port, wait_until
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings

pytestmark = pytest.mark.peer
REPO = Path(__file__).resolve().parents[2]
PROMETHEUS = shutil.which("prometheus")
EXPECTED = {"ContainerDown", "ContainerRestarting", "ContainerOOMKilled", "ContainerMemoryNearLimit",
            "ContainerCPUThrottled", "ContainerLogsDropped", "TargetDown"}


class FakeAgent:
    """Series with the agent's names; counters grow with time so rate/increase see movement."""

    def __init__(self) -> None:
        self.start = time.time()

    def collect(self) -> Iterator[Any]:
        t = time.time() - self.start
        pyd = ["container_id", "image", "name"]
        cad = ["id", "image", "name"]
        state = GaugeMetricFamily("pydock_container_state", "s", labels=pyd + ["state"])
        state.add_metric(["c1", "busybox", "web", "exited"], 1)
        state.add_metric(["c1", "busybox", "web", "running"], 0)
        state.add_metric(["c2", "busybox", "db", "running"], 1)
        yield state
        restarts = CounterMetricFamily("pydock_container_restarts", "r", labels=pyd)
        restarts.add_metric(["c2", "busybox", "db"], 10 * t)
        yield restarts
        dropped = CounterMetricFamily("pydock_log_dropped_messages", "d", labels=pyd + ["driver"])
        dropped.add_metric(["c2", "busybox", "db", "json-file"], 3 * t)
        dropped.add_metric(["c1", "busybox", "web", "json-file"], 0)
        yield dropped
        oom = CounterMetricFamily("container_oom_events", "o", labels=cad)
        oom.add_metric(["/pydock/c2", "busybox", "db"], int(t))
        oom.add_metric(["/pydock/c3", "busybox", "cache"], 0)
        yield oom
        ws = GaugeMetricFamily("container_memory_working_set_bytes", "w", labels=cad)
        lim = GaugeMetricFamily("container_spec_memory_limit_bytes", "l", labels=cad)
        for cid, name, used, limit in (("/pydock/c2", "db", 950, 1000), ("/pydock/c3", "cache", 100, 1000),
                                       ("/pydock/c4", "nolimit", 100, 0)):
            ws.add_metric([cid, "busybox", name], used)
            lim.add_metric([cid, "busybox", name], limit)
        yield ws
        yield lim
        thr = CounterMetricFamily("container_cpu_cfs_throttled_periods", "t", labels=cad)
        per = CounterMetricFamily("container_cpu_cfs_periods", "p", labels=cad)
        thr.add_metric(["/pydock/c2", "busybox", "db"], 5 * t)
        per.add_metric(["/pydock/c2", "busybox", "db"], 10 * t)
        thr.add_metric(["/pydock/c3", "busybox", "cache"], 0.1 * t)
        per.add_metric(["/pydock/c3", "busybox", "cache"], 10 * t)
        yield thr
        yield per


def firing(alerts: list[dict[str, Any]]) -> set[frozenset[tuple[str, str]]]:
    return {frozenset(a["labels"].items()) for a in alerts if a["state"] == "firing"}


def test_same_rules_same_alerts(tmp_path: Path) -> None:
    if PROMETHEUS is None:
        pytest.fail("prometheus is not installed (scripts/setup-test-env installs it)")
    rules = (REPO / "dashboards" / "prometheus" / "rules.yml").read_text()
    (tmp_path / "rules.yml").write_text(re.sub(r"for: \d+m", "for: 2s", rules))  # seconds, not minutes
    reg = CollectorRegistry()
    reg.register(FakeAgent())  # type: ignore[arg-type]
    port, dead, prom_port = free_port(), free_port(), free_port()
    server, _ = start_http_server(port, "127.0.0.1", registry=reg)
    cfg = f"""global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}
rule_files: [rules.yml]
scrape_configs:
  - job_name: agent
    static_configs: [{{targets: ['127.0.0.1:{port}'], labels: {{host: h1}}}}]
  - job_name: gone
    static_configs: [{{targets: ['127.0.0.1:{dead}']}}]
"""
    (tmp_path / "prometheus.yml").write_text(cfg)
    (tmp_path / "collector.yml").write_text(cfg)
    prom = Peer([PROMETHEUS, f"--config.file={tmp_path / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{prom_port}",
                 f"--web.external-url=http://127.0.0.1:{prom_port}"], str(tmp_path / "prometheus.log"))
    try:
        prom.wait_ready(f"http://127.0.0.1:{prom_port}/-/ready")
        settings = CollectorSettings(config_path=tmp_path / "collector.yml", data_dir=tmp_path / "data")
        with TestClient(create_app(settings)) as client:
            def both() -> tuple[set[Any], set[Any]] | None:
                theirs = firing(httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/alerts").json()["data"]["alerts"])
                ours = firing(client.get("/api/v1/alerts").json()["data"]["alerts"])
                names = {dict(a)["alertname"] for a in theirs}
                return (theirs, ours) if names == EXPECTED and theirs == ours else None

            try:
                theirs, ours = wait_until(both, timeout=40, step=0.5)
            except AssertionError:
                theirs = firing(httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/alerts").json()["data"]["alerts"])
                ours = firing(client.get("/api/v1/alerts").json()["data"]["alerts"])
                pytest.fail(f"only Prometheus: {theirs - ours}\nonly collector: {ours - theirs}")
            assert {dict(a)["alertname"] for a in ours} == EXPECTED
            down = [dict(a) for a in ours if dict(a)["alertname"] == "ContainerDown"]
            assert down == [{"alertname": "ContainerDown", "container_id": "c1", "image": "busybox", "name": "web",
                             "state": "exited", "severity": "warning", "instance": f"127.0.0.1:{port}",
                             "job": "agent", "host": "h1"}]
            # nothing fired for the healthy containers (cache, nolimit)
            assert not any(dict(a).get("name") in ("cache", "nolimit") for a in ours)
            # the API shapes: the same keys in groups, rules and alerts, and the same values where
            # they do not depend on timing
            prom_groups = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/rules").json()["data"]["groups"]
            our_groups = client.get("/api/v1/rules").json()["data"]["groups"]
            assert [g["name"] for g in our_groups] == [g["name"] for g in prom_groups]
            for theirs_g, ours_g in zip(prom_groups, our_groups):
                assert set(ours_g) == set(theirs_g)
                assert ours_g["interval"] == theirs_g["interval"] and ours_g["limit"] == theirs_g["limit"]
                for tr, orl in zip(theirs_g["rules"], ours_g["rules"]):
                    assert set(orl) == set(tr), (orl["name"], set(orl) ^ set(tr))
                    for key in ("name", "query", "duration", "labels", "annotations", "health", "type", "state"):
                        assert orl[key] == tr[key], (orl["name"], key)
                    assert len(orl["alerts"]) == len(tr["alerts"]), orl["name"]
                    for ta, oa in zip(tr["alerts"], orl["alerts"]):
                        assert set(oa) == set(ta)
            prom_targets = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/targets").json()["data"]
            our_targets = client.get("/api/v1/targets").json()["data"]
            assert set(our_targets) == set(prom_targets)
            for tt, ot in zip(prom_targets["activeTargets"], our_targets["activeTargets"]):
                assert set(ot) == set(tt), set(ot) ^ set(tt)
                for key in ("discoveredLabels", "labels", "scrapePool", "scrapeUrl", "health", "scrapeInterval",
                            "scrapeTimeout"):
                    assert ot[key] == tt[key], key
    finally:
        prom.stop()
        server.shutdown()
        server.server_close()
