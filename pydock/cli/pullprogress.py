"""Docker-style progress for pull and push, drawn from the runtime's JSON progress events.

On a terminal, one live line per layer (`a1b2c3d4e5f6: Downloading [=====>    ] 1.2MB/3.4MB 5MB/s`)
with rich; otherwise one plain line per status change (no byte counts), as `docker pull | cat`
prints; `-q` prints nothing here (the command prints the name at the end).
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any

_STEADY = ("Downloading", "Pushing", "Extracting")


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}GB"


class Progress:
    def __init__(self, quiet: bool = False, tty: bool | None = None, stderr: bool = False) -> None:
        self.quiet = quiet
        self.out = sys.stderr if stderr else sys.stdout  # `run` keeps stdout for the container
        self.tty = self.out.isatty() if tty is None else tty
        self._lines: dict[str, str] = {}
        self._started: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()
        self._live: Any = None
        self._after: list[str] = []
        if self.tty and not quiet:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(highlight=False, stderr=stderr), refresh_per_second=8,
                              transient=False)
            self._live.start()

    def _bar(self, id_: str, cur: int, total: int) -> str:
        t0, c0 = self._started.setdefault(id_, (time.monotonic(), cur))
        dt = time.monotonic() - t0
        rate = f" {_size((cur - c0) / dt)}/s" if dt > 0.2 else ""
        if not total:
            return f"{_size(cur)}{rate}"
        width = 40
        done = min(width, int(width * cur / total))
        arrow = ">" if done < width else ""
        return f"[{'=' * done}{arrow}{' ' * (width - done - len(arrow))}] {_size(cur)}/{_size(total)}{rate}"

    def __call__(self, ev: dict[str, Any]) -> None:
        if self.quiet:
            return
        status, id_ = str(ev.get("status", "")), ev.get("id")
        with self._lock:
            if self._live is None:
                if status in _STEADY and ev.get("progressDetail", {}).get("current"):
                    return  # plain output: one line per state, not per chunk
                print(f"{id_}: {status}" if id_ else status, file=self.out, flush=True)
                return
            if id_ is None and self._lines:
                self._after.append(status)  # Digest/Status lines go below the layers, as in Docker
                return
            if id_ is None or status.startswith("Pulling from"):
                self._live.console.print(f"{id_}: {status}" if id_ else status)
                return
            detail = ev.get("progressDetail") or {}
            line = status
            if status in _STEADY and "current" in detail:
                line = f"{status} {self._bar(id_, int(detail['current']), int(detail.get('total') or 0))}"
            self._lines[id_] = line
            from rich.text import Text

            self._live.update(Text("\n".join(f"{k}: {v}" for k, v in self._lines.items())))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            for line in self._after:
                self._live.console.print(line)
            self._live = None
