"""Logs explorer and live tail in headless Chromium: search finds a known line, a `<script>` line
stays text, ANSI colours become classes on spans, a line pushed after the page opened shows within 2 s."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import pytest
from webhelpers import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.peer]

EVIL = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned=2">'


def push(url: str, lines: list[tuple[str, str, str]], start: int = 0) -> None:
    now = time.time_ns()
    objs = [{"host": "node-1", "container_id": (name[0] * 64), "container_name": name, "stream": stream,
             "time_ns": now + i, "line": text, "file_id": "8:42", "offset": (start + i + 1) * 100}
            for i, (name, stream, text) in enumerate(lines)]
    body = gzip.compress(b"".join(json.dumps(o).encode() + b"\n" for o in objs))
    r = httpx.post(url + "/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"})
    assert r.status_code == 200, r.text


def seed(url: str) -> None:
    lines = [("web", "stdout", f"GET /item/{i} 200 {i * 3} ms") for i in range(60)]
    lines += [("web", "stderr", "\x1b[31mERROR\x1b[0m upstream \x1b[1mtimed out\x1b[0m after 30s"),
              ("db", "stdout", "checkpoint complete: wrote 1234 buffers (needle-7731)"),
              ("web", "stdout", EVIL)]
    push(url, lines)


def test_search_finds_a_known_line_and_markup_stays_text(logs_server: LiveServer, page: Any) -> None:
    seed(logs_server.url)
    page.goto(logs_server.url + "/logs")
    page.wait_for_selector("#logs .logline")
    page.fill("#q", "needle-7731")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 1")
    row = page.locator("#logs .logline").first
    assert "checkpoint complete: wrote 1234 buffers (needle-7731)" in row.inner_text()
    assert row.locator("mark").first.inner_text().lower() == "needle-7731"
    assert row.locator(".cname").inner_text() == "db"
    screenshot(page, "logs-search")

    page.fill("#q", "")
    page.fill("#container", "web")
    page.press("#container", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 62")
    first = page.locator("#logs .logline").first  # newest first: the markup line
    assert first.locator(".msg").inner_text() == EVIL
    assert page.locator("#logs script").count() == 0 and page.locator("#logs img").count() == 0
    assert page.evaluate("window.__pwned") is None
    err = page.locator("#logs .logline.stderr").first
    assert err.locator(".msg").inner_text() == "ERROR upstream timed out after 30s"
    assert err.locator("span.fg-31").inner_text() == "ERROR"
    assert err.locator("span.ansi-b").inner_text() == "timed out"
    assert page.js_errors == []


def test_live_tail_shows_a_new_line_within_2s(logs_server: LiveServer, page: Any) -> None:
    seed(logs_server.url)
    page.goto(logs_server.url + "/logs?container=web")
    page.wait_for_selector("#logs .logline")
    page.check("#tail")
    page.wait_for_function("() => document.getElementById('live').classList.contains('on')")
    time.sleep(0.3)
    t0 = time.monotonic()
    push(logs_server.url, [("web", "stdout", "fresh line <b>42</b>"), ("db", "stdout", "not for this filter")],
         start=1000)
    page.wait_for_function(
        "() => Array.from(document.querySelectorAll('#logs .logline .msg')).some(e => e.textContent === 'fresh line <b>42</b>')",
        timeout=2000)
    elapsed = time.monotonic() - t0
    assert elapsed < 2.0
    assert "not for this filter" not in page.locator("#logs").inner_text()
    screenshot(page, "logs-live-tail")
