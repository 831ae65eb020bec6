"""The exporter against golden exposition files, with a fixed clock.

Regenerate the golden files after an intended change with `PYDOCK_REGEN_GOLDEN=1 pytest tests/agent`
and review the diff: the files are the metric contract (names, types, labels) that dashboards rely on.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.openmetrics.parser import text_string_to_metric_families
from prometheus_client.parser import text_string_to_metric_families as text_families
from pydock.agent.exporter import CgroupCollector, build_families, collect_series
from pydock.agent.exposition import render, render_openmetrics, render_text
from pydock.agent.sampler import Sampler

from .conftest import CTR, V1, V2, Records, fixture_host, read, v1_paths, v2_paths

GOLDEN = Path(__file__).resolve().parent / "golden"
CLOCK = 1795000000.0
ID_A = "a" * 64
ID_B = "b" * 64
ID_C = "c" * 64


def _sampler(records: Records, cgroup_root: Path) -> Sampler:
    return Sampler(records.root, fixture_host(cgroup_root), cache_seconds=0, foreign=False, root=False,
                   clock=lambda: CLOCK)


def _v2_records(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443,
                labels={"com.docker.compose.project": "shop", "tier": "front"},
                logstats={"lines": {"stdout": 10, "stderr": 2}, "bytes": {"stdout": 400, "stderr": 30},
                          "dropped": 1, "driver": "json-file"}, health="healthy", restarts=2)
    records.add(ID_C, "old", status="exited", image="alpine:3")


def _check_golden(name: str, body: bytes) -> None:
    path = GOLDEN / name
    if os.environ.get("PYDOCK_REGEN_GOLDEN"):
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(body)
    assert body.decode() == path.read_text(), f"{name} differs; PYDOCK_REGEN_GOLDEN=1 regenerates it"


def test_golden_v2(records: Records) -> None:
    _v2_records(records)
    body = render_text(collect_series(_sampler(records, V2).snapshot()))
    _check_golden("v2.prom", body)


def test_golden_v1(records: Records) -> None:
    records.add(ID_B, "db", cgroup_paths=v1_paths(), pid=443, image="postgres:16")
    body = render_text(collect_series(_sampler(records, V1).snapshot()))
    _check_golden("v1.prom", body)


def test_golden_openmetrics(records: Records) -> None:
    _v2_records(records)
    body = render_openmetrics(build_families(_sampler(records, V2).snapshot()))
    _check_golden("v2.openmetrics", body)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}  # it parses as OpenMetrics
    assert families["container_memory_failcnt"].samples[0].name == "container_memory_failcnt_total"


def test_values_come_from_the_cgroup_files(records: Records) -> None:
    _v2_records(records)
    text = render_text(collect_series(_sampler(records, V2).snapshot())).decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_families(text) for s in f.samples}

    def value(name: str, **extra: str) -> float:
        labels = {"id": "/" + CTR, "name": "web", "image": "busybox", "container_label_tier": "front",
                  "container_label_com_docker_compose_project": "shop", **extra}
        return samples[(name, tuple(sorted(labels.items())))]

    d = V2 / CTR
    assert value("container_memory_usage_bytes") == int(read(d / "memory.current"))
    assert value("container_spec_memory_limit_bytes") == int(read(d / "memory.max"))
    assert value("container_spec_memory_swap_limit_bytes") == 0  # "max" is 0, as cAdvisor reports it
    assert value("container_fs_writes_bytes_total", device="/dev/vda") == 67108864
    assert value("container_cpu_usage_seconds_total", cpu="total") == 1161513e-6
    assert value("container_network_receive_bytes_total", interface="eth0") == 625
    assert value("container_last_seen") == CLOCK
    assert value("container_spec_cpu_quota") == 50000
    assert samples[("container_scrape_error", ())] == 0
    # a stopped container has pydock series but no cgroup series
    assert samples[("pydock_container_state", (("container_id", ID_C), ("image", "alpine:3"), ("name", "old"),
                                                ("state", "exited")))] == 1
    assert not any(k[0].startswith("container_") and ("name", "old") in k[1] for k in samples)
    assert samples[("pydock_log_lines_total", (("container_id", ID_A), ("driver", "json-file"), ("image", "busybox"),
                                                ("name", "web"), ("stream", "stdout")))] == 10


def test_broken_file_sets_scrape_error_and_keeps_the_rest(records: Records, tmp_path: Path) -> None:
    broken = tmp_path / "cg"
    shutil.copytree(V2, broken)
    shutil.copytree(broken / CTR, broken / "pydock-capture/ok")
    (broken / CTR / "memory.stat").write_text("anon 1\nfile x\n")
    records.add(ID_A, "web", cgroup_paths=v2_paths(broken), pid=443)
    records.add(ID_B, "ok", cgroup_paths={"unified": str(broken / "pydock-capture/ok")}, pid=443)
    snap = Sampler(records.root, fixture_host(broken), cache_seconds=0, foreign=False, root=False).snapshot()
    assert len(snap.errors) == 1 and str(broken / CTR / "memory.stat") in snap.errors[0]
    text = render_text(collect_series(snap)).decode()
    assert "container_scrape_error 1\n" in text
    assert 'container_memory_usage_bytes{id="/pydock-capture/ok",image="busybox",name="ok"}' in text
    assert 'name="web"' not in text.split("# HELP pydock_")[0]  # the broken one is left out, not zeroed


def test_collector_registers_on_a_registry_and_negotiates(records: Records) -> None:
    _v2_records(records)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(CgroupCollector(_sampler(records, V2)))
    names = {m.name for m in registry.collect()}
    assert {"container_cpu_usage_seconds", "container_memory_failcnt", "machine_cpu_cores"} <= names
    families = collect_series(_sampler(records, V2).snapshot())
    assert render(families, "application/openmetrics-text; version=1.0.0")[1].startswith("application/openmetrics")
    assert render(families, "text/plain;version=0.0.4;q=0.5,*/*;q=0.1")[1].startswith("text/plain")


def test_promtool_reports_only_cadvisor_names(records: Records) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: scripts/setup-test-env installs the prometheus package")
    _v2_records(records)
    records.add(ID_B, "db", cgroup_paths=v1_paths(), pid=443)  # a v1 record on a v2 host: a scrape error
    body = render_text(collect_series(_sampler(records, V2).snapshot()))
    assert b"container_scrape_error 1\n" in body
    for text in (body, (GOLDEN / "v1.prom").read_bytes()):
        res = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, timeout=30, check=False)
        problems = [ln for ln in (res.stdout + res.stderr).decode().splitlines() if ln.strip()]
        # cAdvisor's own name; docs/metrics.md lists it as the one lint exception
        assert problems == ['container_memory_failcnt counter metrics should have "_total" suffix'], problems


def test_records_are_reread_when_they_change_or_the_shim_dies(records: Records) -> None:
    d = records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443)
    sampler = _sampler(records, V2)
    (e,) = sampler.snapshot().entries
    assert e.target.state == "running" and e.stats is not None
    state = json.loads((d / "state.json").read_text())
    state["RestartCount"] = 5
    tmp = d / "state.json.tmp"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, d / "state.json")  # written atomically, as the runtime does
    (e,) = sampler.snapshot().entries
    assert e.target.restarts == 5
    records.close()  # the shim's lock is gone: the store reports the container exited
    (e,) = sampler.snapshot().entries
    assert e.target.state == "exited" and e.stats is None


def test_zero_cpu_total_is_left_out_and_last_seen_is_whole_seconds(records: Records, tmp_path: Path) -> None:
    # cAdvisor emits cpu="total" only when the total is above 0, and container_last_seen as Unix() seconds
    cg = tmp_path / "cg"
    shutil.copytree(V2, cg)
    stat = (cg / CTR / "cpu.stat").read_text()
    (cg / CTR / "cpu.stat").write_text(stat.replace("usage_usec 1161513", "usage_usec 0"))
    records.add(ID_A, "idle", cgroup_paths=v2_paths(cg), pid=443)
    sampler = Sampler(records.root, fixture_host(cg), cache_seconds=0, foreign=False, root=False,
                      clock=lambda: CLOCK + 0.75)
    text = render_text(collect_series(sampler.snapshot())).decode()
    assert "container_cpu_usage_seconds_total" not in text
    assert 'container_cpu_user_seconds_total{id="/pydock-capture/ctr",image="busybox",name="idle"} 1.071875\n' in text
    assert f'container_last_seen{{id="/pydock-capture/ctr",image="busybox",name="idle"}} {int(CLOCK)}\n' in text
