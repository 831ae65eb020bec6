"""A third-party reader of docker.sock: Debian's Prometheus with `docker_sd_configs` pointed at
pydock's socket discovers pydock's containers (it lists them and the networks through the API)."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.root, pytest.mark.timeout(90)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_docker_sd_discovers_pydock_containers(api, tmp_path: Path) -> None:
    prom = shutil.which("prometheus")
    assert prom, "prometheus is installed by scripts/setup-test-env"
    api.docker("run", "-d", "--name", "promtest", "--label", "team=obs", "busybox", "sleep", "300")
    port = _free_port()
    (tmp_path / "prometheus.yml").write_text(f"""
global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: pydock
    docker_sd_configs:
      - host: unix://{api.sock}
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_docker_container_name]
        target_label: container
      - source_labels: [__meta_docker_container_label_team]
        target_label: team
""")
    with open(tmp_path / "prom.log", "wb") as log:
        proc = subprocess.Popen([prom, f"--config.file={tmp_path / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp_path / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=log)
    try:
        found = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and found is None:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets?state=any", timeout=2) as r:
                    data = json.load(r)["data"]
            except OSError:
                continue
            for t in data.get("activeTargets", []) + data.get("droppedTargets", []):
                labels = t.get("labels") or t.get("discoveredLabels") or {}
                if labels.get("container") == "/promtest":
                    found = t
        assert found is not None, (tmp_path / "prom.log").read_text()[-3000:]
        assert found["labels"]["team"] == "obs"
        assert found["discoveredLabels"]["__meta_docker_container_id"] == api.runtime().store.get("promtest").id
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
