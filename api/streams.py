"""Container streams: logs, stats, attach (hijacked), and the start that feeds a waiting attach.

Framing (moby's pkg/stdcopy): a non-TTY stream is multiplexed, each chunk behind an 8-byte header
`[stream, 0, 0, 0, size:u32 big-endian]` (0 stdin, 1 stdout, 2 stderr); a TTY stream is raw.

`docker run` without -d attaches *before* it starts the container. pydock's shim takes a
container's stdio pipes only when it starts, so an attach to a created non-TTY container parks a
`PendingAttach`; the `start` that follows (through this server) starts the shim with those pipes,
exactly as `pydock run` does in the foreground. A running non-TTY container is attached through
its log (what it prints from now on). A TTY container is attached through its shim's attach socket
(runtime/tty.py), with the kept output replayed for a start that follows the attach.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from pydock.api.backend import Backend, PendingAttach, client_gone, close_fd
from pydock.api.http import ApiError, Hijack, Request, Router, Stream

from pydock.errors import ConflictError, PydockError

MUX = "application/vnd.docker.multiplexed-stream"
RAW = "application/vnd.docker.raw-stream"


def frame(stream: int, data: bytes) -> bytes:
    return struct.pack(">BxxxI", stream, len(data)) + data


class _Out:
    """A binary writer that frames (or not) what `write_logs` writes for one source."""

    def __init__(self, write: Callable[[bytes], None], stream: int, mux: bool, wanted: bool) -> None:
        self._write, self.stream, self.mux, self.wanted = write, stream, mux, wanted

    def write(self, data: bytes) -> int:
        if self.wanted and data:
            self._write(frame(self.stream, data) if self.mux else data)
        return len(data)

    def flush(self) -> None:
        pass


def _is_tty(rec: Any) -> bool:
    return bool(rec.config.get("Config", {}).get("Tty"))


# -- logs -------------------------------------------------------------------------------------------


def _logs(b: Backend) -> Any:
    def handler(req: Request) -> Stream:
        from pydock.logdrivers.base import ReadConfig
        from pydock.logdrivers.registry import open_reader

        from pydock.cli.logs import ALIVE, _status_probe, parse_tail, write_logs
        from pydock.units import timestamp_ns

        rec = b.record(req.params["id"])
        want_out, want_err = req.qbool("stdout"), req.qbool("stderr")
        if not (want_out or want_err):
            raise ApiError(400, "Bad parameters: you must choose at least one stream")
        try:
            since_ns = timestamp_ns(req.q("since"), "since") if req.q("since") not in (None, "", "0") else 0
            until_ns = timestamp_ns(req.q("until"), "until") if req.q("until") not in (None, "", "0") else 0
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        reader = open_reader(rec.dir, rec.log_driver, rec.log_opts)
        following = req.qbool("follow") and rec.status in ALIVE
        store = b.runtime.store
        probe = _status_probe(lambda: store.get(rec.id).status, rec.dir) if following else None
        conn = req.conn

        def done() -> bool:
            return bool(probe and probe()) or (conn is not None and client_gone(conn))

        cfg = ReadConfig(tail=parse_tail(req.q("tail") or "all"), since_ns=since_ns, until_ns=until_ns,
                         follow=following, done=done if following else None)
        mux = not _is_tty(rec)

        def produce(write: Callable[[bytes], None]) -> None:
            write_logs(reader.read(cfg), _Out(write, 1, mux, want_out), _Out(write, 2, mux, want_err),  # type: ignore[arg-type]
                       timestamps=req.qbool("timestamps"), details=req.qbool("details"))
        return Stream(produce, MUX if mux else RAW)  # type: ignore[arg-type]
    return handler


# -- stats ------------------------------------------------------------------------------------------


def _stats(b: Backend) -> Any:
    def handler(req: Request) -> Stream:
        import json

        from pydock.agent.dockerstats import docker_stats

        rec = b.record(req.params["id"])
        stream = req.qbool("stream", True)
        one_shot = req.qbool("one-shot")
        if one_shot and stream:
            raise ApiError(400, "cannot have stream=true and one-shot=true")
        sampler = b.sampler

        def sample() -> Any:
            snap = sampler.snapshot()
            entry = snap.find(rec.id)
            if entry is None:
                raise ConflictError(f"Container {rec.id} has no stats (is it running?)")
            return snap, entry

        def obj(cur: Any, pre: Any) -> bytes:
            (snap, e), (psnap, pe) = cur, pre if pre else (None, None)
            body = docker_stats(e, snap.system_cpu_ns, snap.machine, pe, psnap.system_cpu_ns if psnap else 0)
            return json.dumps(body).encode() + b"\n"

        first = sample()  # an unknown container fails now, with a status, before any header

        def gen() -> Iterator[bytes]:
            if one_shot:
                yield obj(first, None)
                return
            if not stream:  # dockerd waits for a second sample so precpu_stats is filled
                time.sleep(1.0)
                yield obj(sample(), first)
                return
            prev, cur = None, first
            conn = req.conn
            while True:
                yield obj(cur, prev)
                if not b.runtime.store.get(rec.id).running:
                    return
                time.sleep(1.0)
                if conn is not None and client_gone(conn):
                    return
                prev, cur = cur, sample()
        return Stream(gen())
    return handler


# -- start and attach -------------------------------------------------------------------------------


def start_container(b: Backend, rec: Any) -> None:
    """`POST /containers/{id}/start`: with pipes for a parked non-TTY attach, else detached."""
    with b.lock:
        pending = b.attaches.pop(rec.id, None)
    if pending is None:
        b.runtime.start(rec.id).close()
        return
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    stdin_r = stdin_w = -1
    if pending.stdin and rec.config.get("Config", {}).get("OpenStdin"):
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    try:
        pending.started = b.runtime.start(rec.id, attach=(out_w, err_w), stdin=stdin_r)
    except BaseException as exc:
        for fd in (out_r, err_r, stdin_w):
            close_fd(fd)
        pending.failed = exc
        pending.ready.set()
        raise
    finally:
        for fd in (out_w, err_w, stdin_r):
            close_fd(fd)
    pending.out_r, pending.err_r, pending.stdin_w = out_r, err_r, stdin_w
    pending.ready.set()


def _pump_fd(fd: int, stream: int, sock: socket.socket, mux: bool, lock: threading.Lock) -> None:
    try:
        while data := os.read(fd, 65536):
            with lock:
                sock.sendall(frame(stream, data) if mux else data)
    except OSError:
        pass
    finally:
        os.close(fd)


def _feed_stdin(rfile: Any, write: Callable[[bytes], None], on_eof: Callable[[], None]) -> None:
    """The client's half of a hijacked connection: keystrokes until it half-closes (CloseWrite)."""
    try:
        while data := rfile.read1(65536):
            write(data)
    except OSError:
        pass
    finally:
        on_eof()


def _attach_pending(b: Backend, rec: Any, pending: PendingAttach, sock: socket.socket, rfile: Any,
                    out: bool, err: bool) -> None:
    while not pending.ready.wait(0.5):
        if client_gone(sock):
            with b.lock:
                if b.attaches.get(rec.id) is pending:
                    del b.attaches[rec.id]
            return
    if pending.failed is not None:
        return
    lock = threading.Lock()
    if pending.stdin_w >= 0:
        w = pending.stdin_w

        def write(data: bytes) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        threading.Thread(target=_feed_stdin, args=(rfile, write, lambda: close_fd(w)), daemon=True).start()
    pumps = []
    for fd, stream, wanted in ((pending.out_r, 1, out), (pending.err_r, 2, err)):
        if not wanted:  # still drained, or the container would block on a full pipe
            t = threading.Thread(target=_pump_fd, args=(fd, stream, _Null(), True, lock), daemon=True)
        else:
            t = threading.Thread(target=_pump_fd, args=(fd, stream, sock, True, lock), daemon=True)
        t.start()
        pumps.append(t)
    for t in pumps:
        t.join()
    if pending.started is not None:
        pending.started.close()


class _Null:
    def sendall(self, data: bytes) -> None:
        pass


def _attach_tty(b: Backend, rec: Any, sock: socket.socket, rfile: Any, stdin: bool, detach_keys: bytes) -> None:
    from pydock.runtime import tty as rtty

    replay = not rec.running  # a start is coming: show what it prints before we connect
    deadline = time.monotonic() + 60
    while not b.runtime.store.get(rec.id).running:
        if client_gone(sock) or time.monotonic() > deadline:
            return
        time.sleep(0.05)
    shim = rtty.connect(b.settings.run / "containers" / rec.id)
    shim.sendall(b"R" if replay else b"N")
    scanner = rtty.DetachScanner(detach_keys)

    def keys() -> None:
        try:
            while data := rfile.read1(65536):
                passed, detached = scanner.feed(data)
                if passed:
                    shim.sendall(rtty.frame_data(passed))
                if detached:
                    break
        except OSError:
            pass
        # Detached (or the client closed): stop relaying output too.
        try:
            shim.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    if stdin:
        threading.Thread(target=keys, daemon=True).start()
    try:
        while data := shim.recv(65536):
            sock.sendall(data)
    except OSError:
        pass
    finally:
        shim.close()


def _attach_log(b: Backend, rec: Any, sock: socket.socket, out: bool, err: bool, logs: bool, stream: bool) -> None:
    """A running non-TTY container: its log from now (and before, with logs=1)."""
    from pydock.logdrivers.base import ReadConfig
    from pydock.logdrivers.registry import open_reader

    from pydock.cli.logs import ALIVE, _status_probe, write_logs

    reader = open_reader(rec.dir, rec.log_driver, rec.log_opts)
    store = b.runtime.store
    probe = _status_probe(lambda: store.get(rec.id).status, rec.dir)
    follow = stream and rec.status in ALIVE
    cfg = ReadConfig(tail=-1 if logs else 0, since_ns=0 if logs else time.time_ns(), until_ns=0, follow=follow,
                     done=(lambda: probe() or client_gone(sock)) if follow else None)
    write_logs(reader.read(cfg), _Out(sock.sendall, 1, True, out), _Out(sock.sendall, 2, True, err))  # type: ignore[arg-type]


def _attach(b: Backend) -> Any:
    def handler(req: Request) -> Hijack:
        from pydock.cli.exec import parse_detach_keys

        rec = b.record(req.params["id"])
        tty = _is_tty(rec)
        stdin, out, err = req.qbool("stdin"), req.qbool("stdout"), req.qbool("stderr")
        logs, stream = req.qbool("logs"), req.qbool("stream")
        keys = parse_detach_keys(req.q("detachKeys") or "ctrl-p,ctrl-q")
        if rec.status == "paused":
            raise ConflictError(f"Container {rec.id} is paused, unpause the container before attach")
        pending = None
        if not tty and not rec.running:
            if rec.status != "created" and not stream:
                pass  # logs only, below
            elif stream:
                pending = PendingAttach(stdin=stdin)
                with b.lock:
                    if rec.id in b.attaches:
                        raise ConflictError(f"another attach is waiting for the start of {rec.id}")
                    b.attaches[rec.id] = pending

        def run(sock: socket.socket, rfile: Any) -> None:
            try:
                if tty and stream:
                    _attach_tty(b, rec, sock, rfile, stdin, keys)
                elif pending is not None:
                    _attach_pending(b, rec, pending, sock, rfile, out, err)
                else:
                    _attach_log(b, rec, sock, out, err, logs, stream)
            except PydockError:
                pass  # the connection is raw now: nothing to report but closing it
        return Hijack(run, RAW if tty else MUX)
    return handler


def resize_tty(b: Backend, rec: Any, h: int, w: int) -> None:
    """TIOCSWINSZ on the container's terminal, through its shim's attach socket."""
    from pydock.runtime import tty as rtty

    sock = rtty.connect(b.settings.run / "containers" / rec.id)
    try:
        sock.sendall(b"N" + rtty.frame_winsize(h, w))
    finally:
        sock.close()


def register(r: Router, b: Backend) -> None:
    r.add("GET", "/containers/{id}/logs", _logs(b))
    r.add("GET", "/containers/{id}/stats", _stats(b))
    r.add("POST", "/containers/{id}/attach", _attach(b))
