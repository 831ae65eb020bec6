"""Serving the collector's app with uvicorn so that a stop signal never waits on a running query.

uvicorn, on SIGTERM/SIGINT, first waits for every open connection to finish its response and only
then runs the app's shutdown; a PromQL query evaluating in a worker thread would hold that wait for
as long as it runs. The server here cancels the running queries as the signal arrives (they answer
503 "query was canceled") and refuses new ones, so shutdown proceeds at once.
"""

from __future__ import annotations

from types import FrameType
from typing import Any

import uvicorn


class CollectorServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, engine: Any) -> None:
        super().__init__(config)
        self.engine = engine

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        cancel = getattr(self.engine, "cancel_all", None)
        if cancel is not None:
            cancel(close=True)
        super().handle_exit(sig, frame)


def serve(app: Any, host: str, port: int, log_level: str) -> None:
    """Serve `app` (from create_app) until a stop signal."""
    s = getattr(app.state, "settings", None)
    # A bound on connections (503 beyond it) and on idle keep-alive: slow clients cannot pile up.
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False,
                            limit_concurrency=getattr(s, "max_connections", 512), timeout_keep_alive=30)
    CollectorServer(config, app.state.engine).run()
