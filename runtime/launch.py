"""Launching a shim ahead of its container, from a module light enough to import first.

`pydock run` spawns the shim before it imports click and the lifecycle (`spawn_early`, from
`pydock.cli.main`), so the shim's interpreter starts while the CLI still works: the two overlap
instead of adding up (docs/performance.md, "run"). The shim then waits on a socket for the id of its
container (`ShimLaunch.hand_over`), which may carry the caller's stdout/stderr/stdin pipes with it
(SCM_RIGHTS), because whether a `run` is attached is known only once its flags are parsed.

The shim's interpreter runs without `site` (`-S`): site's .pth files (the editable install's import
hook among them) cost the shim ~15 ms and ~2 MB. It gets this process's sys.path instead, and a
finder for the few pydock packages it imports (`_boot_code`), so it imports the same files.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # not `typing`'s (2.5 ms): this module is imported before the shim can start
if TYPE_CHECKING:
    from pydock.settings import Settings

# The pydock packages the shim imports, each found where this process finds it (an editable install
# maps `pydock.runtime` to the repository's runtime/; a wheel keeps it under pydock/).
_SHIM_PACKAGES = ("pydock", "pydock.runtime", "pydock.logdrivers")


class ShimLaunch:
    """A shim started ahead of its container (`spawn_shim`), waiting on `id_w` for the id."""

    def __init__(self, pid: int, id_w: int, status_r: int, attached: bool) -> None:
        self.pid = pid  # the shim's first process: it double-forks and exits at once
        self.id_w = id_w
        self.status_r = status_r
        self.attached = attached  # the caller's pipes went to the shim at spawn (`--attach`)
        self.reaped = False

    def hand_over(self, container_id: str, fds: tuple[int, ...] = ()) -> None:
        """Sends the container's id (and the caller's stdout, stderr[, stdin] pipes, `fds`); the
        shim duplicates them, so the caller closes its own as before."""
        import _socket  # socket.py's enum set-up costs milliseconds the CLI does not need
        import array

        sock = _socket.socket(fileno=self.id_w)
        try:
            ancillary = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array.array("i", fds).tobytes())] if fds else []
            sock.sendmsg([container_id.encode() + b"\n"], ancillary)
        finally:
            sock.detach()
            os.close(self.id_w)
            self.id_w = -1

    def wait_forked(self) -> None:
        """Reaps the shim's first process, which exits as soon as the shim has daemonized."""
        if not self.reaped:
            self.reaped = True
            while True:
                try:
                    os.waitpid(self.pid, 0)
                    return
                except InterruptedError:
                    continue
                except ChildProcessError:
                    return

    def cancel(self) -> None:
        """Ends an unused launch: the shim reads EOF instead of an id and exits."""
        if self.id_w >= 0:
            os.close(self.id_w)
            self.id_w = -1
            os.close(self.status_r)
            self.wait_forked()


_early: tuple[str, str, ShimLaunch] | None = None


def spawn_early() -> None:
    """`pydock run`, first thing: starts a shim that gets its pipes with the id (`take_early`).
    Unused (bad flags, `--help`, `-t`), it reads EOF when this process exits, and ends."""
    global _early
    if _early is None:
        root = os.environ.get("PYDOCK_ROOT", "/var/lib/pydock")
        run = os.environ.get("PYDOCK_RUN", "/run/pydock")
        _early = (root, run, _spawn(root, run, None, -1))


def take_early(settings: Settings) -> ShimLaunch | None:
    """The shim `spawn_early` started, if it was started for these settings (once)."""
    global _early
    if _early is None:
        return None
    root, run, launch = _early
    _early = None
    if (root, run) != (str(settings.root), str(settings.run)):
        launch.cancel()
        return None
    return launch


def spawn_shim(settings: Settings, attach: tuple[int, int] | None = None, stdin: int = -1) -> ShimLaunch:
    """Launches a shim that waits for the id of the container to run.

    `attach`: the write ends of a foreground caller's stdout/stderr pipes; `stdin`: the read end of
    its stdin pipe (`run -i`). A launch never used is ended by `ShimLaunch.cancel` (or by the
    caller's exit, which closes the socket)."""
    return _spawn(settings.root, settings.run, attach, stdin)


def _spawn(root: object, run: object, attach: tuple[int, int] | None, stdin: int) -> ShimLaunch:
    import _socket

    os.makedirs(str(run), exist_ok=True)
    id_r, id_w = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM)
    id_r_fd, id_w_fd = id_r.detach(), id_w.detach()
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    args = [sys.executable, "-S", "-s", "-P", "-c", _boot_code(), "--root", str(root), "--run", str(run),
            "--id-fd", str(id_r_fd), "--status-fd", str(status_w)]
    fds = [id_r_fd, status_w]
    if attach is not None:
        args += ["--attach", ",".join(str(fd) for fd in (*attach, stdin) if fd >= 0)]
        fds += [fd for fd in (*attach, stdin) if fd >= 0]
    log = -1
    try:
        # Until the shim knows its container it logs here; then to $RUN/containers/<id>/shim.log.
        log = os.open(os.path.join(str(run), "shim-launch.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                      0o644)
        pid = _posix_spawn(args, fds, log)
    except BaseException:
        os.close(id_w_fd)
        os.close(status_r)
        raise
    finally:
        if log >= 0:
            os.close(log)
        os.close(id_r_fd)
        os.close(status_w)
    return ShimLaunch(pid, id_w_fd, status_r, attached=attach is not None)


def _posix_spawn(args: list[str], fds: list[int], log: int) -> int:
    """posix_spawn (vfork+exec in glibc) instead of subprocess, whose import costs the CLI ~6 ms.
    Only `fds` are inherited: pydock opens every fd close-on-exec, and the shim closes any other fd
    it inherited from the caller's caller before it daemonizes (`shim._close_inherited`)."""
    null = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, log, 1), (os.POSIX_SPAWN_DUP2, log, 2)]
        for fd in fds:
            os.set_inheritable(fd, True)
        try:
            return os.posix_spawn(args[0], args, os.environ, file_actions=actions)
        finally:
            for fd in fds:
                os.set_inheritable(fd, False)
    finally:
        os.close(null)


def _boot_code() -> str:
    """`python -S -c` code that finds pydock's packages where this process finds them, then runs the
    shim (its command line still names pydock.runtime.shim, for `ps` and the tests)."""
    import importlib.util

    where = {}
    for name in _SHIM_PACKAGES:
        spec = importlib.util.find_spec(name)
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        if locations:
            where[name] = os.path.dirname(locations[0])
    path = [p for p in sys.path[1:] if os.path.isabs(p)]
    # The collector is off while the shim imports (~150 modules: ~2.5 ms of collections), and
    # `exit_with_main` freezes what was imported and turns it back on.
    return ("import gc, sys\n"
            "gc.disable()\n"
            "from importlib.machinery import PathFinder\n"
            f"where = {where!r}\n"
            f"sys.path += [p for p in {path!r} if p not in sys.path]\n"
            "class PydockFinder:\n"
            "    @staticmethod\n"
            "    def find_spec(name, path=None, target=None):\n"
            "        return PathFinder.find_spec(name, [where[name]]) if name in where else None\n"
            "sys.meta_path.insert(0, PydockFinder)\n"
            "from pydock.runtime.shim import exit_with_main\n"
            "exit_with_main()\n")
