"""Scraping a real exporter (prometheus_client's HTTP server): labels, report series, staleness, file_sd."""

from __future__ import annotations

import asyncio
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from collector_helpers import free_port
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from pydock.collector.config import load_config
from pydock.collector.exposition import ParseError, parse_exposition
from pydock.collector.scrape import ScrapeLoop, ScrapeManager, Target, mutate_labels, target_labels
from pydock.collector.tsdb import is_stale_nan

Samples = list[tuple[dict[str, str], int, float]]


class Exporter:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", registry=self.registry)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    e = Exporter()
    try:
        yield e
    finally:
        e.stop()


def job_config(tmp_path: Path, body: str) -> object:
    p = tmp_path / "c.yml"
    p.write_text(body)
    return load_config(p)


def make_loop(tmp_path: Path, address: str, honor: bool = False) -> tuple[ScrapeLoop, Samples]:
    cfg = job_config(tmp_path, f"""scrape_configs:
  - job_name: app
    scrape_interval: 1s
    scrape_timeout: 500ms
    honor_labels: {str(honor).lower()}
    static_configs: [{{targets: ['{address}'], labels: {{env: test}}}}]
""")
    job = cfg.scrape_configs[0]  # type: ignore[attr-defined]
    discovered, labels = target_labels(job, address, job.static_configs[0].labels)
    out: Samples = []
    return ScrapeLoop(Target(job, address, discovered, labels), out.extend), out


def scrape(loop: ScrapeLoop, now: float) -> None:
    async def go() -> None:
        async with httpx.AsyncClient() as client:
            await loop.scrape_once(client, now=now)
    asyncio.run(go())


def by_name(samples: Samples, name: str) -> list[tuple[dict[str, str], int, float]]:
    return [s for s in samples if s[0]["__name__"] == name]


def test_scrape_labels_report_series_and_staleness(tmp_path: Path, exporter: Exporter) -> None:
    g = Gauge("queue_depth", "depth", ["queue", "job"], registry=exporter.registry)
    g.labels("a", "exporter-job").set(3)
    g.labels("b", "exporter-job").set(4)
    c = Counter("requests", "reqs", registry=exporter.registry)
    c.inc(5)
    loop, out = make_loop(tmp_path, exporter.address)
    scrape(loop, 1000.0)
    depth = sorted(by_name(out, "queue_depth"), key=lambda s: s[0]["queue"])
    assert depth[0][0] == {"__name__": "queue_depth", "queue": "a", "job": "app",
                                        "exported_job": "exporter-job", "instance": exporter.address, "env": "test"}
    assert [(s[1], s[2]) for s in depth] == [(1_000_000, 3.0), (1_000_000, 4.0)]
    assert by_name(out, "requests_total")[0][2] == 5.0  # OpenMetrics was negotiated and parsed
    assert by_name(out, "up") == [({"__name__": "up", "job": "app", "instance": exporter.address, "env": "test"},
                                   1_000_000, 1.0)]
    scraped = by_name(out, "scrape_samples_scraped")[0][2]
    assert scraped == len([s for s in out if s[0]["__name__"] not in {
        "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
        "scrape_series_added"}])
    assert by_name(out, "scrape_series_added")[0][2] == scraped
    assert loop.target.health == "up" and loop.target.last_error == ""
    # a series that vanishes gets the stale marker at the next scrape's timestamp
    g.remove("b", "exporter-job")
    out.clear()
    scrape(loop, 1001.0)
    stale = [s for s in out if is_stale_nan(s[2])]
    assert [(s[0]["__name__"], s[0]["queue"], s[1]) for s in stale] == [("queue_depth", "b", 1_001_000)]
    assert by_name(out, "scrape_series_added")[0][2] == 0
    # the exporter goes away: up = 0 and every series it had is stale
    exporter.stop()
    out.clear()
    scrape(loop, 1002.0)
    assert by_name(out, "up")[0][2] == 0.0 and loop.target.health == "down" and loop.target.last_error
    assert len([s for s in out if is_stale_nan(s[2])]) == scraped - 1
    assert all(not math.isnan(s[2]) or is_stale_nan(s[2]) for s in out)
    exporter.server, _ = start_http_server(exporter.port, "127.0.0.1", registry=exporter.registry)


def test_honor_labels_keeps_the_exporters_values(tmp_path: Path, exporter: Exporter) -> None:
    Gauge("federated", "f", ["job", "instance"], registry=exporter.registry).labels("other", "x:1").set(1)
    loop, out = make_loop(tmp_path, exporter.address, honor=True)
    scrape(loop, 1000.0)
    [s] = by_name(out, "federated")
    assert s[0] == {"__name__": "federated", "job": "other", "instance": "x:1", "env": "test"}


def test_label_rules() -> None:
    assert mutate_labels({"job": "a", "exported_job": "b"}, {"job": "t"}, False) == {
        "job": "t", "exported_job": "b", "exported_exported_job": "a"}
    assert mutate_labels({"x": ""}, {"job": "t", "instance": "i"}, False) == {"job": "t", "instance": "i"}


def test_parser_text_and_openmetrics() -> None:
    text = ('# HELP x help\n# TYPE x counter\nx{a="q\\"uote",b="new\\nline"} 1.5 1700000000000\n'
            'y +Inf\nz NaN\nw{} -2e3\n')
    got = list(parse_exposition(text))
    assert got[0] == ({"__name__": "x", "a": 'q"uote', "b": "new\nline"}, 1.5, 1700000000000)
    assert got[1][1] == math.inf and math.isnan(got[2][1]) and got[3] == ({"__name__": "w"}, -2000.0, None)
    om = 'a_total 3 1700000000.25 # {trace_id="x"} 1 1700000000\n# EOF\nignored 1\n'
    assert list(parse_exposition(om, openmetrics=True)) == [({"__name__": "a_total"}, 3.0, 1700000000250)]
    with pytest.raises(ParseError, match="line 2"):
        list(parse_exposition("ok 1\nbad{a=1} 2\n"))


def test_file_sd_is_reread_on_change(tmp_path: Path, exporter: Exporter) -> None:
    Gauge("g", "g", registry=exporter.registry).set(1)
    sd = tmp_path / "targets.json"
    sd.write_text(json.dumps([{"targets": [exporter.address], "labels": {"team": "a"}}]))
    cfg = job_config(tmp_path, """scrape_configs:
  - job_name: sd
    scrape_interval: 1s
    scrape_timeout: 1s
    file_sd_configs: [{files: ['*.json']}]
""")
    out: Samples = []

    async def go() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        mgr = ScrapeManager(out.extend)
        stop = asyncio.Event()
        watcher = asyncio.create_task(mgr.watch_sd(stop, poll=0.05))
        try:
            await mgr.apply(cfg)  # type: ignore[arg-type]
            first = [t.labels for t in mgr.targets()]
            sd.write_text(json.dumps([{"targets": [exporter.address], "labels": {"team": "b"}}]))
            for _ in range(100):
                await asyncio.sleep(0.05)
                if [t.labels.get("team") for t in mgr.targets()] == ["b"]:
                    break
            second = [t.labels for t in mgr.targets()]
            for _ in range(100):  # the new target gets scraped
                if any(s[0].get("team") == "b" and s[0]["__name__"] == "g" for s in out):
                    break
                await asyncio.sleep(0.05)
            return first, second
        finally:
            stop.set()
            await watcher
            await mgr.close()

    first, second = asyncio.run(go())
    assert first == [{"team": "a", "job": "sd", "instance": exporter.address}]
    assert second == [{"team": "b", "job": "sd", "instance": exporter.address}]
    assert any(s[0].get("team") == "b" and s[0]["__name__"] == "g" for s in out)
    # the old target's series ended with stale markers when it went away
    assert any(s[0].get("team") == "a" and s[0]["__name__"] == "up" and is_stale_nan(s[2]) for s in out)


@pytest.mark.peer
def test_scrape_node_exporter(tmp_path: Path) -> None:
    """Debian's node-exporter: the whole exposition parses, and Prometheus's own parser agrees on it."""
    import shutil

    from collector_helpers import Peer
    from prometheus_client.parser import text_string_to_metric_families

    binary = shutil.which("prometheus-node-exporter")
    if binary is None:
        pytest.fail("prometheus-node-exporter is not installed (scripts/setup-test-env installs it)")
    port = free_port()
    peer = Peer([binary, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                 "--collector.cpu", "--collector.meminfo", "--collector.loadavg", "--collector.filesystem"],
                str(tmp_path / "node.log"))
    try:
        peer.wait_ready(f"http://127.0.0.1:{port}/metrics")
        loop, out = make_loop(tmp_path, f"127.0.0.1:{port}")
        scrape(loop, 1000.0)
        assert loop.target.health == "up", loop.target.last_error
        names = {s[0]["__name__"] for s in out}
        assert {"node_load1", "node_memory_MemTotal_bytes", "node_cpu_seconds_total"} <= names
        # every sample prometheus_client's parser finds in the same text, we found with equal labels
        text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        theirs = {(s.name, tuple(sorted(s.labels.items()))) for f in text_string_to_metric_families(text)
                  for s in f.samples}
        ours = {(s[0]["__name__"], tuple(sorted((k, v) for k, v in s[0].items()
                                                if k not in ("__name__", "job", "instance", "env"))))
                for s in out if s[0]["__name__"].startswith(("node_", "go_", "process_", "promhttp_"))}
        assert ours == theirs
    finally:
        peer.stop()


def test_reload_that_changes_a_job_keeps_staleness_tracking(tmp_path: Path, exporter: Exporter) -> None:
    # Prometheus's scrapePool.reload hands the old loop's series cache to the new loop, so a series
    # that vanishes across a reload still gets its stale marker.
    g = Gauge("g", "g", ["x"], registry=exporter.registry)
    g.labels("1").set(1)
    g.labels("2").set(2)
    body = """scrape_configs:
  - job_name: app
    scrape_interval: 1h
    scrape_timeout: {timeout}
    static_configs: [{{targets: ['{address}']}}]
"""
    out: Samples = []

    def has(x: str, stale: bool) -> bool:
        return any(s[0].get("__name__") == "g" and s[0].get("x") == x and is_stale_nan(s[2]) == stale for s in out)

    async def go() -> None:
        mgr = ScrapeManager(out.extend)
        try:
            await mgr.apply(job_config(tmp_path, body.format(timeout="5s", address=exporter.address)))  # type: ignore[arg-type]
            for _ in range(100):  # the first scrape comes within a second; the next an hour later
                if has("2", stale=False):
                    break
                await asyncio.sleep(0.05)
            g.remove("2")
            await mgr.apply(job_config(tmp_path, body.format(timeout="6s", address=exporter.address)))  # type: ignore[arg-type]
            for _ in range(100):
                if len(by_name(out, "up")) >= 2:
                    break
                await asyncio.sleep(0.05)
        finally:
            await mgr.close()

    asyncio.run(go())
    assert len(by_name(out, "up")) == 2  # one scrape by each loop
    assert has("2", stale=True) and not has("1", stale=True)


def test_file_sd_sees_a_same_size_rewrite_that_keeps_the_mtime(tmp_path: Path) -> None:
    # Config tools replace files atomically and may keep the mtime (rsync -t, cp -p); Prometheus
    # watches with inotify and sees it. Same size, same mtime, new file: still a change.
    sd = tmp_path / "targets.json"
    sd.write_text(json.dumps([{"targets": ["10.0.0.1:9100"]}]))
    cfg = job_config(tmp_path, """scrape_configs:
  - job_name: sd
    file_sd_configs: [{files: ['*.json']}]
""")
    mgr = ScrapeManager(lambda samples: None)
    assert mgr.refresh_sd(cfg, force=True)  # type: ignore[arg-type]
    st = sd.stat()
    tmp = tmp_path / "targets.json.new"
    tmp.write_text(json.dumps([{"targets": ["10.0.0.2:9100"]}]))
    os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(tmp, sd)
    assert mgr.refresh_sd(cfg)  # type: ignore[arg-type]
    assert [t.address for t in mgr.discover(cfg)] == ["10.0.0.2:9100"]  # type: ignore[arg-type]


def test_scrape_parses_off_the_event_loop(tmp_path: Path, exporter: Exporter,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Parsing is ~0.1 ms a series here: an agent with 20,000 series would stall the API for seconds.
    import threading

    from pydock.collector import scrape as scrape_mod

    Gauge("g", "g", registry=exporter.registry).set(1)
    threads: list[threading.Thread] = []
    real = scrape_mod.parse_exposition_keyed

    def spy(text: str, openmetrics: bool, known: Any) -> Any:
        threads.append(threading.current_thread())
        return real(text, openmetrics, known)

    monkeypatch.setattr(scrape_mod, "parse_exposition_keyed", spy)
    loop, out = make_loop(tmp_path, exporter.address)

    async def go() -> threading.Thread:
        async with httpx.AsyncClient() as client:
            await loop.scrape_once(client, now=1_700_000_000.0)
        return threading.current_thread()

    loop_thread = asyncio.run(go())
    assert [s[2] for s in by_name(out, "g")] == [1.0] and threads
    assert loop_thread not in threads


def test_scrape_url_encodes_params_as_prometheus() -> None:
    # url.Values.Encode: keys sorted, names and values query-escaped (an `&` or a space in a value
    # must not split or break the query)
    cfg = load_config_text("""scrape_configs:
  - job_name: probe
    params: {target: ['http://x/?a=1&b=2'], 'collect[]': [cpu, 'mem info']}
    static_configs: [{targets: ['127.0.0.1:9115']}]
""")
    job = cfg.scrape_configs[0]
    discovered, labels = target_labels(job, "127.0.0.1:9115", {})
    url = Target(job, "127.0.0.1:9115", discovered, labels).url
    assert url == ("http://127.0.0.1:9115/metrics?collect%5B%5D=cpu&collect%5B%5D=mem+info"
                   "&target=http%3A%2F%2Fx%2F%3Fa%3D1%26b%3D2")


def load_config_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.yml"
        p.write_text(text)
        return load_config(p)
