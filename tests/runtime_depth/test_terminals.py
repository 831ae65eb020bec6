"""Terminals driven by a pty the test holds: `run -it`, `exec -it`, `run -d -it` + `attach` + detach.

The test plays the user: it owns a pty pair, runs the real CLI with the slave as its terminal,
types into the master and reads what comes back."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from pydock.runtime import tty as rtty

from .conftest import run_container, wait_for

pytestmark = pytest.mark.root
CLI = [sys.executable, "-m", "pydock"]


class Session:
    """The CLI on a terminal of the test's own."""

    def __init__(self, args: list[str], rows: int = 30, cols: int = 100) -> None:
        self.master, self.slave = os.openpty()
        rtty.set_winsize(self.slave, rows, cols)
        self.before = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen([*CLI, *args], stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                     start_new_session=True)
        self.seen = b""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_until(self, needle: bytes, timeout: float = 20.0) -> bytes:
        deadline = time.monotonic() + timeout
        while needle not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} never came; the terminal showed {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    break
        return self.seen

    def wait(self, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError(f"the CLI did not exit; it showed {self.seen[-2000:]!r}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                try:
                    self.seen += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.returncode

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def sessions() -> Any:
    made: list[Session] = []

    def start(*args: str) -> Session:
        s = Session(list(args))
        made.append(s)
        return s

    yield start
    for s in made:
        s.close()


def test_run_it_types_a_command_and_reads_its_output(rt: Any, sessions: Any) -> None:
    s = sessions("run", "-it", "--name", "term", "busybox", "sh")
    s.read_until(b"# ")
    s.type("stty size; tty; echo hello-$((6*7))\r")
    out = s.read_until(b"hello-42\r\n")
    assert b"30 100" in out  # the window size followed the caller's
    assert b"/dev/pts/0" in out  # a real terminal, on the container's own devpts
    rtty.set_winsize(s.slave, 40, 120)  # the user resizes the window: the terminal signals its owner
    s.proc.send_signal(signal.SIGWINCH)
    time.sleep(0.3)
    s.type("stty size\r")
    s.read_until(b"40 120")
    s.type("exit 5\r")
    assert s.wait() == 5
    assert termios.tcgetattr(s.slave) == s.before  # raw mode restored on exit
    rec = rt.store.get("term")
    assert rec.state["ExitCode"] == 5 and rec.config["Config"]["Tty"] is True
    log = Path(rec.log_path).read_text()
    assert "hello-42" in log  # what a -t container prints still reaches its log driver


def test_ctrl_c_reaches_the_process(rt: Any, sessions: Any) -> None:
    s = sessions("run", "-it", "busybox", "sh", "-c", "trap 'echo got-int; exit 9' INT; echo ready; "
                 "while true; do sleep 0.1; done")
    s.read_until(b"ready")
    s.type("\x03")
    s.read_until(b"got-int")
    assert s.wait() == 9


def test_exec_it_runs_in_a_terminal(rt: Any, sessions: Any) -> None:
    rec = run_container(rt, "sleep", "60", name="target")
    s = sessions("exec", "-it", "target", "sh")
    s.read_until(b"# ")
    s.type("echo pid1=$(cat /proc/1/comm); tty; stty size\r")
    out = s.read_until(b"pid1=sleep")
    s.read_until(b"/dev/pts/")
    s.read_until(b"30 100")
    s.type("exit 4\r")
    assert s.wait() == 4
    assert termios.tcgetattr(s.slave) == s.before
    assert b"pid1=sleep" in out
    assert rt.store.get(rec.id).running


def test_run_detached_tty_then_attach_and_detach_with_ctrl_p_ctrl_q(rt: Any, sessions: Any) -> None:
    import subprocess as sp

    env = dict(os.environ)
    cid = sp.run([*CLI, "run", "-d", "-it", "--name", "bg", "busybox", "sh"], capture_output=True, text=True,
                 env=env, check=True).stdout.strip()
    assert len(cid) == 64
    s = sessions("attach", "bg")
    time.sleep(0.3)
    s.type("echo attached-$((2+3))\r")
    s.read_until(b"attached-5")
    s.type("\x10\x11")  # ctrl-p ctrl-q
    assert s.wait() == 0
    assert termios.tcgetattr(s.slave) == s.before
    assert rt.store.get(cid).running  # detaching leaves it running
    # Attach again and end it: attach returns the container's exit code.
    s2 = sessions("attach", "bg")
    time.sleep(0.3)
    s2.type("exit 3\r")
    assert s2.wait() == 3
    wait_for(lambda: not rt.store.get(cid).running, what="the container to exit")
