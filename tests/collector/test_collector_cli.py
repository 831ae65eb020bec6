"""`pydock collector` and `pydock alerts` as a user runs them: real processes, signals, exit codes."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from collector_helpers import WebhookReceiver, free_port, wait_until
from pydock.collector.tsdb import TSDB


def pydock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pydock", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, **(env or {})})


def test_bad_config_exits_125_naming_file_and_line(tmp_path: Path) -> None:
    cfg = tmp_path / "collector.yml"
    cfg.write_text("global:\n  evaluation_interval: soon\n")
    proc = pydock("collector", "--config", str(cfg), "--data", str(tmp_path / "d"))
    assert proc.returncode == 125
    assert proc.stderr.strip() == f"pydock: {cfg}:2: evaluation_interval: not a valid duration string: 'soon'"


def test_listening_beyond_loopback_needs_a_token(tmp_path: Path) -> None:
    proc = pydock("collector", "--listen", "0.0.0.0:9339", "--data", str(tmp_path / "d"))
    assert proc.returncode == 125 and "--token" in proc.stderr


def test_serve_reload_on_sighup_silences_and_import(tmp_path: Path) -> None:
    port = free_port()
    cfg = tmp_path / "collector.yml"
    (tmp_path / "rules.yml").write_text("groups:\n- name: g\n  interval: 1s\n  rules:\n"
                                        "  - {alert: Always, expr: vector(1), labels: {team: ops}}\n")
    cfg.write_text("rule_files: [rules.yml]\n"
                   "scrape_configs:\n  - job_name: one\n    static_configs: [{targets: ['127.0.0.1:1']}]\n")
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "collector.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "pydock", "collector", "--config", str(cfg), "--listen",
                             f"127.0.0.1:{port}", "--data", str(tmp_path / "data"), "--token", "tk",
                             "--web.enable-lifecycle"],
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "collector.log").read_text()
            try:
                return httpx.get(base + "/-/ready", timeout=30).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30)

        def jobs() -> list[str]:
            data = httpx.get(base + "/api/v1/targets", timeout=30).json()["data"]
            return [t["scrapePool"] for t in data["activeTargets"]]

        assert jobs() == ["one"]
        cfg.write_text("rule_files: [rules.yml]\n"
                       "scrape_configs:\n  - job_name: two\n    static_configs: [{targets: ['127.0.0.1:1']}]\n")
        os.kill(proc.pid, signal.SIGHUP)
        wait_until(lambda: jobs() == ["two"], timeout=30)
        cfg.write_text("scrape_configs: {\n")  # a broken reload keeps the running config
        os.kill(proc.pid, signal.SIGHUP)
        resp = httpx.post(base + "/-/reload", headers={"Authorization": "Bearer tk"}, timeout=30)
        assert resp.status_code == 500 and f"{cfg}:2: invalid YAML" in resp.text
        assert jobs() == ["two"] and proc.poll() is None
        env = {"PYDOCK_COLLECTOR": base}
        assert pydock("alerts", "silence", "add", 'alertname="Noisy"', env=env).returncode == 125  # no token
        add = pydock("alerts", "silence", "add", 'alertname="Noisy"', "instance=~web.*", "--duration", "2h",
                     "--comment", "deploy", "--token", "tk", env=env)
        assert add.returncode == 0, add.stderr
        sid = add.stdout.strip()
        listing = pydock("alerts", "silence", "ls", env=env).stdout.splitlines()
        assert listing[0].split() == ["ID", "MATCHERS", "STATE", "ENDS", "AT", "CREATED", "BY", "COMMENT"]
        assert listing[1].startswith(sid) and 'alertname="Noisy",instance=~"web.*"' in listing[1]
        assert "active" in listing[1] and "deploy" in listing[1]
        assert pydock("alerts", "silence", "expire", sid, "--token", "tk", env=env).returncode == 0
        assert len(pydock("alerts", "silence", "ls", env=env).stdout.splitlines()) == 1
        assert sid in pydock("alerts", "silence", "ls", "--expired", env=env).stdout
        ls = pydock("alerts", "ls", env=env)
        assert ls.returncode == 0
        header, row = ls.stdout.splitlines()
        assert header.split() == ["ALERTNAME", "STATE", "ACTIVE", "SINCE", "LABELS"]
        assert row.split()[:2] == ["Always", "firing"] and row.split()[3] == 'team="ops"'
        as_json = pydock("alerts", "ls", "--format", "json", env=env)
        assert '"alertname": "Always"' in as_json.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            log.close()
    # uvicorn re-raises SIGTERM once it has shut down cleanly (the lifespan ran to its end)
    assert proc.returncode in (0, -signal.SIGTERM)
    assert "collector stopped" in (tmp_path / "collector.log").read_text()
    # import: OpenMetrics with timestamps into the same data directory
    om = tmp_path / "data.om"
    om.write_text("# TYPE temp gauge\ntemp{room=\"a\"} 21.5 1700000000\ntemp{room=\"a\"} 22 1700000060\n# EOF\n")
    imp = pydock("collector", "import", str(om), "--data", str(tmp_path / "data"))
    assert imp.returncode == 0, imp.stderr
    with TSDB(tmp_path / "data" / "tsdb.sqlite") as tsdb:
        [(labels, points)] = list(tsdb.select([("__name__", "=", "temp")], 0, 2_000_000_000_000))
    assert labels == {"__name__": "temp", "room": "a"}
    assert [(t, v) for t, v in points] == [(1700000000000, 21.5), (1700000060000, 22.0)]


def test_collector_logging_keeps_request_urls_out(caplog: pytest.LogCaptureFixture) -> None:
    # httpx logs each request's URL at INFO; a webhook URL may carry a password or a token
    from pydock.cli.collector import setup_logging

    receiver = WebhookReceiver().start()
    levels = {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    try:
        setup_logging("info")
        with caplog.at_level(logging.DEBUG):
            resp = httpx.post(receiver.url.replace("http://", "http://bob:pw-s3cret@") + "?token=q-s3cret", json={})
        assert resp.status_code == 200 and receiver.bodies == [{}]
        assert "s3cret" not in caplog.text
    finally:
        receiver.stop()
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
