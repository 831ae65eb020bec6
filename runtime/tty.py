"""Terminals: the caller's side (raw mode, window size, relaying, detach keys) and the shim's side (a
container's pseudo-terminal kept open for `pydock attach`, its output still going to the log driver).

Shim side: `Console` owns the pty master of a `-t` container. One thread reads the master and writes
everything to the log pipe (the copier's "stdout": a -t container's output is logged like any other)
and to every attached client; the last 64 KiB are kept so the foreground `run -it` sees what was
printed before it connected. Clients talk over `$RUN/containers/<id>/attach.sock`, framed:

    client -> shim:  b"D" len:u32 data   keystrokes, written to the master
                     b"W" rows:u16 cols:u16   window size (TIOCSWINSZ on the master: the kernel sends
                                           SIGWINCH to the container's foreground process group)
                     b"R" or b"N"         first byte: replay the kept output first (`run -it`) or not
    shim -> client:  the raw output bytes; EOF when the container's terminal closes.

Caller side: `RawMode` puts the caller's terminal in raw mode and always restores it; `relay` copies
between the caller and a pty master (exec -t) or an attach socket (attach, run -it), watching for
Docker's detach keys (ctrl-p ctrl-q).
"""

from __future__ import annotations

import errno
import fcntl
import os
import select
import signal
import socket
import struct
import termios
import threading
import tty
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
ATTACH_SOCKET = "attach.sock"
REPLAY_BYTES = 64 * 1024


def get_winsize(fd: int) -> tuple[int, int] | None:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ, b"\0" * 8))
        return rows, cols
    except OSError:
        return None


def set_winsize(fd: int, rows: int, cols: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def open_pty(size_from: int | None = None) -> tuple[int, int]:
    """A new pty (master, slave), both close-on-exec, the slave sized like `size_from` if a terminal."""
    master, slave = os.openpty()
    os.set_inheritable(master, False)
    os.set_inheritable(slave, False)
    if size_from is not None and os.isatty(size_from):
        size = get_winsize(size_from)
        if size:
            set_winsize(slave, *size)
    return master, slave


class RawMode:
    """Raw mode on `fd` for the duration of a `with` block (nothing when it is not a terminal)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.saved: list[Any] | None = None

    def __enter__(self) -> RawMode:  # noqa: PYI034 - typing.Self would do; RawMode is not subclassed
        if os.isatty(self.fd):
            self.saved = termios.tcgetattr(self.fd)
            tty.setraw(self.fd, termios.TCSANOW)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self.saved)


class DetachScanner:
    """Finds Docker's detach sequence in keystrokes that may arrive split across reads."""

    def __init__(self, keys: bytes = DETACH_KEYS) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the sequence was typed (what follows it is dropped)."""
        out = bytearray()
        for b in data:
            self.held += bytes([b])
            if self.keys.startswith(self.held):
                if self.held == self.keys:
                    self.held = b""
                    return bytes(out), True
                continue
            out += self.held  # not the sequence after all: pass on what was held back
            self.held = b""
        return bytes(out), False


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except InterruptedError:
            continue


def relay_pty(master: int, stdin: int | None, stdout: int, done: Callable[[], bool] | None = None) -> None:
    """Copy the caller's keystrokes into a pty master and its output out, until the pty closes.

    The slave side closes when the last process holding it exits; reading the master then gives EIO.
    """
    size_from = stdin if stdin is not None and os.isatty(stdin) else None
    old = None
    if size_from is not None:
        def resize(_s: int, _f: Any) -> None:
            size = get_winsize(size_from)  # type: ignore[arg-type]
            if size:
                set_winsize(master, *size)
        old = signal.signal(signal.SIGWINCH, resize)
    try:
        fds = [master] + ([stdin] if stdin is not None else [])
        while True:
            try:
                ready, _, _ = select.select(fds, [], [], 0.2)
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError as exc:
                    if exc.errno == errno.EIO:
                        return
                    raise
                if not data:
                    return
                _write_all(stdout, data)
            if stdin is not None and stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    fds.remove(stdin)  # caller's input ended: send EOF (^D) as a terminal would
                    _write_all(master, b"\x04")
                else:
                    _write_all(master, data)
            if not ready and done is not None and done():
                return
    finally:
        if old is not None:
            signal.signal(signal.SIGWINCH, old)


# -- attach: the client side -------------------------------------------------------------------


def frame_data(data: bytes) -> bytes:
    return b"D" + struct.pack("!I", len(data)) + data


def frame_winsize(rows: int, cols: int) -> bytes:
    return b"W" + struct.pack("!HH", rows, cols)


def _sock_call(call: Callable[[str], Any], path: Path) -> Any:
    """bind()/connect() on a unix socket path that may exceed sun_path's 108 bytes (deep state roots):
    through /proc/self/fd/N/<name>, a short name for the same file."""
    if len(str(path)) < 100:
        return call(str(path))
    dfd = os.open(path.parent, os.O_PATH | os.O_CLOEXEC)
    try:
        return call(f"/proc/self/fd/{dfd}/{path.name}")
    finally:
        os.close(dfd)


def connect(run_dir: Path, timeout: float = 5.0) -> socket.socket:
    from pydock.errors import ConflictError

    path = run_dir / ATTACH_SOCKET
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        s.settimeout(timeout)
        _sock_call(s.connect, path)
        s.settimeout(None)
    except OSError as exc:
        s.close()
        raise ConflictError(f"cannot attach: the container has no terminal to attach to ({path}: "
                            f"{exc.strerror or exc}); was it started with -t?") from exc
    return s


def attach(sock: socket.socket, stdin: int | None, stdout: int, replay: bool = False,
           detach_keys: bytes = DETACH_KEYS) -> str:
    """Relay a caller's terminal to an attach socket: returns "detached" or "closed"."""
    sock.sendall(b"R" if replay else b"N")
    is_tty = stdin is not None and os.isatty(stdin)
    old = None
    if is_tty:
        size = get_winsize(stdin)  # type: ignore[arg-type]
        if size:
            sock.sendall(frame_winsize(*size))

        def resize(_s: int, _f: Any) -> None:
            size = get_winsize(stdin)  # type: ignore[arg-type]
            if size:
                try:
                    sock.sendall(frame_winsize(*size))
                except OSError:
                    pass
        old = signal.signal(signal.SIGWINCH, resize)
    scanner = DetachScanner(detach_keys)
    try:
        fds: list[Any] = [sock] + ([stdin] if stdin is not None else [])
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if sock in ready:
                data = sock.recv(65536)
                if not data:
                    return "closed"
                _write_all(stdout, data)
            if stdin is not None and stdin in ready:
                data = os.read(stdin, 65536)
                if not data:
                    fds.remove(stdin)
                    continue
                passed, detached = scanner.feed(data)
                if passed:
                    sock.sendall(frame_data(passed))
                if detached:
                    return "detached"
    finally:
        if old is not None:
            signal.signal(signal.SIGWINCH, old)


# -- the shim's side ---------------------------------------------------------------------------


TIOCGPTN = 0x80045430    # linux/ioctls.h: the pty number of a master
TIOCSPTLCK = 0x40045431  # unlockpt()


def open_container_console(sock_fd: int) -> None:
    """In the container's process, after pivot_root: make a pty on the container's own devpts (so
    `tty` inside names it, as with Docker), send its master to the shim over `sock_fd` (a unix socket,
    SCM_RIGHTS, as runc's --console-socket), and make the slave our stdio and controlling terminal."""
    if sock_fd < 0:
        return
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    (n,) = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))
    slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY)
    sock = socket.socket(fileno=sock_fd)
    try:
        socket.send_fds(sock, [b"m"], [master])
    finally:
        sock.close()
        os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def receive_master(sock: socket.socket) -> int | None:
    """The pty master a container process sent (None if it failed before sending one)."""
    try:
        _, fds, _, _ = socket.recv_fds(sock, 16, 1)
    except OSError:
        return None
    return fds[0] if fds else None


class Console:
    """A `-t` container's terminal in its shim: fan-out to the log pipe and attached clients.

    The container makes the pty itself (`open_container_console`) and sends the master here through
    `child_end`; until then, and if it never does, its output goes straight to the log pipe.
    """

    def __init__(self, run_dir: Path) -> None:
        self.master = -1
        self.run_dir = run_dir
        self.log_r, self.log_w = os.pipe2(os.O_CLOEXEC)
        self.parent_end, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.child_end = child.detach()
        os.set_inheritable(self.child_end, False)
        self.kept = bytearray()
        self.clients: list[socket.socket] = []
        self.lock = threading.Lock()
        run_dir.mkdir(parents=True, exist_ok=True)
        self.sock_path = run_dir / ATTACH_SOCKET
        try:
            self.sock_path.unlink()
        except FileNotFoundError:
            pass
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        _sock_call(self.server.bind, self.sock_path)
        self.server.listen(8)
        self.closed = threading.Event()
        # Threads start now, before the shim's unshare(CLONE_NEWPID): none may be made after it.
        threading.Thread(target=self._pump, name="console", daemon=True).start()
        threading.Thread(target=self._accept, name="attach", daemon=True).start()

    def in_child(self, cfg: Any) -> Any:
        """In the container's process before container_init: the init config with the console socket."""
        import dataclasses

        return dataclasses.replace(cfg, console_socket=self.child_end)

    def after_fork(self) -> None:
        os.close(self.child_end)
        self.child_end = -1

    def _pump(self) -> None:
        try:
            master = receive_master(self.parent_end)
            self.parent_end.close()
            if master is None:
                return
            self.master = master
            while True:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: every slave fd is closed, the container is done (EBADF: closed)
                    break
                if not data:
                    break
                _write_all(self.log_w, data)
                with self.lock:
                    self.kept += data
                    del self.kept[:-REPLAY_BYTES]
                    for c in list(self.clients):
                        try:
                            c.sendall(data)
                        except OSError:
                            self.clients.remove(c)
        finally:
            os.close(self.log_w)
            self.closed.set()
            with self.lock:
                for c in self.clients:
                    try:
                        c.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                self.clients.clear()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._client, args=(conn,), daemon=True).start()

    def _client(self, conn: socket.socket) -> None:
        f = conn.makefile("rb")
        try:
            first = f.read(1)
            if first not in (b"R", b"N"):
                return
            with self.lock:
                # Under the pump's lock: the replay and the live output that follows never overlap.
                if first == b"R" and self.kept:
                    conn.sendall(bytes(self.kept))
                if self.closed.is_set():
                    conn.shutdown(socket.SHUT_WR)
                else:
                    self.clients.append(conn)
            while True:
                kind = f.read(1)
                if not kind:
                    return
                if kind == b"D":
                    (n,) = struct.unpack("!I", f.read(4))
                    if self.master >= 0:
                        _write_all(self.master, f.read(n))
                elif kind == b"W":
                    rows, cols = struct.unpack("!HH", f.read(4))
                    if self.master >= 0:
                        set_winsize(self.master, rows, cols)
                else:
                    return
        except OSError:
            return
        finally:
            with self.lock:
                if conn in self.clients:
                    self.clients.remove(conn)
            f.close()
            conn.close()

    def close(self) -> None:
        self.closed.set()
        try:
            self.server.close()
        finally:
            try:
                self.sock_path.unlink()
            except FileNotFoundError:
                pass
            for fd in (self.master, self.child_end):
                if fd >= 0:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self.master = self.child_end = -1


def console_pipes(shim: Any, out_r: int, out_w: int, err_r: int, err_w: int) -> tuple[int, int, int, int]:
    """The shim's hook for a `-t` container: its stdout/stderr pipes give way to a terminal.

    Returns (out_r, out_w, err_r, err_w) to use instead: the container starts with both streams on
    the log pipe (`out_w`, `err_w`: two descriptors of it) until it has made its pty; the copier reads
    everything as stdout from `out_r`; `err_r` is an empty pipe (a terminal has one output stream, as
    in Docker). The Console is kept on `shim.console` (one per run; a restart gets a fresh terminal).
    """
    old = getattr(shim, "console", None)
    if old is not None:
        old.close()
    for fd in (out_r, out_w, err_r, err_w):
        os.close(fd)
    console = Console(shim.run_dir)
    shim.console = console
    empty_r, empty_w = os.pipe2(os.O_CLOEXEC)
    os.close(empty_w)
    dup = fcntl.F_DUPFD_CLOEXEC
    return console.log_r, fcntl.fcntl(console.log_w, dup, 3), empty_r, fcntl.fcntl(console.log_w, dup, 3)
