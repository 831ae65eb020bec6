"""The collector's web app: `create_app(settings)` wires the services onto `app.state` (internals §7).

`app.state` carries `settings`, `collector` (service.Collector), and its parts `tsdb`, `engine`,
`rules`, `notifier`, `targets` (the scrape manager) and `logstore`. The lifespan starts scraping, rule
evaluation and notification delivery, and stops them (and closes the databases) on shutdown.
SIGHUP reloads the config when the app runs in the main thread (under `pydock collector`).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydock.collector.config import CollectorSettings
from pydock.collector.service import Collector

from pydock.errors import ConfigError

log = logging.getLogger(__name__)

# Routers by area, included when their module exists (other parts of the collector add theirs here).
ROUTERS = (
    "pydock.collector.api.query",
    "pydock.collector.api.status",
    "pydock.collector.api.logs",
    "pydock.collector.web.pages",
)


def _open_logstore(settings: CollectorSettings) -> Any:
    from pydock.collector.logstore import open_store

    return open_store(settings)  # SQLite (data_dir/logs.sqlite) unless settings name Elasticsearch


def create_app(settings: CollectorSettings, engine_factory: Any = None) -> FastAPI:
    """Build the app; a bad config raises ConfigError here, before anything listens."""
    collector = Collector(settings, engine_factory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await collector.start()
        loop = asyncio.get_running_loop()
        hup = threading.current_thread() is threading.main_thread()
        if hup:
            def on_hup() -> None:
                async def go() -> None:
                    try:
                        await collector.reload()
                    except ConfigError:
                        pass  # logged by reload; the running config stays

                loop.create_task(go())

            loop.add_signal_handler(signal.SIGHUP, on_hup)
        try:
            yield
        finally:
            if hup:
                loop.remove_signal_handler(signal.SIGHUP)
            await collector.stop()
            collector.close()
            close = getattr(app.state.logstore, "close", None)
            if close is not None:
                close()

    # No /docs or /openapi.json: they skip auth and the docs page loads its script from a CDN.
    app = FastAPI(title="pydock collector", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    from pydock.collector.guard import Guard  # cross-origin writes, content types, lifecycle, body limits

    app.add_middleware(Guard, enable_lifecycle=settings.enable_lifecycle, max_log_pushes=settings.max_log_pushes,
                       read_timeout_s=settings.read_timeout_s)
    app.state.settings = settings
    app.state.collector = collector
    app.state.tsdb = collector.tsdb
    app.state.engine = collector.engine
    app.state.rules = collector.rules
    app.state.notifier = collector.notifier
    app.state.targets = collector.scrape
    app.state.logstore = _open_logstore(settings)
    # LogQL in queries and rules, and log lines in alerts, read this store (docs/logql.md).
    if hasattr(collector.engine, "logstore"):
        collector.engine.logstore = app.state.logstore
    collector.rules.logstore = app.state.logstore
    for name in ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise  # the router exists but one of its imports is missing: a real error
            continue
        app.include_router(module.router)
    return app
