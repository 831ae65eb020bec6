"""A live monitoring stack for the browser tests: real containers (`pydock run`), a real
`pydock agent --collector`, and a real `pydock collector` scraping it every second with an alert
rule that fires at once. Every process is stopped by its PID; the containers are removed."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from webhelpers import free_port

PYDOCK = [sys.executable, "-m", "pydock"]

RULES = """groups:
  - name: web-tests
    interval: 1s
    rules:
      - alert: WebIsUp
        expr: container_last_seen{name="web"} > 0
        labels: {severity: info}
        annotations: {summary: "web on {{ $labels.instance }} is being scraped"}
      - alert: BurnerBusy
        expr: rate(container_cpu_usage_seconds_total{name="burner"}[1m]) > 1000
        for: 5m
      - record: container:cpu:rate1m
        expr: sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[1m]))
"""

WEB = ('echo "<script>window.__pwned=1</script> starting"; i=0; while true; do i=$((i+1)); '
       'echo "GET /api/items/$i 200 $((i % 97)) ms"; '
       'if [ -f /trig/go ]; then cat /trig/go; rm -f /trig/go; fi; '
       'if [ $((i % 10)) -eq 0 ]; then echo "warn: slow request $i" >&2; fi; sleep 0.1; done')
BURNER = 'while true; do i=0; while [ $i -lt 4000 ]; do i=$((i+1)); done; sleep 0.4; done'


class Stack:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.root = base / "root"
        self.run = Path("/run/pydock-test") / f"web{os.getpid()}"
        self.trig = base / "trig"
        self.env = dict(os.environ, PYDOCK_ROOT=str(self.root), PYDOCK_RUN=str(self.run),
                        PYDOCK_CONFIG=str(base / "daemon.json"))
        self.procs: list[subprocess.Popen[bytes]] = []
        self.containers: list[str] = []
        self.cport, self.aport = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.cport}"

    def pydock(self, *args: str, timeout: float = 60) -> str:
        r = subprocess.run(PYDOCK + list(args), env=self.env, capture_output=True, text=True, timeout=timeout,
                           check=False)
        if r.returncode != 0:
            raise RuntimeError(f"pydock {' '.join(args)}: {r.stderr.strip()}")
        return r.stdout.strip()

    def _spawn(self, args: list[str], name: str) -> None:
        with open(self.base / f"{name}.log", "ab") as log:
            self.procs.append(subprocess.Popen(PYDOCK + args, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                               start_new_session=True))

    def start(self) -> Stack:
        self.root.mkdir(parents=True)
        self.run.mkdir(parents=True, exist_ok=True)
        self.trig.mkdir()
        self.pydock("image", "bootstrap", "busybox")
        self.containers.append(self.pydock("run", "-d", "--name", "web", "--label", "tier=<b>front</b>",
                                           "-v", f"{self.trig}:/trig", "busybox", "sh", "-c", WEB))
        self.containers.append(self.pydock("run", "-d", "--name", "burner", "busybox", "sh", "-c", BURNER))
        (self.base / "rules.yml").write_text(RULES)
        (self.base / "collector.yml").write_text(
            "global: {scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs:\n  - job_name: pydock-agent\n    static_configs: [{{targets: ['127.0.0.1:{self.aport}']}}]\n"
            "rule_files: [rules.yml]\n")
        self._spawn(["collector", "--config", str(self.base / "collector.yml"), "--listen",
                     f"127.0.0.1:{self.cport}", "--data", str(self.base / "data"), "--log-level", "warning"],
                    "collector")
        self._spawn(["agent", "--listen", f"127.0.0.1:{self.aport}", "--state-root", str(self.root), "--pydock-only",
                     "--collector", self.url, "--hostname", "node-1"], "agent")
        self.wait(lambda: httpx.get(self.url + "/api/v1/logs/query?limit=1", timeout=1).status_code == 200)
        return self

    def wait(self, ok, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
        deadline = time.time() + timeout
        last: Exception | None = None
        while time.time() < deadline:
            try:
                if ok():
                    return
            except (httpx.HTTPError, KeyError, IndexError) as e:
                last = e
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting ({last})")

    def query(self, expr: str) -> list[dict]:
        r = httpx.get(self.url + "/api/v1/query", params={"query": expr}, timeout=5)
        return r.json()["data"]["result"]  # type: ignore[no-any-return]

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        for cid in self.containers:
            try:
                self.pydock("rm", "-f", cid)
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.run, ignore_errors=True)
