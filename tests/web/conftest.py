"""Fixtures for the collector's web side: a log store, a live log-only server, and headless Chromium
through Playwright (Debian's /usr/bin/chromium with the launch args from PEERS.md)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydock.collector.logstore.sqlite import SQLiteLogStore
from webhelpers import CHROMIUM, CHROMIUM_ARGS, LiveServer, logs_app


@pytest.fixture
def logstore(tmp_path: Path) -> Iterator[SQLiteLogStore]:
    s = SQLiteLogStore(tmp_path / "logs.db")
    yield s
    s.close()


@pytest.fixture
def logs_server(logstore: SQLiteLogStore) -> Iterator[LiveServer]:
    srv = LiveServer(logs_app(logstore)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium (scripts/setup-test-env installs it); browser tests never skip there")
        pytest.skip("Debian's chromium is not installed (scripts/setup-test-env installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.js_errors = errors
    yield pg
    ctx.close()


