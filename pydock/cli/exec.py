"""`pydock exec` and `pydock attach`: Docker's flags over runtime.exec and runtime.tty."""

from __future__ import annotations

import os
import sys

import click

from pydock.settings import Settings

CTX = {"help_option_names": ["-h", "--help"], "allow_interspersed_args": False}


def _env(items: tuple[str, ...]) -> tuple[str, ...]:
    """`-e K=V`, or `-e K` to pass the caller's value of K (dropped when unset), as Docker does."""
    out = []
    for item in items:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return tuple(out)


@click.command("exec", context_settings=CTX)
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option("-e", "--env", "env", multiple=True, help="Set environment variables")
@click.option("-w", "--workdir", default="", help="Working directory inside the container")
@click.option("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])")
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_cmd(detach: bool, interactive: bool, tty: bool, env: tuple[str, ...], workdir: str,
             user: str, container: str, command: tuple[str, ...]) -> None:
    """Execute a command in a running container; its exit code is pydock's."""
    from pydock.runtime import exec as rexec
    from pydock.runtime import tty as rtty
    from pydock.runtime.events import emit_for
    from pydock.runtime.store import ContainerStore

    settings = Settings.from_env()
    rec = ContainerStore(settings.root).get(container)
    spec = rexec.spec_for(rec, command, env=_env(env), user=user, workdir=workdir, tty=tty)
    rexec.check_running(rec)
    emit_for(settings.root, f"exec_create: {' '.join(command)}", rec)
    devnull = os.open(os.devnull, os.O_RDWR)
    if detach:
        proc = rexec.start(rec, spec, devnull, devnull, devnull)
        os.close(devnull)
        emit_for(settings.root, f"exec_start: {' '.join(command)}", rec)
        return  # the helper keeps running, reparented; Docker prints nothing either
    if tty:
        import dataclasses
        import socket

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        spec = dataclasses.replace(spec, console_socket=theirs.fileno())
        proc = rexec.start(rec, spec, devnull, devnull, devnull)
        theirs.close()
        master = rtty.receive_master(ours)  # the pty the process made on the container's devpts
        ours.close()
        emit_for(settings.root, f"exec_start: {' '.join(command)}", rec)
        if master is not None:
            size = rtty.get_winsize(0) if os.isatty(0) else None
            if size:
                rtty.set_winsize(master, *size)
            stdin = 0 if interactive else None
            with rtty.RawMode(0 if interactive else -1):
                rtty.relay_pty(master, stdin, sys.stdout.fileno())
            os.close(master)
    else:
        proc = rexec.start(rec, spec, 0 if interactive else devnull, sys.stdout.fileno(), sys.stderr.fileno())
        emit_for(settings.root, f"exec_start: {' '.join(command)}", rec)
    os.close(devnull)
    code = proc.wait()
    emit_for(settings.root, "exec_die", rec, exitCode=code, execID=str(proc.pid))
    sys.exit(code)


@click.command("attach", context_settings=CTX)
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option("--detach-keys", default="ctrl-p,ctrl-q", help="Key sequence for detaching (ctrl-<a-z>, comma separated)")
@click.argument("container")
def attach(no_stdin: bool, detach_keys: str, container: str) -> None:
    """Attach to a running container's terminal (detach with ctrl-p ctrl-q)."""
    from pydock.runtime import tty as rtty
    from pydock.runtime.store import ContainerStore

    settings = Settings.from_env()
    store = ContainerStore(settings.root)
    rec = store.get(container)
    if not rec.running:
        from pydock.errors import ConflictError

        raise ConflictError("You cannot attach to a stopped container, start it first")
    sock = rtty.connect(settings.run / "containers" / rec.id)
    outcome = attach_terminal(sock, None if no_stdin else 0, parse_detach_keys(detach_keys))
    if outcome == "detached":
        click.echo("read escape sequence", err=True)
        sys.exit(0)
    sys.exit(wait_exit_code(settings, rec.id))


def attach_terminal(sock: object, stdin: int | None, keys: bytes, replay: bool = False) -> str:
    from pydock.runtime import tty as rtty

    with rtty.RawMode(stdin if stdin is not None else -1):
        try:
            return rtty.attach(sock, stdin, sys.stdout.fileno(), replay=replay, detach_keys=keys)  # type: ignore[arg-type]
        finally:
            sock.close()  # type: ignore[attr-defined]


def wait_exit_code(settings: Settings, cid: str) -> int:
    """Once the terminal closed, the container is exiting: its exit code, as `docker attach` returns."""
    from pydock.errors import NotFoundError
    from pydock.runtime.atomic import Lock
    from pydock.runtime.store import SHIM_LOCK, ContainerStore

    store = ContainerStore(settings.root)
    try:
        rec = store.get(cid)
        lock = Lock(rec.dir / SHIM_LOCK, shared=True)
        if lock.acquire(timeout=30):
            lock.release()
        return int(store.get(cid).state.get("ExitCode", 0))
    except (NotFoundError, FileNotFoundError):
        return 0


def parse_detach_keys(text: str) -> bytes:
    from pydock.errors import UsageError

    out = b""
    for part in text.split(","):
        p = part.strip().lower()
        if p.startswith("ctrl-") and len(p) == 6 and "a" <= p[5] <= "z":
            out += bytes([ord(p[5]) - ord("a") + 1])
        elif p.startswith("ctrl-") and p[5:] in ("@", "[", "\\", "]", "^", "_"):
            out += bytes([{"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}[p[5:]]])
        elif len(p) == 1:
            out += p.encode()
        else:
            raise UsageError(f"invalid detach keys {text!r}: use ctrl-<a-z> or single characters, comma separated")
    return out
