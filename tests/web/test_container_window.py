"""The container page at a time window (as an alert's generatorURL opens it) and its event markers, in
headless Chromium against a real collector (`create_app`) whose TSDB holds 3 hours of the container's
series and whose log store holds lines and lifecycle events before, in and after the window: the
charts' x-range lies within the window, the logs panel shows only the window's lines, each event of the
window is a marker on every chart with its text (hostile here) in the marker's <title> and in the list,
as text; "Back to live" goes back to the live view with its range selector."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydock.collector.app import create_app
from pydock.collector.config import CollectorSettings
from test_hostile_text import INIT, INJECTED
from webhelpers import LiveServer, screenshot

pytestmark = [pytest.mark.browser]

NOW = float(int(time.time()))
FROM, TO = NOW - 2 * 3600, NOW - 3600
EVIL = "container health_status: unhealthy <img src=x onerror=alert('event')> (name=</title><script>alert(1)</script>)"
EVENTS = [(NOW - 1.75 * 3600, "container die (exitCode=137)"), (NOW - 1.7 * 3600, "container start"),
          (NOW - 1.6 * 3600, EVIL), (NOW - 0.1 * 3600, "container oom")]
LINES = [(NOW - 2.5 * 3600, "stdout", "before the window"), (NOW - 1.9 * 3600, "stdout", "inside 1"),
         (NOW - 1.5 * 3600, "stderr", "inside 2 <b>bold</b>"), (NOW - 1.1 * 3600, "stdout", "inside 3"),
         (NOW - 0.5 * 3600, "stdout", "after the window")]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base: Path = tmp_path_factory.mktemp("window")
    (base / "collector.yml").write_text("global: {scrape_interval: 15s, evaluation_interval: 15s}\n")
    app = create_app(CollectorSettings(config_path=base / "collector.yml", data_dir=base / "data"))
    srv = LiveServer(app).start()
    try:
        c = {"name": "web", "image": "shop/web", "id": "/pydock/web"}
        samples = []
        for i in range(3 * 240 + 1):  # every 15 s over the last 3 hours
            t = NOW - 3 * 3600 + 15 * i
            samples.append(({"__name__": "container_cpu_usage_seconds_total", "cpu": "total", **c}, int(t * 1000), i * 3.0))
            samples.append(({"__name__": "container_memory_working_set_bytes", **c}, int(t * 1000), 50e6 + i * 1e4))
        app.state.tsdb.append(samples)
        recs = [{"host": "h1", "container_id": "c" * 64, "container_name": "web", "stream": s, "time_ns": int(t * 1e9),
                 "line": line, "file_id": "1:1", "offset": n} for n, (t, s, line) in enumerate(LINES)]
        recs += [{"host": "h1", "container_id": "c" * 64, "container_name": "web", "stream": "event",
                  "time_ns": int(t * 1e9), "line": line, "file_id": "events", "offset": n}
                 for n, (t, line) in enumerate(EVENTS)]
        r = httpx.post(srv.url + "/api/v1/logs/push", headers={"Content-Encoding": "gzip"}, timeout=10,
                       content=gzip.compress("".join(json.dumps(x) + "\n" for x in recs).encode()))
        assert r.status_code == 200, r.text
        yield srv.url
    finally:
        srv.stop()


def test_window_sets_charts_and_logs_and_events_are_markers(stack: str, page: Any) -> None:
    page.add_init_script(INIT)
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    page.goto(f"{stack}/containers/web?from={iso(FROM)}&to={int(TO)}")
    page.wait_for_function("() => document.querySelectorAll('.chartbox svg[data-markers]').length === 4")
    for box in ("cpu", "mem", "net", "io"):
        svg = page.locator(f"#chart-{box} svg")
        start, end = float(svg.get_attribute("data-start")), float(svg.get_attribute("data-end"))
        assert FROM <= start < end <= TO, (box, start, end)
        assert svg.get_attribute("data-markers") == "3", box  # the oom after the window is not drawn
    assert int(page.locator("#chart-cpu svg").get_attribute("data-points")) > 100
    titles = page.locator("#chart-cpu .evmark title").all_text_contents()
    assert [t.split(" ", 2)[2] for t in titles] == [line for _, line in EVENTS[:3]]
    assert page.locator("#chart-cpu .evmark.ev-bad").count() == 2 and page.locator("#chart-cpu .evmark.ev-ok").count() == 1
    assert page.locator("#events .evtext").all_inner_texts() == [line for _, line in EVENTS[:3]]
    page.wait_for_selector("#logs .logline")
    msgs = page.locator("#logs .logline .msg").all_inner_texts()
    assert "inside 1" in msgs and "inside 2 <b>bold</b>" in msgs and "inside 3" in msgs
    assert not any("window" in m for m in msgs) and "container oom" not in msgs
    assert page.locator("#tail").count() == 0 and page.locator("#range").count() == 0
    assert "start=" in (page.locator("#alllogs").get_attribute("href") or "")
    assert page.evaluate("window.__xss") == [] and page.evaluate(INJECTED) == []
    screenshot(page, "container-window")
    page.locator("#golive").click()
    page.wait_for_url(f"{stack}/containers/web")
    page.wait_for_function("() => (document.querySelector('#chart-cpu svg') || {}).dataset?.markers === '1'")
    svg = page.locator("#chart-cpu svg")
    assert float(svg.get_attribute("data-end")) >= time.time() - 60 and page.locator("#range").is_visible()
    assert page.locator("#chart-cpu .evmark title").all_text_contents()[0].endswith("container oom")
    assert page.locator("#tail").is_checked()
    assert page.js_errors == []
