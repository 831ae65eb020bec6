"""The Engine API server: builds the router from the resource modules and serves it on a unix
socket (mode 0660, owned by root and `group`), as dockerd serves /var/run/docker.sock."""

from __future__ import annotations

import grp
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydock.api import build, containers, images, networks, streams, system, volumes
from pydock.api import exec as exec_routes
from pydock.api.backend import Backend
from pydock.api.http import Router, UnixHTTPServer

from pydock.errors import UsageError
from pydock.settings import Settings

DEFAULT_HOST = "unix:///run/pydock/docker.sock"


def build_router(backend: Backend) -> Router:
    r = Router()
    for module in (system, containers, streams, exec_routes, images, build, volumes, networks):
        module.register(r, backend)
    return r


def socket_path(host: str) -> Path:
    if not host.startswith("unix://"):
        raise UsageError(f"invalid --host {host!r}: pydock serves the API on a unix socket only (unix:///path)")
    path = host[len("unix://"):]
    if not path.startswith("/"):
        raise UsageError(f"invalid --host {host!r}: the socket path must be absolute")
    return Path(path)


def create_server(settings: Settings, host: str = DEFAULT_HOST, group: str | None = None,
                  access_log: Any = None) -> UnixHTTPServer:
    """Binds the socket (replacing a stale one) and returns the server, not yet serving."""
    path = socket_path(host)
    gid = -1
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise UsageError(f"invalid --group {group!r}: no such group") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    # Created under umask 0o177 so the socket is never reachable by others, even for an instant.
    old = os.umask(0o177)
    try:
        server = UnixHTTPServer(str(path), build_router(Backend(settings)), access_log)
    finally:
        os.umask(old)
    os.chown(path, 0 if os.geteuid() == 0 else -1, gid)
    os.chmod(path, 0o660)
    return server


def serve(settings: Settings, host: str = DEFAULT_HOST, group: str | None = None) -> None:
    """Serves until SIGTERM or SIGINT; removes the socket on the way out."""
    server = create_server(settings, host, group,
                           access_log=(lambda line: print(line, file=sys.stderr)) if os.environ.get("PYDOCK_API_LOG") else None)

    def stop(_sig: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"pydock API listening on {host}", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.5)
    finally:
        server.server_close()
        try:
            socket_path(host).unlink()
        except FileNotFoundError:
            pass
