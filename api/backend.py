"""What every router shares: the settings, one `Runtime`, the agent's stats sampler, the exec
instances made through `POST /containers/{id}/exec`, and the attach connections waiting for a
container's start (`docker run` attaches before it starts the container)."""

from __future__ import annotations

import functools
import os
import select
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from pydock.api.http import ApiError

from pydock.settings import Settings


@dataclass
class PendingAttach:
    """A non-TTY attach made before start: `start` hands the container's output pipes here."""

    stdin: bool
    ready: threading.Event = field(default_factory=threading.Event)
    out_r: int = -1
    err_r: int = -1
    stdin_w: int = -1
    started: Any = None
    failed: BaseException | None = None


class Backend:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.lock = threading.Lock()
        self.execs: dict[str, Any] = {}
        self.attaches: dict[str, PendingAttach] = {}

    @functools.cached_property
    def runtime(self) -> Any:
        from pydock.runtime.lifecycle import Runtime

        return Runtime(self.settings)

    @functools.cached_property
    def sampler(self) -> Any:
        from pydock.agent.sampler import Sampler

        # The same sampler `pydock stats` uses; pydock's containers only (foreign=False).
        return Sampler(self.settings.root, cache_seconds=0, foreign=False, root=False)

    def record(self, ref: str) -> Any:
        return self.runtime.store.get(ref)


def client_gone(sock: socket.socket) -> bool:
    """True when the peer closed its side: a readable socket with nothing to read. Used by follow
    streams that may sit idle (events, logs -f of a quiet container), so their thread ends."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def body_dict(body: Any, what: str) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise ApiError(400, f"malformed body: {what} must be a JSON object")
    return body


def close_fd(fd: int) -> None:
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
