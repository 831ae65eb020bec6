"""Logs explorer in headless Chromium: the level column (coloured by a class from a fixed list, text
only), the level filter, field terms and a LogQL query in the search box."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import httpx
import pytest
from webhelpers import LiveServer, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.peer]


def push(url: str, lines: list[str]) -> None:
    now = time.time_ns()
    objs = [{"host": "n1", "container_id": "a" * 64, "container_name": "api", "stream": "stdout",
             "time_ns": now + i, "line": text, "file_id": "8:1", "offset": (i + 1) * 100}
            for i, text in enumerate(lines)]
    body = gzip.compress(b"".join(json.dumps(o).encode() + b"\n" for o in objs))
    assert httpx.post(url + "/api/v1/logs/push", content=body, headers={"Content-Encoding": "gzip"}).status_code == 200


def test_level_column_filter_and_logql(logs_server: LiveServer, page: Any) -> None:
    push(logs_server.url, [
        '{"level":"info","msg":"started","status":200}',
        "ERROR db unreachable",
        '{"level":"<img src=x onerror=window.__pwned=1>","msg":"odd level"}',
        "level=warn msg=\"slow request\" status=503",
        "plain line",
    ])
    page.goto(logs_server.url + "/logs")
    page.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 5")
    levels = page.locator("#logs .logline .lvl").all_inner_texts()
    assert [x.lower() for x in levels] == ["-", "warn", "-", "error", "info"]  # newest first
    assert "lvl-error" in (page.locator("#logs .logline .lvl").nth(3).get_attribute("class") or "")
    assert page.locator("#logs img").count() == 0 and page.evaluate("window.__pwned") is None
    colour = page.locator("#logs .lvl-error").evaluate("e => getComputedStyle(e).color")
    assert colour != page.locator("#logs .lvl").first.evaluate("e => getComputedStyle(e).color")

    page.select_option("#level", "fatal,error,warn")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 2")
    assert "level=fatal%2Cerror%2Cwarn" in page.url

    page.select_option("#level", "")
    page.fill("#q", "status>=500")
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 1")
    assert "slow request" in page.locator("#logs .logline .msg").inner_text()

    page.fill("#q", '{name="api"} |= "started" | json | status == 200')
    page.press("#q", "Enter")
    page.wait_for_function("() => document.querySelectorAll('#logs .logline').length === 1 && "
                           "document.querySelector('#logs .logline .msg').textContent.includes('started')")
    assert page.locator("#logs .logline mark").inner_text() == "started"
    screenshot(page, "logs-levels")
    assert page.js_errors == []
