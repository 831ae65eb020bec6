"""The agent's HTTP API through the ASGI test client, on the captured v2 tree and a fake /proc."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import replace
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydock.agent.dockerstats import binary_size, cpu_percent, decimal_size
from pydock.agent.host import HostPaths
from pydock.agent.sampler import Sampler
from pydock.agent.server import AgentSettings, create_app
from pydock.agent.stats import CgroupStats, CpuStats

from pydock.cli.stats import render_rows

from .conftest import CTR, FAKE, V2, Records, fixture_host, read, v2_paths

ID_A = "a" * 64


def _app(records: Records, token: str | None = None, cache: float = 60.0, host: HostPaths | None = None) -> TestClient:
    host = host or fixture_host(V2)
    sampler = Sampler(records.root, host, cache_seconds=cache, foreign=False, root=False)
    return TestClient(create_app(AgentSettings(records.root, host, cache, token), sampler))


def test_metrics_healthz_and_token(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    client = _app(records, token="s3cret")
    assert client.get("/healthz").status_code == 200  # open even with a token
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/api/v1/containers").status_code == 401
    r = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    usage = families["container_memory_usage_bytes"].samples[0]
    assert usage.labels["name"] == "web" and usage.value == int(read(V2 / CTR / "memory.current"))
    om = client.get("/metrics", headers={"Authorization": "Bearer s3cret",
                                         "Accept": "application/openmetrics-text; version=1.0.0"})
    assert om.headers["content-type"].startswith("application/openmetrics-text") and om.text.endswith("# EOF\n")


def test_concurrent_scrapes_share_one_read(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    client = _app(records, cache=60.0)
    sampler = client.app.state.sampler  # type: ignore[attr-defined]
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(client.get("/metrics").status_code))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert results == [200] * 8
    assert sampler.reads == 1
    fresh = sampler.snapshot(max_age=0)  # max_age=0 forces a fresh read
    assert sampler.reads == 2
    assert sampler.snapshot() is fresh and sampler.reads == 2


def test_containers_api_and_docker_stats_shape(records: Records, tmp_path: Path) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    proc = tmp_path / "proc"
    shutil.copytree(FAKE / "proc", proc, symlinks=True)
    client = _app(records, cache=0.0, host=replace(fixture_host(V2), proc=proc))
    body = client.get("/api/v1/containers").json()
    (c,) = body["containers"]
    assert (c["id"], c["name"], c["cgroup"], c["state"]) == (ID_A, "web", "/" + CTR, "running")
    assert c["cpu"]["percent"] is None  # no previous sample yet
    stat = (proc / "stat").read_text().split("\n")
    fields = stat[0].split()
    fields[4] = str(int(fields[4]) + 200)  # the host idles 2 s (200 ticks) between the two reads
    (proc / "stat").write_text("\n".join([" ".join(fields), *stat[1:]]))
    body = client.get("/api/v1/containers").json()
    (c,) = body["containers"]
    assert c["cpu"]["percent"] == 0.0  # a frozen capture: no CPU used between the two reads
    assert c["memory"]["limit"] == 268435456 and c["pids"] == 2
    s = client.get(f"/api/v1/containers/{ID_A[:12]}/stats", params={"stream": "false", "one-shot": "true"}).json()
    assert s["id"] == ID_A and s["name"] == "/web"
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 1161513000
    assert s["memory_stats"]["usage"] == int(read(V2 / CTR / "memory.current"))
    assert s["memory_stats"]["stats"]["inactive_file"] == 929792
    assert {"major": 254, "minor": 0, "op": "write", "value": 67108864} in s["blkio_stats"]["io_service_bytes_recursive"]
    assert s["networks"]["eth0"]["rx_bytes"] == 625
    assert s["pids_stats"] == {"current": 2, "limit": 64}
    assert client.get("/api/v1/containers/nope/stats").status_code == 404
    with client.stream("GET", "/api/v1/containers/web/stats") as r:
        lines = r.iter_lines()
        first = json.loads(next(lines))
        second = json.loads(next(lines))
    assert first["precpu_stats"]["cpu_usage"]["total_usage"] == 0
    assert second["precpu_stats"]["cpu_usage"]["total_usage"] == 1161513000


def test_stats_table_and_formats() -> None:
    rows = [{"Container": "aaaaaaaaaaaa", "ID": "aaaaaaaaaaaa", "Name": "web", "CPUPerc": "0.00%",
             "MemUsage": "1.148MiB / 256MiB", "MemPerc": "0.45%", "NetIO": "2.098kB / 0B",
             "BlockIO": "1.233MB / 67.11MB", "PIDs": "2"}]
    # docker stats' own layout (tabwriter minwidth 10, padding 3): narrow columns are 10 wide
    assert render_rows(rows, None).splitlines() == [
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O           PIDS",
        "aaaaaaaaaaaa   web       0.00%     1.148MiB / 256MiB   0.45%     2.098kB / 0B   1.233MB / 67.11MB   2",
    ]
    assert render_rows([], None) == (
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O   BLOCK I/O   PIDS\n")
    assert render_rows(rows, "{{.Name}}: {{.CPUPerc}}") == "web: 0.00%\n"
    assert render_rows(rows, "table {{.Name}}\\t{{.MemPerc}}") == "NAME      MEM %\nweb       0.45%\n"
    long_name = [{**rows[0], "Name": "a-rather-long-name"}]
    assert render_rows(long_name, "table {{.Name}}\\t{{.PIDs}}") == "NAME                 PIDS\na-rather-long-name   2\n"
    assert json.loads(render_rows(rows, "json")) == rows[0]


def _cpu(ns: int) -> CgroupStats:
    return CgroupStats("v2", 0.0, CpuStats(ns, 0, 0), None, None, (), None, None, ())


def test_cpu_percent_is_dockers_formula() -> None:
    # 1 s of container CPU over 4 s of host CPU time on 2 CPUs: docker stats shows 50.00%
    assert cpu_percent(_cpu(2_000_000_000), 8_000_000_000, _cpu(1_000_000_000), 4_000_000_000, 2) == 50.0
    assert cpu_percent(_cpu(2), 5, None, 0, 2) is None
    assert (binary_size(268435456), binary_size(1203000), decimal_size(67108864), decimal_size(0)) == (
        "256MiB", "1.147MiB", "67.11MB", "0B")
