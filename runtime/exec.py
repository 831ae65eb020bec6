"""`pydock exec`: run one more process inside a running container, as `docker exec` (runc's nsenter) does.

Two forks, because entering a PID namespace only changes where one's *children* go:

    caller ── fork ─> helper: joins the container's cgroup, setns into its ipc, uts, net, pid and mount
                      namespaces (the mount one last: it also moves root and cwd to the container's root)
                         └─ fork ─> the process: pid N in the container's PID namespace; setsid (and the
                                    terminal, with -t), working directory, user, no_new_privs, Docker's
                                    capabilities, then execve
The helper waits for it and exits with its status (128+signal when killed), so the caller's waitpid
gives the exec's exit code. A failure before execve goes up a close-on-exec pipe as `<code> <message>`
(127: no such command, 126: cannot run it), exactly as container_init reports it.

The helper runs only code imported before the fork: after setns into the mount namespace the host's
Python library is out of reach.
"""

from __future__ import annotations

import errno
import fcntl
import os
import signal
import termios
from dataclasses import dataclass, field
from typing import Any

from pydock.runtime import container_init, syscalls, tty, ulimits

from pydock.errors import CommandNotFound, CommandNotInvokable, ConflictError, PydockError, RuntimeFailure

# The order runc's nsenter uses; mnt last because it changes root and cwd under our feet. The user
# namespace (--userns auto) after those the host may own (a bridge's netns), before mnt.
CLONE_NEWUSER = 0x10000000
NAMESPACES = (("ipc", syscalls.CLONE_NEWIPC), ("uts", syscalls.CLONE_NEWUTS), ("net", syscalls.CLONE_NEWNET),
              ("pid", syscalls.CLONE_NEWPID), ("user", CLONE_NEWUSER), ("mnt", syscalls.CLONE_NEWNS))


@dataclass(frozen=True)
class ExecSpec:
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()     # KEY=VALUE, over the container's own environment
    user: str = ""                # "" = the container's user
    workdir: str = ""             # "" = the container's working directory
    tty: bool = False
    container_env: tuple[str, ...] = field(default=(), repr=False)
    container_user: str = ""
    container_workdir: str = ""
    ulimits: tuple[Any, ...] = ()  # the container's (HostConfig.Ulimits): an exec'd process gets them too
    console_socket: int = -1       # with tty: where the process sends its pty's master (runtime/tty.py)


def spec_for(record: Any, argv: list[str] | tuple[str, ...], env: tuple[str, ...] = (), user: str = "",
             workdir: str = "", tty: bool = False) -> ExecSpec:
    if not argv:
        raise PydockError("exec needs a command: pydock exec CONTAINER COMMAND [ARG...]")
    from pydock.runtime.ulimits import from_host_config

    cfg = record.config.get("Config", {})
    return ExecSpec(ulimits=tuple(from_host_config(record.config.get("HostConfig", {}))), argv=tuple(argv), env=tuple(env), user=user, workdir=workdir, tty=tty,
                    container_env=tuple(cfg.get("Env") or ()), container_user=str(cfg.get("User") or ""),
                    container_workdir=str(cfg.get("WorkingDir") or ""))


def check_running(record: Any) -> int:
    """The container's PID 1 on the host, or ConflictError with Docker's words."""
    status = record.status
    if status == "paused":
        raise ConflictError(f"Container {record.id} is paused, unpause the container before exec")
    if not record.running or record.pid <= 0:
        raise ConflictError(f"Container {record.id} is not running")
    return int(record.pid)


@dataclass
class ExecProcess:
    """A started exec: `pid` is the helper's (the caller's child); `wait()` gives the exit code."""

    pid: int
    err_fd: int
    code: int | None = None
    failure: PydockError | None = None
    _status: int | None = None

    def poll(self) -> int | None:
        """The exit code if the exec has ended, else None (raises as `wait` does)."""
        if self._status is None and self.code is None and self.failure is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid == 0:
                return None
            self._status = status
        return self._finish()

    def wait(self) -> int:
        if self._status is None and self.code is None and self.failure is None:
            while True:
                try:
                    _, self._status = os.waitpid(self.pid, 0)
                    break
                except InterruptedError:
                    continue
        return self._finish()

    def _finish(self) -> int:
        if self.failure is not None:
            raise self.failure
        if self.code is not None:
            return self.code
        assert self._status is not None
        data = _read_all(self.err_fd)
        os.close(self.err_fd)
        if data:
            self.failure = _failure(data)
            raise self.failure
        code = os.waitstatus_to_exitcode(self._status)
        self.code = code if code >= 0 else 128 - code
        return self.code

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self._status is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def _read_all(fd: int) -> bytes:
    out = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except InterruptedError:
            continue
        if not chunk:
            return out
        out += chunk


def _failure(data: bytes) -> PydockError:
    code_s, _, message = data.decode(errors="replace").partition(" ")
    code = int(code_s) if code_s.isdigit() else 126
    if code == 127:
        return CommandNotFound(message)
    if code == 126:
        return CommandNotInvokable(message)
    err = RuntimeFailure(message)
    err.exit_code = code
    return err


def start(record: Any, spec: ExecSpec, stdin: int, stdout: int, stderr: int) -> ExecProcess:
    """Start `spec` in the running container of `record` with these descriptors as its stdio."""
    from pydock.runtime import cgroups

    pid1 = check_running(record)
    handle = cgroups.open(record.cgroup_paths) if record.cgroup_paths else None
    ns_fds: list[tuple[int, int]] = []
    try:
        own = {name: os.stat(f"/proc/self/ns/{name}").st_ino for name, _ in NAMESPACES}
        for name, flag in NAMESPACES:
            path = f"/proc/{pid1}/ns/{name}"
            if os.stat(path).st_ino == own[name] and name != "pid":
                continue  # already there (--network host shares the host's)
            ns_fds.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag))
    except FileNotFoundError:
        for fd, _ in ns_fds:
            os.close(fd)
        raise ConflictError(f"Container {record.id} is not running") from None
    from pydock.runtime.security import confine  # security room: the container's caps and seccomp

    secured = confine.for_exec(record.config.get("HostConfig", {}))
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # the helper
        code = 125
        try:
            os.close(err_r)
            code = _helper(handle, ns_fds, spec, stdin, stdout, stderr, err_w, secured)
        except PydockError as exc:
            _report(err_w, exc.exit_code, str(exc))
            code = exc.exit_code
        except BaseException as exc:  # noqa: BLE001 - the caller must hear why, whatever it was
            _report(err_w, 125, f"exec: {type(exc).__name__}: {exc}")
        finally:
            os._exit(code)
    os.close(err_w)
    for fd, _ in ns_fds:
        os.close(fd)
    return ExecProcess(pid, err_r)


def _report(fd: int, code: int, message: str) -> None:
    try:
        os.write(fd, f"{code} {message}".encode()[:4000])
    except OSError:
        pass


def _helper(handle: Any, ns_fds: list[tuple[int, int]], spec: ExecSpec, stdin: int, stdout: int, stderr: int,
            err_w: int, secured: Any = None) -> int:
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)  # the terminal's signals are for the exec'd process
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if handle is not None:
        handle.add_pid(os.getpid())
    for fd, flag in ns_fds:
        syscalls.setns(fd, flag)
        os.close(fd)
        if flag == CLONE_NEWUSER:  # the container's root, not the host's (unmapped: nobody in there)
            os.setgroups([0])
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
    child = os.fork()
    if child == 0:
        try:
            _exec_child(spec, stdin, stdout, stderr, secured)
        except PydockError as exc:
            _report(err_w, exc.exit_code, str(exc))
            os._exit(exc.exit_code)
        except OSError as exc:
            _report(err_w, 126, f"exec: {exc}")
            os._exit(126)
        except BaseException as exc:  # noqa: BLE001
            _report(err_w, 125, f"exec: {type(exc).__name__}: {exc}")
        os._exit(125)
    os.close(err_w)

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(child, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _exec_child(spec: ExecSpec, stdin: int, stdout: int, stderr: int, secured: Any = None) -> None:
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTSTP, signal.SIGTERM, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        if fd != target:
            os.dup2(fd, target)
    os.setsid()
    if spec.tty and spec.console_socket >= 0:
        # A pty on the container's own devpts becomes our stdio and controlling terminal (^C on the
        # caller's side is SIGINT here); its master goes back to the caller.
        tty.open_container_console(spec.console_socket)
    elif spec.tty:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # a terminal the caller passed as stdio
    env: dict[str, str] = {}
    for e in (*spec.container_env, *spec.env):
        k, _, v = e.partition("=")
        env[k] = v
    if spec.tty:
        env.setdefault("TERM", "xterm")
    user = spec.user or spec.container_user
    uid, gid, groups, home = container_init._lookup_user(user) if user else (0, 0, [0], "/root")
    env.setdefault("HOME", home)
    workdir = spec.workdir or spec.container_workdir or "/"
    try:
        os.chdir(workdir)
    except OSError as exc:
        raise RuntimeFailure(f"chdir to cwd (\"{workdir}\") set in config.json failed: {(exc.strerror or str(exc)).lower()}") from exc
    path = container_init._find_command(spec.argv[0], env)
    ulimits.apply(list(spec.ulimits))
    from pydock.runtime.security import confine  # imported before setns: already loaded

    secured = secured or confine.for_exec({})
    confine.before_caps(secured)  # security room: no_new_privs, or the filter now without it
    syscalls.limit_capabilities(secured.cfg.caps)
    if user:
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)
    container_init._close_fds_on_exec()  # the caller's fds must not reach the command (CVE-2024-21626)
    confine.before_exec(secured)  # the container's seccomp filter, last
    try:
        os.execve(path, list(spec.argv), env)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise CommandNotFound(f'exec: "{spec.argv[0]}": {(exc.strerror or str(exc)).lower()}') from exc
        raise CommandNotInvokable(f'exec: "{spec.argv[0]}": {(exc.strerror or str(exc)).lower()}') from exc


def run(record: Any, spec: ExecSpec, stdin: int = 0, stdout: int = 1, stderr: int = 2) -> int:
    """Start and wait: the exec's exit code (CommandNotFound/NotInvokable when it could not start)."""
    return start(record, spec, stdin, stdout, stderr).wait()
