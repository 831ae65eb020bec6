"""Redaction in the agent: `pydock_log_redactions_total` from logstats.json, and `--redact-labels`
hiding the values of secret-named labels in container_label_* and /api/v1/containers."""

from __future__ import annotations

import subprocess
import sys

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from pydock.agent.sampler import Sampler
from pydock.agent.server import AgentSettings, create_app

from .conftest import V2, Records, fixture_host, v2_paths

ID_A, ID_B = "a" * 64, "b" * 64
STATS = {"lines": {"stdout": 3}, "bytes": {"stdout": 30}, "dropped": 0, "driver": "json-file"}
LABELS = {"DB_PASSWORD": "hunter2", "api-token": "t0k", "com.example.Secret": "s", "ssh_key": "k", "team": "core"}


def _client(records: Records, redact_labels: bool = False) -> TestClient:
    host = fixture_host(V2)
    sampler = Sampler(records.root, host, cache_seconds=0, foreign=False, root=False, redact_labels=redact_labels)
    return TestClient(create_app(AgentSettings(records.root, host, 0), sampler))


def test_redactions_counter_only_where_configured(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443, logstats={**STATS, "redactions": 7})
    records.add(ID_B, "db", status="exited", logstats=STATS)  # no redaction option: no series
    text = _client(records).get("/metrics").text
    fam = {f.name: f for f in text_string_to_metric_families(text)}["pydock_log_redactions"]
    assert fam.type == "counter"
    assert [(s.name, s.labels["name"], s.labels["container_id"], s.labels["driver"], s.value) for s in fam.samples] == \
        [("pydock_log_redactions_total", "web", ID_A, "json-file", 7.0)]


def test_redact_labels_hides_secret_values(records: Records) -> None:
    records.add(ID_A, "web", cgroup_paths=v2_paths(), pid=443, labels=LABELS)
    plain = _client(records).get("/metrics").text
    assert 'container_label_DB_PASSWORD="hunter2"' in plain  # off by default: cAdvisor's behaviour

    client = _client(records, redact_labels=True)
    text = client.get("/metrics").text
    for secret in ("hunter2", "t0k", '"s"', '"k"'):
        assert secret not in text
    usage = next(s for f in text_string_to_metric_families(text) if f.name == "container_memory_usage_bytes"
                 for s in f.samples)
    assert usage.labels["container_label_DB_PASSWORD"] == "[REDACTED]"
    assert usage.labels["container_label_api_token"] == "[REDACTED]"
    assert usage.labels["container_label_com_example_Secret"] == "[REDACTED]"
    assert usage.labels["container_label_ssh_key"] == "[REDACTED]"
    assert usage.labels["container_label_team"] == "core"  # not a secret's name: kept
    api = client.get("/api/v1/containers").json()
    assert "hunter2" not in str(api) and "core" in str(api)


def test_cli_flag() -> None:
    out = subprocess.run([sys.executable, "-m", "pydock", "agent", "--help"], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    assert "--redact-labels" in out
