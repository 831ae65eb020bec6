"""Launching a shim ahead of its container, from a module light enough to import first.

`pydock run` spawns the shim before it imports the lifecycle (and before the record is made), so
the shim's interpreter starts while the CLI still works: the two overlap instead of adding up.
The shim then waits on a pipe for the id of its container (`ShimLaunch.id_w`).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

from pydock.settings import Settings


@dataclass
class ShimLaunch:
    """A shim started ahead of its container (`spawn_shim`), waiting on `id_w` for the id."""

    proc: Any  # subprocess.Popen
    id_w: int
    status_r: int

    def cancel(self) -> None:
        """Ends an unused launch: the shim reads EOF instead of an id and exits."""
        if self.id_w >= 0:
            os.close(self.id_w)
            self.id_w = -1
            os.close(self.status_r)
            self.proc.wait()


def spawn_shim(settings: Settings, attach: tuple[int, int] | None = None, stdin: int = -1) -> ShimLaunch:
    """Launches a shim that waits for the id of the container to run.

    `attach`: the write ends of a foreground caller's stdout/stderr pipes; `stdin`: the read end of
    its stdin pipe (`run -i`). A launch never used is ended by `ShimLaunch.cancel` (or by the
    caller's exit, which closes the pipe)."""
    import subprocess  # here: the shim imports this module's users and never spawns

    settings.run.mkdir(parents=True, exist_ok=True)
    id_r, id_w = os.pipe2(os.O_CLOEXEC)
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    args = [sys.executable, "-m", "pydock.runtime.shim", "--root", str(settings.root),
            "--run", str(settings.run), "--id-fd", str(id_r), "--status-fd", str(status_w)]
    fds = [id_r, status_w]
    if attach is not None:
        args += ["--attach", ",".join(str(fd) for fd in (*attach, stdin) if fd >= 0)]
        fds += [fd for fd in (*attach, stdin) if fd >= 0]
    try:
        # Until the shim knows its container it logs here; then to $RUN/containers/<id>/shim.log.
        with open(settings.run / "shim-launch.log", "ab") as log:
            proc = subprocess.Popen(args, pass_fds=fds, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    close_fds=True)
    except BaseException:
        os.close(id_w)
        os.close(status_r)
        raise
    finally:
        os.close(id_r)
        os.close(status_w)
    return ShimLaunch(proc, id_w, status_r)
