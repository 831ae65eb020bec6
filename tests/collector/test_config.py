"""collector.yml: a full config loads with Alertmanager's inheritance; every mistake names file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydock.collector.config import load_config

from pydock.errors import ConfigError

FULL = """\
global:
  scrape_interval: 15s
  scrape_timeout: 5s
  evaluation_interval: 30s
  external_labels: {site: lab}
scrape_configs:
  - job_name: agents
    static_configs:
      - targets: ['127.0.0.1:9338', 'host2:9338']
        labels: {env: prod}
    file_sd_configs:
      - files: ['targets/*.json']
        refresh_interval: 1m
  - job_name: node
    scrape_interval: 1m
    scrape_timeout: 20s
    metrics_path: /m
    honor_labels: true
    static_configs: [{targets: ['127.0.0.1:9100']}]
rule_files: ['rules/*.yml']
alerting:
  resend_delay: 30s
  retry: {initial: 2s, max: 1m}
  receivers:
    - name: ops
      webhook_configs:
        - url: http://127.0.0.1:5001/hook
          max_alerts: 10
          http_config: {bearer_token: s3cret}
    - name: db
      webhook_configs:
        - url: https://hooks.example/db
          send_resolved: false
          http_config: {basic_auth: {username: u, password: p}}
    - name: am
      alertmanager_configs: [{url: http://127.0.0.1:9093}]
  route:
    receiver: ops
    group_by: [alertname, job]
    group_wait: 10s
    routes:
      - matchers: ['team="db"', 'severity=~"critical|page"']
        receiver: db
        group_by: ['...']
        continue: true
      - match: {forward: "yes"}
        receiver: am
        repeat_interval: 1h
"""


def write(tmp_path: Path, text: str, name: str = "collector.yml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_full_config(tmp_path: Path) -> None:
    c = load_config(write(tmp_path, FULL))
    assert c.global_.scrape_interval == 15 and c.global_.evaluation_interval == 30
    assert dict(c.global_.external_labels) == {"site": "lab"}
    agents, node = c.scrape_configs
    assert agents.scrape_timeout == 5 and agents.scrape_interval == 15 and not agents.honor_labels
    assert agents.file_sd_configs[0].files == (str(tmp_path / "targets/*.json"),)
    assert agents.file_sd_configs[0].refresh_interval == 60
    assert node.metrics_path == "/m" and node.honor_labels and node.scrape_timeout == 20
    assert c.rule_files == (str(tmp_path / "rules/*.yml"),)
    a = c.alerting
    assert a.resend_delay == 30 and a.retry.initial == 2
    assert a.receivers["ops"].webhooks[0].http.headers() == {"Authorization": "Bearer s3cret"}
    assert a.receivers["db"].webhooks[0].http.basic_auth == ("u", "p")
    assert not a.receivers["db"].webhooks[0].send_resolved
    assert a.receivers["am"].alertmanagers[0].url == "http://127.0.0.1:9093"
    root = a.route
    assert root is not None and root.group_wait == 10 and root.group_interval == 300
    db, am = root.routes
    # children inherit what they do not set, as Alertmanager's routes do
    assert db.group_by is None and db.group_wait == 10 and db.continue_
    assert [str(m) for m in db.matchers] == ['severity=~"critical|page"', 'team="db"']
    assert am.group_by == ("alertname", "job") and am.repeat_interval == 3600
    assert [str(m) for m in am.matchers] == ['forward="yes"']


@pytest.mark.parametrize("text, line, reason", [
    ("global:\n  scrape_interval: 15x\n", 2, "not a valid duration"),
    ("global:\n  scrape_intervall: 15s\n", 2, "field scrape_intervall not found"),
    ("scrape_configs:\n  - job_name: a\n    static_configs: [{targets: [x:1]}]\n  - job_name: a\n", 4,
     'multiple scrape configs with job name "a"'),
    ("scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n", 4,
     "scrape timeout greater than scrape interval"),
    (("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets:\n          - 'ok:1'\n"
      "          - 'http://bad/'\n"), 6, "invalid target address"),
    ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - labels: {9bad: x}\n", 4,
     "not a valid label name"),
    (("alerting:\n  receivers: [{name: a, webhook_configs: [{url: 'http://x'}]}]\n  route:\n"
      "    receiver: a\n    routes:\n      - receiver: nope\n"), 6, 'undefined receiver "nope"'),
    ("alerting:\n  receivers:\n    - name: a\n      webhook_configs:\n        - url: ftp://x\n", 5,
     "unsupported url"),
    (("alerting:\n  receivers: [{name: a}]\n  route:\n    receiver: a\n    routes:\n"
      "      - matchers: ['a=~\"(\"']\n"), 6, "invalid regular expression"),
    ("global:\n  scrape_interval: 15s\n  scrape_interval: 20s\n", 3, "already set"),
    ("scrape_configs:\n  - job_name: [a\n", 3, "invalid YAML"),
    ("alerting:\n  receivers: [{name: a}]\n  route: {receiver: a, group_by: ['...', job]}\n", 3,
     "wildcard group_by"),
])
def test_errors_name_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(p)
    assert str(err.value).startswith(f"{p}:{line}: "), str(err.value)
    assert reason in str(err.value)


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    c = load_config(write(tmp_path, ""))
    assert c.scrape_configs == () and c.alerting.route is None


@pytest.mark.parametrize("doc", ["README.md", "docs/collector.md"])
def test_documented_examples_load(tmp_path: Path, doc: str) -> None:
    """Every yaml block of the docs naming scrape_configs loads, and one is a complete collector.yml."""
    text = (Path(__file__).resolve().parents[2] / doc).read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```yaml\n")[1:]]
    configs = [load_config(write(tmp_path, b)) for b in blocks if "scrape_configs:" in b]
    assert any(c.scrape_configs and c.alerting.route is not None and c.alerting.receivers for c in configs)
