"""Exec routes (moby's api/server/router/container exec): create, start (hijacked), inspect, resize.

An exec instance lives in this server's memory, as in dockerd (it is gone when the daemon
restarts). `start` runs it through runtime/exec.py: with a TTY, the process makes its pty on the
container's devpts and sends the master back (as `pydock exec -t`); without, its stdio are pipes
whose output is multiplexed to the client. The exit code is recorded before the connection closes,
because the docker CLI asks `GET /exec/{id}/json` for it right after the stream ends.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import socket
import threading
from dataclasses import dataclass, field
from typing import Any

from pydock.api.backend import Backend, body_dict, close_fd
from pydock.api.http import ApiError, Hijack, Request, Response, Router, json_response
from pydock.api.streams import MUX, RAW, frame

from pydock.errors import NotFoundError, PydockError


@dataclass
class ExecInstance:
    id: str
    container_id: str
    argv: list[str]
    env: list[str]
    user: str
    workdir: str
    tty: bool
    stdin: bool
    stdout: bool
    stderr: bool
    detach_keys: str = ""
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    master: int = -1
    done: threading.Event = field(default_factory=threading.Event)

    def to_json(self) -> dict[str, Any]:
        return {"ID": self.id, "Running": self.running, "ExitCode": self.exit_code,
                "ProcessConfig": {"tty": self.tty, "entrypoint": self.argv[0], "arguments": self.argv[1:],
                                  "privileged": False, "user": self.user},
                "OpenStdin": self.stdin, "OpenStdout": self.stdout, "OpenStderr": self.stderr,
                "CanRemove": False, "ContainerID": self.container_id, "DetachKeys": self.detach_keys,
                "Pid": self.pid}


_EXEC_USED = {"AttachStdin", "AttachStdout", "AttachStderr", "Tty", "Env", "Cmd", "User", "WorkingDir",
              "DetachKeys", "ConsoleSize", "Privileged", "Container"}  # Container: docker-py repeats the id


def _create(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        from pydock.runtime import exec as rexec

        body = body_dict(req.json({}), "body")
        for key, value in body.items():
            if key not in _EXEC_USED and value not in (None, "", 0, False, [], {}):
                raise ApiError(400, f"{key} is not supported by pydock exec (got {value!r})")
        if body.get("Privileged"):
            raise ApiError(400, "Privileged: privileged exec is not supported by pydock")
        cmd = body.get("Cmd")
        if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
            raise ApiError(400, "Cmd: exec needs a command (a non-empty list of strings)")
        rec = b.record(req.params["id"])
        rexec.check_running(rec)
        inst = ExecInstance(id=secrets.token_hex(32), container_id=rec.id, argv=list(cmd),
                            env=[str(e) for e in body.get("Env") or []], user=str(body.get("User") or ""),
                            workdir=str(body.get("WorkingDir") or ""), tty=bool(body.get("Tty")),
                            stdin=bool(body.get("AttachStdin")), stdout=bool(body.get("AttachStdout")),
                            stderr=bool(body.get("AttachStderr")), detach_keys=str(body.get("DetachKeys") or ""))
        with b.lock:
            b.execs[inst.id] = inst
        from pydock.runtime.events import emit_for

        emit_for(b.settings.root, f"exec_create: {' '.join(cmd)}", rec, execID=inst.id)
        return json_response({"Id": inst.id}, 201)
    return handler


def _get(b: Backend, exec_id: str) -> ExecInstance:
    inst = b.execs.get(exec_id)
    if inst is None:
        raise NotFoundError(f"No such exec instance: {exec_id}")
    return inst


def _finish(b: Backend, inst: ExecInstance, rec: Any, proc: Any) -> None:
    from pydock.runtime.events import emit_for

    try:
        code = proc.wait()
    except PydockError as exc:
        code = exc.exit_code
    inst.exit_code, inst.running = code, False
    inst.done.set()
    emit_for(b.settings.root, "exec_die", rec, exitCode=code, execID=inst.id)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _start(b: Backend) -> Any:
    def handler(req: Request) -> Any:
        from pydock.runtime import exec as rexec
        from pydock.runtime import tty as rtty
        from pydock.runtime.events import emit_for

        inst = _get(b, req.params["id"])
        body = body_dict(req.json({}), "body")
        with b.lock:
            if inst.running or inst.exit_code is not None:
                raise ApiError(409, f"exec {inst.id} has already been started")
            inst.running = True
        try:
            rec = b.record(inst.container_id)
            spec = rexec.spec_for(rec, inst.argv, env=tuple(inst.env), user=inst.user, workdir=inst.workdir,
                                  tty=inst.tty)
        except BaseException:
            inst.running = False
            raise
        size = body.get("ConsoleSize") or []
        emit = f"exec_start: {' '.join(inst.argv)}"
        if body.get("Detach"):
            devnull = os.open(os.devnull, os.O_RDWR)
            try:
                proc = rexec.start(rec, spec, devnull, devnull, devnull)
            finally:
                os.close(devnull)
            inst.pid = proc.pid
            emit_for(b.settings.root, emit, rec, execID=inst.id)
            threading.Thread(target=_finish, args=(b, inst, rec, proc), daemon=True).start()
            return Response(200, b"", "text/plain")

        def run(sock: socket.socket, rfile: Any) -> None:
            if inst.tty:
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
                devnull = os.open(os.devnull, os.O_RDWR)
                try:
                    proc = rexec.start(rec, dataclasses.replace(spec, console_socket=theirs.fileno()),
                                       devnull, devnull, devnull)
                finally:
                    theirs.close()
                    os.close(devnull)
                inst.pid = proc.pid
                master = rtty.receive_master(ours)
                ours.close()
                emit_for(b.settings.root, emit, rec, execID=inst.id)
                if master is not None:
                    inst.master = master
                    if len(size) == 2 and size[0] and size[1]:
                        rtty.set_winsize(master, int(size[0]), int(size[1]))
                    if inst.stdin:
                        threading.Thread(target=_keys, args=(rfile, master), daemon=True).start()
                    try:
                        while True:
                            try:
                                data = os.read(master, 65536)
                            except OSError:  # EIO: the last holder of the pty's slave exited
                                break
                            if not data:
                                break
                            sock.sendall(data)
                    finally:
                        inst.master = -1
                        os.close(master)
                _finish(b, inst, rec, proc)
                return
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            in_r, in_w = os.pipe2(os.O_CLOEXEC) if inst.stdin else (os.open(os.devnull, os.O_RDONLY), -1)
            try:
                proc = rexec.start(rec, spec, in_r, out_w, err_w)
            finally:
                for fd in (out_w, err_w, in_r):
                    os.close(fd)
            inst.pid = proc.pid
            emit_for(b.settings.root, emit, rec, execID=inst.id)
            if in_w >= 0:
                def feed() -> None:
                    try:
                        while data := rfile.read1(65536):
                            _write_all(in_w, data)
                    except OSError:
                        pass
                    finally:
                        close_fd(in_w)
                threading.Thread(target=feed, daemon=True).start()
            lock = threading.Lock()

            def pump(fd: int, stream: int, wanted: bool) -> None:
                try:
                    while data := os.read(fd, 65536):
                        if wanted:
                            with lock:
                                sock.sendall(frame(stream, data))
                except OSError:
                    pass
                finally:
                    os.close(fd)
            t = threading.Thread(target=pump, args=(err_r, 2, inst.stderr), daemon=True)
            t.start()
            pump(out_r, 1, inst.stdout)
            t.join()
            _finish(b, inst, rec, proc)
        return Hijack(run, RAW if inst.tty else MUX)
    return handler


def _keys(rfile: Any, master: int) -> None:
    try:
        while data := rfile.read1(65536):
            _write_all(master, data)
    except OSError:
        pass


def _inspect(b: Backend) -> Any:
    def handler(req: Request) -> dict[str, Any]:
        return _get(b, req.params["id"]).to_json()
    return handler


def _resize(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        from pydock.runtime import tty as rtty

        inst = _get(b, req.params["id"])
        h, w = req.qint("h", 0) or 0, req.qint("w", 0) or 0
        if inst.tty and inst.master >= 0 and h > 0 and w > 0:
            try:
                rtty.set_winsize(inst.master, h, w)
            except OSError:
                pass  # the exec ended meanwhile
        return Response(201, b"", "text/plain")
    return handler


def register(r: Router, b: Backend) -> None:
    r.add("POST", "/containers/{id}/exec", _create(b))
    r.add("POST", "/exec/{id}/start", _start(b))
    r.add("GET", "/exec/{id}/json", _inspect(b))
    r.add("POST", "/exec/{id}/resize", _resize(b))
