"""Live correctness on containers started by `pydock run` (the runtime core), read by the agent.

A container that holds 100 MiB shows a working set within 10 % of that and its `--memory` as the spec
limit; a busy loop of 3 CPU seconds adds 3 ± 0.5 s; `dd oflag=direct` to a bind-mounted file shows in
container_fs_writes_bytes_total.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydock.agent.exporter import collect_series
from pydock.agent.exposition import render_text
from pydock.agent.sampler import Sampler

pytestmark = [pytest.mark.root, pytest.mark.slow]
MIB = 1024 * 1024
# Spins until the shell itself has used 3 s of CPU (300 USER_HZ ticks of utime + stime), so the figure
# is 3 s however busy the host is; `read` and `set` are builtins, nothing forks.
SPIN = ("while :; do read -r l < /proc/self/stat; set -- $l; [ $(( ${14} + ${15} )) -ge 300 ] && break; done; "
        "echo done; sleep 600")


class Pydock:
    def __init__(self, root: Path, run: Path) -> None:
        self.env = {**os.environ, "PYDOCK_ROOT": str(root), "PYDOCK_RUN": str(run)}
        self.root = root
        self.names: list[str] = []

    def __call__(self, *args: str, timeout: float = 60) -> str:
        res = subprocess.run([sys.executable, "-m", "pydock", *args], env=self.env, capture_output=True,
                             timeout=timeout, check=False)
        assert res.returncode == 0, (args, res.stderr.decode())
        return res.stdout.decode()

    def run(self, name: str, *args: str) -> str:
        self.names.append(name)
        return self("run", "-d", "--name", name, *args).strip()

    def state(self, cid: str) -> dict:  # type: ignore[type-arg]
        return dict(json.loads((self.root / "containers" / cid / "state.json").read_text()))

    def wait_log(self, cid: str, text: str, timeout: float = 30) -> None:
        log = self.root / "containers" / cid / f"{cid}-json.log"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if log.exists() and text in log.read_text():
                return
            time.sleep(0.1)
        pytest.fail(f"{text!r} not in {log} within {timeout} s")

    def sample(self, name: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        snap = Sampler(self.root, cache_seconds=0, foreign=False, root=False).snapshot()
        assert snap.errors == ()
        text = render_text(collect_series(snap)).decode()
        return {(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k not in ("id", "image", "name")))):
                s.value for f in text_string_to_metric_families(text) for s in f.samples if s.labels.get("name") == name}

    def close(self) -> None:
        for name in self.names:
            subprocess.run([sys.executable, "-m", "pydock", "rm", "-f", name], env=self.env, capture_output=True,
                           timeout=60, check=False)


@pytest.fixture(scope="module")
def pydock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pydock]:
    if not (Path(__file__).resolve().parents[2] / "runtime" / "shim.py").exists():
        pytest.fail("runtime/shim.py is missing: `pydock run` is needed for these tests")
    base = tmp_path_factory.mktemp("agent-live")
    run = Path("/run/pydock-test") / base.name
    run.mkdir(parents=True, exist_ok=True)
    p = Pydock(base / "root", run)
    (base / "root").mkdir()
    p("image", "bootstrap", "busybox", timeout=120)
    try:
        yield p
    finally:
        p.close()


def test_working_set_and_memory_limit(pydock: Pydock) -> None:
    # dd's 100 MiB block is filled from /dev/zero, then held while the write to a pipe nobody reads blocks
    pydock.run("hold", "-m", "256m", "busybox", "sh", "-c", "dd if=/dev/zero bs=104857600 count=1 | sleep 600")
    deadline = time.monotonic() + 20
    ws = 0.0
    while time.monotonic() < deadline:
        s = pydock.sample("hold")
        ws = s.get(("container_memory_working_set_bytes", ()), 0.0)
        if ws >= 100 * MIB:
            break
        time.sleep(0.2)
    assert abs(ws - 100 * MIB) <= 10 * MIB, ws
    assert s[("container_spec_memory_limit_bytes", ())] == 256 * MIB


def test_busy_loop_adds_three_cpu_seconds(pydock: Pydock) -> None:
    cid = pydock.run("spin", "busybox", "sh", "-c", SPIN)
    pydock.wait_log(cid, "done", timeout=60)
    s = pydock.sample("spin")
    used = sum(v for (n, _), v in s.items() if n == "container_cpu_usage_seconds_total")
    assert 2.5 <= used <= 3.5, used


def test_direct_writes_to_a_bind_mount_show_in_fs_writes(pydock: Pydock, block_dir: Path) -> None:
    data = block_dir / "data"
    data.mkdir()
    cid = pydock.run("ddw", "-v", f"{data}:/data", "busybox", "sh", "-c",
                     "while [ ! -e /data/go ]; do sleep 0.1; done; "
                     "dd if=/dev/zero of=/data/f bs=1M count=32 oflag=direct && echo done; sleep 600")
    (data / "go").touch()
    pydock.wait_log(cid, "done")
    s = pydock.sample("ddw")
    writes = {labels: v for (n, labels), v in s.items() if n == "container_fs_writes_bytes_total"}
    assert writes and max(writes.values()) >= 32 * MIB, writes


def test_log_counters_reach_the_pydock_series(pydock: Pydock) -> None:
    # the driver writes its counters at most once a second while lines flow, and at close: exit to flush
    cid = pydock.run("chatty", "busybox", "sh", "-c", "echo one; echo two; echo three >&2; sleep 1")
    stats = pydock.root / "containers" / cid / "logstats.json"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if (stats.exists() and sum(json.loads(stats.read_text()).get("lines", {}).values()) >= 3
                and pydock.state(cid).get("Status") == "exited"):
            break
        time.sleep(0.2)
    s = pydock.sample("chatty")
    assert s[("pydock_log_lines_total", (("container_id", cid), ("driver", "json-file"), ("stream", "stdout")))] == 2
    assert s[("pydock_log_lines_total", (("container_id", cid), ("driver", "json-file"), ("stream", "stderr")))] == 1
    assert s[("pydock_log_bytes_total", (("container_id", cid), ("driver", "json-file"), ("stream", "stdout")))] == 6
    assert s[("pydock_container_state", (("container_id", cid), ("state", "exited")))] == 1  # stopped ones too


def test_pydock_update_memory_shows_in_the_next_scrape(pydock: Pydock) -> None:
    # one long-lived sampler, as in `pydock agent`: limits are cached per record (agent/parsers.py SpecCache)
    pydock.run("upd", "-m", "256m", "busybox", "sleep", "600")
    sampler = Sampler(pydock.root, cache_seconds=0, foreign=False, root=False)

    def limit() -> float:
        text = render_text(collect_series(sampler.snapshot())).decode()
        (line,) = [ln for ln in text.splitlines()
                   if ln.startswith("container_spec_memory_limit_bytes{") and 'name="upd"' in ln]
        return float(line.rsplit(" ", 1)[1])

    assert limit() == 256 * MIB
    pydock("update", "--memory", "128m", "upd")
    assert limit() == 128 * MIB
