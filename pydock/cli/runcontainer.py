"""What `pydock run` and `pydock create` do once their flags are parsed, without click.

The click commands (pydock/cli/containers.py) and the click-free `run`/`create` fast path
(fastrun.py) both call `run_container`/`create_container` with the same options dict, so both make
the container through the same `Runtime.create` the Engine API calls, start it with the shim that
`pydock.cli.main` spawned early, and print the same output. `run_attached` serves `start -a` and
compose too.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Any

from pydock.errors import NotFoundError, UsageError
from pydock.settings import Settings


def runtime(need_root: bool = False) -> Any:
    """The runtime for the environment's settings; `need_root` refuses a non-root caller first."""
    from pydock.runtime.lifecycle import Runtime, require_root

    if need_root:  # before anything else reads files only root may read
        require_root()
    return Runtime(Settings.from_env())


def pull_first(image: str, o: dict[str, Any]) -> None:
    """`--pull missing|always|never` (pops `pull_policy` and `platform` from `o`): pulls before the
    container is made, progress on stderr as Docker prints it; `never` leaves a missing image to the
    runtime's own error. The registry commands (and click) are imported only for a pull."""
    if os.geteuid() != 0:
        runtime(need_root=True)  # the one-line "needs root" error, before the image store is read
    policy, platform = o.pop("pull_policy", "missing"), o.pop("platform", None)
    if policy not in ("missing", "always", "never"):
        raise UsageError(f'invalid pull option: "{policy}": must be one of "always", "missing" or "never"')
    if policy == "never":
        return
    if policy == "missing":
        from pydock.runtime.images import ImageStore

        try:
            ImageStore(Settings.from_env().images).get(image)
            return
        except NotFoundError:
            print(f"Unable to find image '{image}' locally", file=sys.stderr, flush=True)  # then the pull's error
    from pydock.cli.registry_cmds import pull_image  # images room

    pull_image(image, platform, stderr=True)


def create_container(image: str, command: tuple[str, ...], o: dict[str, Any]) -> None:
    """`pydock create`: makes the record and prints its id."""
    from pydock.cli.runspec import build_spec

    pull_first(image, o)
    rt = runtime(need_root=True)
    rec = rt.create(build_spec(image, command, **o))
    print(rec.id, flush=True)


def run_container(image: str, command: tuple[str, ...], detach: bool, o: dict[str, Any]) -> None:
    """`pydock run`: create and start; detached, print the id; attached, stream the output and exit
    with the container's code (SystemExit)."""
    from pydock.cli.runspec import build_spec

    pull_first(image, o)
    from pydock.runtime.launch import spawn_shim, take_early

    settings = Settings.from_env()
    if o.get("tty") and not detach:
        from pydock.cli.runflags import run_tty

        early = take_early(settings)  # a terminal's shim is launched by run_tty
        if early is not None:
            early.cancel()
        rt = runtime(need_root=True)
        rec = rt.create(build_spec(image, command, **o))
        sys.exit(run_tty(rt, rec.id, bool(o.get("interactive"))))  # runtime depth: a real terminal
    if os.geteuid() != 0:
        runtime(need_root=True)  # raises the one-line "needs root" error
    out, err = (None, None) if detach else (os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC))
    # -i: the caller's stdin goes to the container through a pipe (its read end is the shim's).
    stdin = os.pipe2(os.O_CLOEXEC) if o.get("interactive") and not detach else None
    # The shim's interpreter starts first, before this process imports the lifecycle and makes the
    # record, so the two overlap; the shim waits for the container's id. `pydock.cli.main` started
    # it before click was imported (`spawn_early`); the pipes then go with the id.
    stdin_r = -1
    launch = take_early(settings)
    if launch is not None:
        stdin_r = stdin[0] if stdin else -1
    else:
        try:
            launch = spawn_shim(settings, None if out is None or err is None else (out[1], err[1]),
                                stdin[0] if stdin else -1)
        finally:
            if stdin:
                os.close(stdin[0])
    try:
        rt = runtime()
        rec = rt.create(build_spec(image, command, **o))
    except BaseException:
        launch.cancel()
        if stdin_r >= 0:
            os.close(stdin_r)
        raise
    if detach:
        rt.start(rec.id, launch=launch).close()
        print(rec.id, flush=True)
        return
    sys.exit(run_attached(rt, rec.id, launch, out, err, stdin[1] if stdin else -1, stdin_r=stdin_r))


def run_attached(rt: Any, cid: str, launch: Any = None, out: tuple[int, int] | None = None,
                 err: tuple[int, int] | None = None, stdin_w: int = -1, interactive: bool = False,
                 stdin_r: int = -1) -> int:
    """Streams the container's output, forwards SIGINT/SIGTERM to it, returns its exit code.

    `stdin_w`: the write end of the container's stdin pipe (the shim already has its read end, or
    gets `stdin_r` with the id); `interactive` without it: make that pipe here, for the shim `start`
    launches."""
    out_r, out_w = out or os.pipe2(os.O_CLOEXEC)
    err_r, err_w = err or os.pipe2(os.O_CLOEXEC)
    if interactive and stdin_w < 0:
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    try:
        started = rt.start(cid, attach=(out_w, err_w), launch=launch, stdin=stdin_r)
    except BaseException:
        if stdin_w >= 0:
            os.close(stdin_w)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
        if stdin_r >= 0:
            os.close(stdin_r)
    if stdin_w >= 0:
        # A daemon thread: a container that exits before stdin ends does not wait for it.
        threading.Thread(target=_feed, args=(sys.stdin.fileno(), stdin_w), daemon=True).start()

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(started.pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    pumps = [threading.Thread(target=_pump, args=(out_r, sys.stdout), daemon=True),
             threading.Thread(target=_pump, args=(err_r, sys.stderr), daemon=True)]
    for p in pumps:
        p.start()
    for p in pumps:
        while p.is_alive():
            p.join(0.2)  # joined in slices so Ctrl-C reaches the handler
    return int(started.wait_exit())


def _feed(src: int, dst: int) -> None:
    """The caller's stdin into the container's; EOF (or the container gone) closes it."""
    try:
        while data := os.read(src, 65536):
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]
    except OSError:  # EPIPE: the container closed its stdin or exited
        pass
    finally:
        os.close(dst)


def _pump(fd: int, stream: Any) -> None:
    out = getattr(stream, "buffer", None)
    try:
        while data := os.read(fd, 65536):
            if out is not None:
                out.write(data)
                out.flush()
            else:
                stream.write(data.decode(errors="replace"))
                stream.flush()
    finally:
        os.close(fd)
