"""Multiline entries, grouped by the agent's shipper before the push (why there: agent/shipper.py's
docstring): Python tracebacks, Go panics, Java traces and indented lines become one stored entry,
also when the writer pauses mid-trace across shipper rounds (and pushes), with a flush timeout for
the last entry, a per-container start pattern (label `pydock.multiline.pattern`), and nothing lost
when the shipper restarts while it holds a partial entry."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydock.agent.shipper import Shipper
from pydock.collector.api import logs as logs_api
from pydock.collector.logstore import LogQuery, LogRecord
from pydock.collector.logstore.sqlite import SQLiteLogStore
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import JSONFileDriver

PY = ["Traceback (most recent call last):", '  File "/app/main.py", line 3, in <module>', "    main()",
      '  File "/app/main.py", line 2, in main', '    raise ValueError("bad")', "ValueError: bad"]
PY_CHAINED = PY + ["", "During handling of the above exception, another exception occurred:", "",
                   "Traceback (most recent call last):", '  File "/app/main.py", line 5, in <module>',
                   "KeyError: 'x'"]
GO = ["panic: runtime error: index out of range [3] with length 2", "", "goroutine 1 [running]:",
      "main.main()", "\t/app/main.go:8 +0x1d", "", "goroutine 7 [chan receive]:", "main.worker(0xc000012345)",
      "\t/app/main.go:20 +0x2a", "created by main.main in goroutine 1", "\t/app/main.go:6 +0x4f"]
JAVA = ['Exception in thread "main" java.lang.IllegalStateException: boom', "\tat com.x.App.run(App.java:10)",
        "\tat com.x.App.main(App.java:5)", "Caused by: java.io.IOException: disk", "\tat com.x.Io.read(Io.java:3)",
        "\t... 2 more"]


class Stack:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.store = SQLiteLogStore(tmp / "logs.db")
        app = FastAPI()
        app.state.logstore = self.store
        app.include_router(logs_api.router)
        self.client = TestClient(app)
        self.pushes = 0
        self.drivers: list[Any] = []

    def container(self, cid: str, name: str, labels: dict[str, str] | None = None) -> Any:
        d = self.tmp / "containers" / cid
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps({"Id": cid, "Name": name, "Config": {"Labels": labels or {}},
                                                   "HostConfig": {"LogConfig": {"Type": "json-file"}}}))
        info = LogInfo(container_id=cid, container_name=name, image_name="x", image_id="sha256:" + "0" * 64,
                       command=["sh"], created_ns=0, labels=labels or {}, env=[], log_dir=str(d))
        drv = JSONFileDriver(info, {})
        self.drivers.append(drv)
        return drv

    def shipper(self, **kw: Any) -> Shipper:
        return Shipper(self.tmp / "containers", "http://testserver", self.tmp / "agent" / "shipper.json",
                       client=self.client, host="h", **kw)

    def entries(self, name: str) -> list[LogRecord]:
        return self.store.query(LogQuery(container=name, limit=1000)).records[::-1]

    def close(self) -> None:
        for d in self.drivers:
            d.close()
        self.client.close()
        self.store.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    yield s
    s.close()


def write(drv: Any, lines: list[str], stream: str = "stderr") -> None:
    for x in lines:
        drv.log(LogMessage(x.encode(), stream, time.time_ns()))


def test_traces_and_indented_lines_are_one_entry_each(stack: Stack) -> None:
    drv = stack.container("a" * 64, "app")
    write(drv, ["starting"], "stdout")
    write(drv, ["ERROR request failed", "  detail: upstream closed", "  retry: 3"])
    write(drv, PY_CHAINED + GO + ["", "restarted"] + JAVA + ["INFO done", "", "last"])
    write(drv, ["interleaved on stdout"], "stdout")
    s = stack.shipper(multiline_flush_s=0.2)
    s.ship_once()
    got = [(r.stream, r.line) for r in stack.entries("app")]
    assert got == [("stdout", "starting"),
                   ("stderr", "ERROR request failed\n  detail: upstream closed\n  retry: 3"),
                   ("stderr", "\n".join(PY_CHAINED)), ("stderr", "\n".join(GO)), ("stderr", ""),
                   ("stderr", "restarted"), ("stderr", "\n".join(JAVA)), ("stderr", "INFO done"), ("stderr", ""),
                   ("stderr", "last"), ("stdout", "interleaved on stdout")]
    assert stack.entries("app")[1].level == "error"  # the entry's level, from its first line
    assert s.ship_once() == 0  # nothing held, nothing sent again


@pytest.mark.parametrize("trace,cut", [(PY, 3), (GO, 2), (GO, 5), (JAVA, 4)])
def test_a_trace_split_across_rounds_and_pushes_is_one_entry(stack: Stack, trace: list[str], cut: int) -> None:
    drv = stack.container("b" * 64, "api")
    write(drv, ["before"] + trace[:cut])
    pushes: list[int] = []
    s = stack.shipper(multiline_flush_s=5)
    pushes.append(s.ship_once())
    assert [r.line for r in stack.entries("api")] == ["before"]  # the partial trace is held
    # The shipper restarts while it holds the partial trace (a crash): the checkpoint is before it.
    write(drv, trace[cut:] + ([""] if trace is GO else []) + ["after"])
    write(drv, ["stdout line"], "stdout")
    s = stack.shipper(multiline_flush_s=5)
    pushes.append(s.ship_once())
    got = [r.line for r in stack.entries("api")]
    assert got == ["before", "\n".join(trace), *([""] if trace is GO else []), "after", "stdout line"]
    assert pushes == [1, 4 if trace is GO else 3]


def test_flush_timeout_sends_the_last_entry(stack: Stack) -> None:
    drv = stack.container("c" * 64, "job")
    write(drv, PY)
    s = stack.shipper(multiline_flush_s=0.5)
    assert s.ship_once() == 0  # the traceback may go on: held
    time.sleep(0.6)
    assert s.ship_once() == 1
    assert [r.line for r in stack.entries("job")] == ["\n".join(PY)]
    write(drv, ["  a late indented line"])  # after the flush: an entry of its own
    time.sleep(0.6)
    s.ship_once()
    assert [r.line for r in stack.entries("job")][-1] == "  a late indented line"
    assert s.ship_once() == 0


def test_container_label_sets_the_start_pattern(stack: Stack) -> None:
    drv = stack.container("d" * 64, "legacy", {"pydock.multiline.pattern": r"^\d{4}-\d\d-\d\d "})
    plain = stack.container("e" * 64, "plain")
    lines = ["2026-01-01 12:00:00 first", "continued without indent", "Traceback (most recent call last):",
             "2026-01-01 12:00:01 second", "2026-01-01 12:00:02 third", "  more"]
    write(drv, lines)
    write(plain, lines)
    s = stack.shipper(multiline_flush_s=0.3)
    s.ship_once()
    assert [r.line for r in stack.entries("legacy")] == ["\n".join(lines[:3]), lines[3]]  # the last is held
    time.sleep(0.4)
    s.ship_once()
    assert [r.line for r in stack.entries("legacy")][-1] == "2026-01-01 12:00:02 third\n  more"
    # without the label: the traceback line alone (no frames follow), then the indented line joins
    assert [r.line for r in stack.entries("plain")] == [*lines[:4], "2026-01-01 12:00:02 third\n  more"]
