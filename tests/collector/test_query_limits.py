"""PromQL query limits: timeout, max samples (subquery steps counted), concurrency, cancellation, and
a collector that stops at once on SIGTERM while a query runs (security issue 15's High finding)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from collector_helpers import free_port, wait_until
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydock.collector.api.query import router
from pydock.collector.promql import Engine
from pydock.collector.promql.limits import QueryLimits
from pydock.collector.tsdb import TSDB

from pydock.errors import PromQLError

pytestmark = pytest.mark.timeout(60)  # before the limits, the queries here ran until memory was gone

TOO_MANY = "query processing would load too many samples into memory in query execution"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[TSDB]:
    d = TSDB(tmp_path / "tsdb.sqlite")
    d.append([({"__name__": "up", "job": "a", "instance": str(i)}, t * 1000, 1.0)
              for t in range(0, 3601, 15) for i in range(10)])
    yield d
    d.close()


def test_the_issue_query_is_refused_with_default_limits(db: TSDB) -> None:
    with pytest.raises(PromQLError) as err:
        Engine(db).instant("count_over_time(up[100y:1ms])", 3600)
    assert str(err.value) == TOO_MANY and err.value.kind == "execution"


def test_max_samples_counts_loaded_points_and_subquery_steps(db: TSDB) -> None:
    small = Engine(db, limits=QueryLimits(max_samples=1000))
    assert len(small.instant("up", 3600).samples) == 10  # 10 series x 21 points in the lookback: fits
    with pytest.raises(PromQLError, match=TOO_MANY):
        small.instant("count_over_time(up[1h])", 3600)  # 2410 points loaded
    with pytest.raises(PromQLError, match=TOO_MANY):
        small.instant("count_over_time(vector(1)[2000s:1s])", 3600)  # 2001 steps, no stored sample
    assert small.instant("count_over_time(vector(1)[900s:1s])", 3600).to_json()["result"][0]["value"][1] == "901"
    with pytest.raises(PromQLError, match=TOO_MANY):
        small.range("up", 0, 3600, 15)  # 10 series x 241 steps in the result


def test_timeout_inside_the_evaluator_loop(db: TSDB) -> None:
    eng = Engine(db, limits=QueryLimits(timeout_s=0.3, max_samples=10**15))
    t0 = time.monotonic()
    with pytest.raises(PromQLError) as err:
        eng.instant("count_over_time(vector(1)[10y:1ms])", 3600)
    assert str(err.value) == "query timed out in query execution" and err.value.kind == "timeout"
    assert time.monotonic() - t0 < 20
    assert eng.gate.active() == 0  # the slot is freed
    assert len(eng.instant("up", 3600).samples) == 10


def test_cancel_all_stops_a_running_query_and_refuses_new_ones(db: TSDB) -> None:
    eng = Engine(db, limits=QueryLimits(max_samples=10**15))
    errors: list[PromQLError] = []

    def run() -> None:
        try:
            eng.instant("count_over_time(vector(1)[10y:1ms])", 3600)
        except PromQLError as exc:
            errors.append(exc)

    th = threading.Thread(target=run)
    th.start()
    wait_until(lambda: eng.gate.active() == 1, timeout=10)
    eng.cancel_all(close=True)
    th.join(10)
    assert not th.is_alive()
    assert [(str(e), e.kind) for e in errors] == [("query was canceled in query execution", "canceled")]
    with pytest.raises(PromQLError, match="query was canceled in query queue"):
        eng.instant("1", 0)


def test_concurrency_limit_queues_until_the_deadline(db: TSDB) -> None:
    eng = Engine(db, limits=QueryLimits(timeout_s=0.3, max_concurrency=1))
    with eng.gate.enter():  # one query holds the only slot
        with pytest.raises(PromQLError) as err:
            eng.instant("1", 0)
        assert str(err.value) == "query timed out in query queue" and err.value.kind == "timeout"
    assert eng.instant("1", 0).to_json()["result"] == [0, "1"]


def test_api_error_shapes(db: TSDB) -> None:
    app = FastAPI()
    app.state.tsdb = db
    app.state.engine = Engine(db, limits=QueryLimits(timeout_s=0.3, max_samples=1000))
    app.include_router(router)
    with TestClient(app) as c:
        r = c.get("/api/v1/query", params={"query": "count_over_time(up[1h])", "time": "3600"})
        assert r.status_code == 422
        assert r.json() == {"status": "error", "errorType": "execution", "error": TOO_MANY}
        app.state.engine = Engine(db, limits=QueryLimits(timeout_s=0.3, max_samples=10**15))
        r = c.get("/api/v1/query", params={"query": "count_over_time(vector(1)[10y:1ms])", "time": "3600"})
        assert r.status_code == 503
        assert r.json() == {"status": "error", "errorType": "timeout",
                            "error": "query timed out in query execution"}


def test_bad_limit_flags_are_refused(tmp_path: Path) -> None:
    for flag, value in (("--query.timeout", "0s"), ("--query.timeout", "soon"), ("--query.max-samples", "0"),
                        ("--query.max-concurrency", "-1")):
        proc = subprocess.run([sys.executable, "-m", "pydock", "collector", flag, value, "--data",
                               str(tmp_path / "d")], capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 125 and f"invalid {flag}" in proc.stderr, proc.stderr


def test_sigterm_does_not_wait_for_a_running_query(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cfg = tmp_path / "collector.yml"
    cfg.write_text("scrape_configs: []\n")
    log = open(tmp_path / "collector.log", "wb")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([sys.executable, "-m", "pydock", "collector", "--config", str(cfg), "--listen",
                             f"127.0.0.1:{port}", "--data", str(tmp_path / "data"),
                             "--query.max-samples", "1000000000000000"], stdout=log, stderr=subprocess.STDOUT)
    answers: list[httpx.Response] = []
    try:
        def ready() -> bool:
            assert proc.poll() is None, (tmp_path / "collector.log").read_text()
            try:
                return httpx.get(base + "/-/ready", timeout=30).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30)

        def ask() -> None:  # runs for the whole 2m default timeout unless cancelled
            answers.append(httpx.get(base + "/api/v1/query", timeout=60,
                                     params={"query": "count_over_time(vector(1)[10y:1ms])", "time": "0"}))

        th = threading.Thread(target=ask)
        th.start()
        time.sleep(1.0)  # the query is evaluating now
        t0 = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
        assert time.monotonic() - t0 < 15
        th.join(20)
        assert answers and answers[0].status_code == 503
        assert answers[0].json()["error"] == "query was canceled in query execution"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
