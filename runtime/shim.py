"""The shim: one small monitor per container, detached from the CLI, parent of the container.

`python -m pydock.runtime.shim --root R --run D (--id ID | --id-fd N) --status-fd N [--attach OUT,ERR[,IN]]`
(`--id-fd`: launched before its container exists, it reads the id from that pipe; EOF means "none";
`IN`: a foreground `run -i`'s stdin, the container's fd 0 on its first run).

It double-forks away from its caller, holds `shim.lock` in the container's directory for as long as
it lives (so readers can tell a live shim from a killed one), makes the container's cgroup, starts
the container (container_init.py) and owns its stdout/stderr pipes, handing every line to the log
driver through the copier. It reports to its caller on the status pipe, one line each:
`started <pid>`, `error <code> <message>`, and later `exited <code>`; it records exit code and times
atomically in state.json, and removes a `--rm` container after it exits. At each exit the log driver
is closed (every line flushed) before the exit is recorded, so whoever sees the exited state sees
every line in the logs; a restart opens the driver again, as Docker does.

The life of the container is the loop in `Shim.run`: `start_process`, `wait_process`,
`close_output`, `record_exit`, then `should_restart` (the hook restart policies plug into), then
`finish`.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from pydock.runtime import container_init, lifecycle, ulimits
from pydock.runtime.atomic import Lock, write_json
from pydock.runtime.store import EXIT_FILE, SHIM_LOCK, load_record
from pydock.runtime.supervise import Supervisor

from pydock.errors import PydockError
from pydock.settings import Settings
from pydock.units import utc_iso


@dataclass(frozen=True)
class Process:
    pid: int
    stdout: int  # read ends of the container's pipes
    stderr: int


class StartError(PydockError):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.exit_code = code


class Shim:
    def __init__(self, settings: Settings, container_id: str, status_fd: int,
                 attach: tuple[int, int] | None = None, stdin: int = -1) -> None:
        self.settings = settings
        self.id = container_id
        self.dir = settings.containers / container_id
        self.run_dir = settings.run / "containers" / container_id
        self.status_fd = status_fd
        self.attach = attach
        self.stdin = stdin  # the caller's stdin pipe (`run -i`): fd 0 of the first run only
        self.record = load_record(self.dir)
        self.cgroup: Any = None
        self.driver: Any = None
        self.copier_thread: threading.Thread | None = None
        self.supervisor: Any = None  # runtime depth: events, OOM, health, restart (runtime/supervise.py)
        self.console: Any = None  # runtime depth: the pty of a -t container (runtime/tty.py)
        self.network: Any = None  # network room: netns, veths, DNS while the shim lives (runtime/network/)
        self.pid = 0  # the container's PID 1 while it runs
        self.terminating = False

    def terminate(self, signum: int, _frame: Any) -> None:
        """SIGTERM to the shim (shutdown, a stray kill): the container is killed and the usual exit
        path records it and cleans up (cgroup, --rm), instead of the shim vanishing mid-way."""
        self.terminating = True
        if self.pid > 0:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        else:
            raise SystemExit(128 + signum)

    # -- reporting -----------------------------------------------------------------------------

    def report(self, line: str) -> None:
        if self.status_fd < 0:
            return
        try:
            os.write(self.status_fd, (line + "\n").encode())
        except OSError:  # the caller went away (Ctrl-C, closed terminal): keep running without it
            os.close(self.status_fd)
            self.status_fd = -1

    def detach_caller(self) -> None:
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def update_state(self, **changes: Any) -> None:
        lifecycle.update_state(self.dir, **changes)

    # -- the container's life ------------------------------------------------------------------

    def prepare(self) -> None:
        from pydock.runtime import cgroups

        self.open_driver()  # first: a bad option fails before a cgroup is made
        limits = cgroups.Limits.from_host_config(self.record.config.get("HostConfig", {}))
        parent = self.record.config.get("HostConfig", {}).get("CgroupParent") or cgroups.DEFAULT_PARENT
        self.cgroup = cgroups.create(self.id, limits, parent=parent)  # runtime depth: --cgroup-parent
        from pydock.runtime.security.devices import apply_cgroup  # security room: --device, the v2 filter

        apply_cgroup(self.cgroup.paths, self.record.config.get("HostConfig", {}))
        self.supervisor = Supervisor(self.settings, self.dir, self.cgroup)  # runtime depth: events, health, restart
        if self.record.config.get("HostConfig", {}).get("NetworkMode", "none") in ("none", "host"):
            return  # nothing to plumb (endpoint.plumb): the network room costs a shim ~2 MB
        from pydock.runtime.network.endpoint import plumb  # network room

        try:
            self.network = plumb(self.settings, self.record)
        except PydockError as exc:
            raise StartError(exc.exit_code, str(exc)) from exc

    def open_driver(self) -> None:
        from pydock.logdrivers import registry

        self.driver = registry.create_driver(self.record.log_driver, lifecycle.log_info(self.record),
                                             self.record.log_opts)

    def start_process(self) -> Process:
        if self.driver is None:  # closed at the previous exit (a restart)
            self.open_driver()
        cfg = lifecycle.init_config(self.settings, self.record)
        if self.record.config["HostConfig"].get("IDMappings"):  # security room: --userns auto, its namespace made here
            cfg = self.begin_userns(cfg)
        (self.dir / EXIT_FILE).unlink(missing_ok=True)  # a previous run's code must not outlive it
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg.target.mkdir(exist_ok=True)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        if self.record.config["Config"].get("Tty"):  # runtime depth: a -t container's stdio is a pty
            from pydock.runtime import tty

            out_r, out_w, err_r, err_w = tty.console_pipes(self, out_r, out_w, err_r, err_w)
        sync_r, sync_w = os.pipe2(os.O_CLOEXEC)
        fail_r, fail_w = os.pipe2(os.O_CLOEXEC)
        from pydock.runtime import syscalls

        # unshare(CLONE_NEWPID) affects only our next child, which becomes PID 1 of a new namespace.
        # While that is pending the kernel refuses to make threads (clone with CLONE_THREAD), so we
        # re-enter our own PID namespace right after the fork; that also lets a restart unshare again.
        own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        try:
            if cfg.userns is None:  # with a user namespace the helper makes it, owned by that (userns.py)
                syscalls.unshare(syscalls.CLONE_NEWPID)
            pid = os.fork()
            if pid == 0:
                try:
                    os.dup2(self.stdin if self.stdin >= 0 else os.open("/dev/null", os.O_RDONLY), 0)
                    os.dup2(out_w, 1)
                    os.dup2(err_w, 2)
                    if self.console is not None:
                        cfg = self.console.in_child(cfg)  # runtime depth: -t, the container makes its pty
                    ulimits.apply_in_child(self.record.config["HostConfig"], fail_w)  # runtime depth
                    container_init.run(cfg, sync_r, fail_w)
                finally:
                    os._exit(125)
            syscalls.setns(own, syscalls.CLONE_NEWPID)
        finally:
            os.close(own)
        for fd in (out_w, err_w, sync_r, fail_w):
            os.close(fd)
        if cfg.userns is not None:
            cfg.userns.close_parent()
        if self.stdin >= 0:  # the container holds it now; a restart reads /dev/null
            os.close(self.stdin)
            self.stdin = -1
        if self.console is not None:
            self.console.after_fork()  # runtime depth: only the container holds its end now
        try:
            self.cgroup.add_pid(pid)
            os.write(sync_w, b"1")
        except (PydockError, OSError) as exc:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            for fd in (out_r, err_r, fail_r, sync_w, *((cfg.userns.pid_r,) if cfg.userns else ())):
                os.close(fd)
            raise StartError(125, f"placing the container in its cgroup: {exc}") from exc
        os.close(sync_w)
        failure = b""
        while chunk := os.read(fail_r, 4096):
            failure += chunk
        os.close(fail_r)
        if cfg.userns is not None:  # security room: the helper is gone; PID 1 is our child too
            pid = cfg.userns.container_pid(pid)
            failure = failure or (b"" if pid else b"125 the user namespace's helper exited before the container started")
        if failure:
            if pid:
                os.waitpid(pid, 0)
            os.close(out_r)
            os.close(err_r)
            code, _, message = failure.decode(errors="replace").partition(" ")
            raise StartError(int(code) if code.isdigit() else 125, message)
        return Process(pid, out_r, err_r)

    def begin_userns(self, cfg: Any) -> Any:
        """security room: the container's user namespace, its maps written from here (userns.py)."""
        from dataclasses import replace

        from pydock.runtime.security import userns

        idmap = userns.IdMap.from_config(self.record.config)
        assert idmap is not None
        try:
            return replace(cfg, userns=userns.begin(self.settings.root, idmap))
        except PydockError as exc:
            raise StartError(125, str(exc)) from exc

    def copy_output(self, proc: Process) -> None:
        from pydock.logdrivers.copier import Copier

        streams = {"stdout": proc.stdout, "stderr": proc.stderr}
        tees: list[threading.Thread] = []
        if self.attach is not None:
            # A foreground `run` sees the output live: a tee per stream feeds both the caller and
            # the copier, so the log driver still gets every line.
            streams = {}
            for name, src, dst in (("stdout", proc.stdout, self.attach[0]), ("stderr", proc.stderr, self.attach[1])):
                r, w = os.pipe2(os.O_CLOEXEC)
                streams[name] = r
                t = threading.Thread(target=_tee, args=(src, dst, w), daemon=True)
                t.start()
                tees.append(t)
            self.attach = None  # the tees own (and close) the caller's pipes: a restart is not attached

        def work() -> None:
            Copier(self.driver, streams=streams).run()
            for t in tees:
                t.join()
            for fd in set(streams.values()) | {proc.stdout, proc.stderr}:
                try:
                    os.close(fd)
                except OSError:
                    pass

        self.copier_thread = threading.Thread(target=work, name="copier", daemon=True)
        self.copier_thread.start()

    def wait_process(self, proc: Process) -> int:
        while True:
            try:
                _, status = os.waitpid(proc.pid, 0)
                break
            except ChildProcessError:
                return 255
            except InterruptedError:
                continue
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)

    def close_output(self, grace: float = 10.0) -> None:
        """Flushes and closes the log driver once the copier has handed it every line.

        PID 1's exit killed the whole namespace, so the pipes reach EOF promptly; a copier stuck on
        a dead endpoint (blocking mode) is given `grace` seconds (dockerd's loggerCloseTimeout),
        then `close()` aborts the stuck send and the lines left are counted as dropped."""
        if self.copier_thread is not None:
            self.copier_thread.join(grace)
        if self.driver is not None:
            driver, self.driver = self.driver, None
            driver.close()
        if self.copier_thread is not None:
            self.copier_thread.join(grace)  # what is left is dropped now: it ends promptly
            self.copier_thread = None

    def record_exit(self, code: int) -> None:
        finished = utc_iso()
        # Not fsynced: it stands in for the shim if the shim is killed, not for a crashed host.
        write_json(self.dir / EXIT_FILE, {"ExitCode": code, "FinishedAt": finished}, durable=False)
        # The code also goes into shim.lock itself: a `wait`er holds that file open, so it can read
        # the code even after a --rm container's directory is gone.
        with open(self.dir / SHIM_LOCK, "r+b") as f:
            f.truncate(0)
            f.write(f"{code}\n".encode())
        oom = False
        try:
            # runtime depth: the supervisor counts only this run's OOM kills (the cgroup outlives restarts)
            oom = self.supervisor.exiting(code) if self.supervisor is not None else self.cgroup.oom_kill_count() > 0
        except PydockError:
            pass
        self.update_state(Status="exited", Running=False, Pid=0, ExitCode=code, FinishedAt=finished,
                          OOMKilled=oom)

    def should_restart(self, code: int) -> bool:
        """The hook for restart policies (`--restart`): True starts the container again."""
        return not self.terminating and self.supervisor is not None and self.supervisor.should_restart(code)

    def finish(self) -> None:
        if self.supervisor is not None:
            self.supervisor.close()
        if self.console is not None:
            self.console.close()
        if self.network is not None:  # network room: after the container, whose namespace this was
            self.network.close()
            self.network = None
        # After an error with the container still running its pipes stay open: no waiting for them.
        self.close_output(grace=0 if self.pid > 0 else 10.0)
        if self.cgroup is not None:
            self.cgroup.remove()
            if not self.record.auto_remove:  # a --rm record goes next: no state write for it
                self.update_state(CgroupPaths={})
        if self.record.auto_remove:
            lifecycle.remove_files(self.settings, self.record, volumes=True)
            from pydock.runtime.events import emit_for  # api room: --rm's removal is Docker's destroy too

            emit_for(self.settings.root, "destroy", self.record)

    def run(self) -> int:
        """Starts the container and watches it until it is gone for good; returns its last code."""
        code = 125
        started = False
        final = ""  # the last status line, sent once everything (even --rm's removal) is done
        try:
            while True:
                if self.cgroup is None:
                    self.prepare()
                if self.supervisor is not None:
                    self.supervisor.starting(self.cgroup)
                try:
                    proc = self.start_process()
                except StartError as exc:
                    self.update_state(Status="created" if not started else "exited", Running=False, Pid=0,
                                      ExitCode=exc.exit_code, Error=str(exc))
                    final = f"error {exc.exit_code} {exc}"
                    return exc.exit_code
                started = True
                self.pid = proc.pid
                self.update_state(Status="running", Running=True, Pid=proc.pid, ShimPid=os.getpid(),
                                  ExitCode=0, Error="", StartedAt=utc_iso(), FinishedAt=lifecycle.ZERO_TIME,
                                  CgroupPaths=self.cgroup.paths, OOMKilled=False)
                self.supervisor.started(proc.pid)  # before the report: `start` returns with events and Health set
                self.report(f"started {proc.pid}")
                self.copy_output(proc)
                code = self.wait_process(proc)
                self.pid = 0
                self.close_output()
                self.record_exit(code)
                self.supervisor.exited(code)
                if self.supervisor.may_restart():
                    # A foreground `run` returns at the first exit, as Docker's client does; the
                    # container goes on being restarted here.
                    self.report(f"exited {code}")
                    self.detach_caller()
                if not self.should_restart(code):
                    return code
        except PydockError as exc:
            code = exc.exit_code
            self.update_state(Status="exited" if started else "created", Running=False, Pid=0,
                              ExitCode=code, Error=str(exc))
            final = f"error {code} {exc}"
            return code
        finally:
            self.finish()
            # Reported last, so a foreground `run --rm` returns only once the container is gone.
            if final:
                self.report(final)
            elif started:
                self.report(f"exited {code}")


def _tee(src: int, attach: int, dst: int) -> None:
    try:
        while data := os.read(src, 65536):
            if attach >= 0:
                try:
                    _write_all(attach, data)
                except OSError:  # the foreground CLI is gone; the logs still get everything
                    os.close(attach)
                    attach = -1
            _write_all(dst, data)
    finally:
        os.close(dst)
        if attach >= 0:
            os.close(attach)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _daemonize() -> None:
    """Double fork: the caller's child exits at once, the shim is reparented and survives the caller."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTSTP, signal.SIGTTOU, signal.SIGTTIN):
        signal.signal(sig, signal.SIG_IGN)


def _read_id(fd: int) -> tuple[str, list[int]]:
    """The container's id from the launch socket, and the caller's pipes if they came with it
    (SCM_RIGHTS: stdout, stderr[, stdin] of a `run` that attaches, see launch.py)."""
    import _socket  # the C module: socket.py's enum set-up costs the shim milliseconds
    import array

    sock = _socket.socket(fileno=fd)
    data, fds = b"", array.array("i")
    try:
        while not data.endswith(b"\n"):
            chunk, ancillary, _flags, _addr = sock.recvmsg(128, _socket.CMSG_SPACE(3 * fds.itemsize))
            for level, kind, payload in ancillary:
                if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                    fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    for passed in fds:
        os.set_inheritable(passed, False)
    return data.decode(errors="replace").strip(), list(fds)


def _preload() -> None:
    """Imports what starting any container needs and this module imports only when used (the log
    driver registry, the default driver, the copier), while a shim launched ahead of its container
    waits for the id: ~15 ms off `run`, measured with cProfile (docs/performance.md)."""
    from pydock.logdrivers import copier, jsonfile, registry  # noqa: F401


def _close_inherited(keep: set[int]) -> None:
    """Closes every fd but stdio and `keep`: launched by posix_spawn, the shim inherits whatever its
    caller's caller left open without close-on-exec, and a long-lived shim must not hold it open."""
    low = 3
    for fd in sorted(keep):
        if fd >= low:
            os.closerange(low, fd)
            low = fd + 1
    os.closerange(low, 65536)


def _log_to(path: Path) -> None:
    """From here on, the shim's own stdout/stderr (tracebacks) go to the container's shim.log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


@dataclass
class Args:
    root: str = ""
    run: str = ""
    id: str = ""
    id_fd: int = -1  # read the container id from this fd (launched ahead of its container)
    status_fd: int = -1
    attach: str = ""


def parse_args(argv: list[str]) -> Args:
    """`--name value` pairs only: the CLI is the one caller (argparse would cost the shim ~3 ms and
    its memory)."""
    args = Args()
    if len(argv) % 2:
        raise SystemExit(f"pydock-shim: expected --option value pairs, got {argv!r}")
    for flag, value in zip(argv[::2], argv[1::2]):
        name = flag.removeprefix("--").replace("-", "_")
        if not flag.startswith("--") or name not in Args.__dataclass_fields__:
            raise SystemExit(f"pydock-shim: unknown option {flag}")
        try:
            setattr(args, name, int(value) if name.endswith("_fd") else value)
        except ValueError:
            raise SystemExit(f"pydock-shim: {flag} takes a number, not {value!r}") from None
    if not args.root or not args.run:
        raise SystemExit("pydock-shim: --root and --run are required")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    fds = [int(x) for x in args.attach.split(",")] if args.attach else []
    if argv is None:
        _close_inherited({args.id_fd, args.status_fd, *fds})
    _daemonize()
    if args.id_fd >= 0:
        _preload()  # while the caller still makes the record
        args.id, passed = _read_id(args.id_fd)
        fds = fds or passed
        if not args.id:
            return 0  # the caller failed to make the container, or found it running: nothing to do
    if not re.fullmatch(r"[0-9a-f]{64}", args.id):
        raise SystemExit(f"pydock-shim: invalid container id {args.id!r}")
    _log_to(Path(args.run) / "containers" / args.id / "shim.log")
    settings = Settings(root=Path(args.root), run=Path(args.run), config_file=Path("/dev/null"))
    container_dir = settings.containers / args.id
    lock = Lock(container_dir / SHIM_LOCK)
    lock.acquire()
    attach = (fds[0], fds[1]) if len(fds) >= 2 else None
    try:
        shim = Shim(settings, args.id, args.status_fd, attach, fds[2] if len(fds) == 3 else -1)
        signal.signal(signal.SIGTERM, shim.terminate)
        return shim.run()
    except PydockError as exc:
        if args.status_fd >= 0:
            try:
                os.write(args.status_fd, f"error {exc.exit_code} {exc}\n".encode())
            except OSError:
                pass
        return exc.exit_code
    finally:
        lock.release()


def exit_with_main() -> NoReturn:
    """Runs `main` as the shim's process and ends it with `os._exit`: everything the shim writes is
    written with os.write and flushed or closed by then, so the interpreter's teardown (every module
    and object freed one by one) is 26 ms of CPU at each container's exit for nothing, taken from
    the containers and CLIs on the same cores (docs/performance.md, "The log path")."""
    import gc

    gc.freeze()  # what the start imported (with the collector off: launch._boot_code) is never scanned
    gc.enable()
    code: object
    try:
        code = main()
    except SystemExit as exc:
        code = exc.code
    except BaseException:  # noqa: BLE001 - printed to shim.log, as the interpreter prints it
        sys.excepthook(*sys.exc_info())
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code or 0)


if __name__ == "__main__":
    exit_with_main()
