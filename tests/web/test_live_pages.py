"""Every page in headless Chromium against a live stack (real containers, agent, collector): the
overview lists the running containers, a container page's CPU chart has data points, live tail shows
a line printed after the page opened within 2 s, a firing alert is on the alerts page, markup from a
log line or a label stays text. Screenshots of each page go to artifacts/screenshots/."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from webhelpers import screenshot
from webstack import Stack

pytestmark = [pytest.mark.browser, pytest.mark.peer, pytest.mark.root]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(tmp_path_factory.mktemp("stack"))
    try:
        s.start()
        # Two scrapes at least, so that rate() has points.
        s.wait(lambda: len(s.query('rate(container_cpu_usage_seconds_total{name="burner"}[1m])')) > 0)
        yield s
    finally:
        s.stop()


def test_overview_lists_the_running_containers(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/")
    page.wait_for_selector('#containers tr[data-name="web"]')
    page.wait_for_selector('#containers tr[data-name="burner"]')
    web = page.locator('#containers tr[data-name="web"]')
    assert "running" in web.inner_text()
    assert page.locator("#hosts tbody tr").count() >= 1
    page.wait_for_function("() => document.querySelector('#containers tr[data-name=burner] svg.spark')"
                           " && +document.querySelector('#containers tr[data-name=burner] svg.spark')"
                           ".getAttribute('data-points') > 1", timeout=20000)
    screenshot(page, "overview")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    screenshot(page, "overview-phone")
    assert page.js_errors == []


def test_container_page_cpu_chart_has_points_and_markup_stays_text(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/containers/burner")
    page.wait_for_function("() => +(document.querySelector('#chart-cpu svg') || {getAttribute: () => 0})"
                           ".getAttribute('data-points') > 0", timeout=20000)
    assert int(page.locator("#chart-cpu svg").get_attribute("data-points")) > 0
    assert page.locator("#chart-cpu svg path.series").count() == 1
    screenshot(page, "container-burner")

    page.goto(stack.url + "/containers/web")
    page.wait_for_selector("#logs .logline")
    page.wait_for_selector("#info dd")
    assert "<b>front</b>" in page.locator("#info").inner_text()  # a label with markup, as text
    page.wait_for_function("() => +(document.querySelector('#chart-mem svg') || {getAttribute: () => 0})"
                           ".getAttribute('data-points') > 0", timeout=20000)
    screenshot(page, "container-web")
    assert page.js_errors == []

    # The container's first line holds a <script> element: found by search, shown as text.
    page.goto(stack.url + "/logs?container=web&query=starting")
    page.wait_for_function("() => Array.from(document.querySelectorAll('#logs .msg'))"
                           ".some(e => e.textContent === '<script>window.__pwned=1</script> starting')",
                           timeout=15000)
    assert page.locator("#logs script").count() == 0
    assert page.evaluate("window.__pwned") is None
    screenshot(page, "logs-script-line")


def test_live_tail_shows_a_line_printed_after_the_page_opened(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/logs?container=web")
    page.wait_for_selector("#logs .logline")
    page.check("#tail")
    page.wait_for_function("() => document.getElementById('live').classList.contains('on')")
    marker = f"MARK-{time.time_ns()}"
    (stack.trig / "go.tmp").write_text(marker + "\n")
    (stack.trig / "go.tmp").rename(stack.trig / "go")  # the container prints it within 0.1 s
    t0 = time.monotonic()
    page.wait_for_function(
        f"() => Array.from(document.querySelectorAll('#logs .msg')).some(e => e.textContent === '{marker}')",
        timeout=5000)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0, f"line showed after {elapsed:.2f}s"
    screenshot(page, "logs-live-container")

    page.fill("#q", "slow request")
    page.press("#q", "Enter")
    # The results (and the live tail, now filtered too) hold only the matching stderr lines.
    page.wait_for_function("() => (() => { const l = Array.from(document.querySelectorAll('#logs .logline'));"
                           " return l.length > 0 && l.every(e => e.classList.contains('stderr')); })()")
    assert "slow request" in page.locator("#logs .logline").first.inner_text()
    assert page.locator("#logs mark").first.inner_text().lower() in ("slow", "request")
    screenshot(page, "logs-search-container")


def test_firing_alert_on_alerts_page_and_silence(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/alerts")
    page.wait_for_selector('#firing tr[data-alert="WebIsUp"]', timeout=20000)
    row = page.locator('#firing tr[data-alert="WebIsUp"]')
    assert "is being scraped" in row.inner_text()
    row.locator("button", has_text="Silence").click()
    assert 'alertname="WebIsUp"' in page.input_value("#matchers")
    page.fill("#comment", "maintenance <i>window</i>")
    page.click("#silence button[type=submit]")
    page.wait_for_selector("#silences tbody tr")
    assert "maintenance <i>window</i>" in page.locator("#silences").inner_text()
    page.wait_for_selector('#firing tr[data-alert="WebIsUp"] .badge.warn')  # shown as silenced
    screenshot(page, "alerts")
    assert page.js_errors == []


def test_targets_rules_and_query_pages(stack: Stack, page: Any) -> None:
    page.goto(stack.url + "/targets")
    page.wait_for_selector("#targets tbody tr")
    assert "up" in page.locator("#targets tbody tr").first.inner_text()
    screenshot(page, "targets")
    page.goto(stack.url + "/rules")
    page.wait_for_selector("#groups table tbody tr")
    assert "WebIsUp" in page.locator("#groups").inner_text()
    screenshot(page, "rules")
    page.goto(stack.url + "/query")
    page.fill("#expr", 'sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[1m]))')
    page.press("#expr", "Control+Enter")
    page.wait_for_selector("#qtable tbody tr")
    page.wait_for_selector("#qgraph svg")
    assert int(page.locator("#qgraph svg").get_attribute("data-points")) > 0
    assert "burner" in page.locator("#qtable").inner_text()
    screenshot(page, "query")
    assert page.js_errors == []
