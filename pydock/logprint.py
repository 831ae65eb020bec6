"""`pydock logs` without click: the printing of log records as `docker logs` prints them, and the
command's fast path.

pydock/cli/logs.py is the click command; `pydock logs` with the usual flags is parsed here instead
(`fast_logs`), because click and its imports are a third of the command's start-up
(docs/performance.md). Anything unusual (an unknown flag, a missing value, `--help`) returns
False and goes through click, so errors and help read as before. The API server (api/streams.py)
uses the same helpers.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote_plus

from pydock.errors import PydockError, UsageError
from pydock.logdrivers.base import LogMessage, ReadConfig
from pydock.logdrivers.stats import read_stats
from pydock.units import rfc3339_nano, timestamp_ns

ALIVE = ("running", "paused", "restarting")


def parse_tail(text: str) -> int:
    """Docker: `all`, empty, negative or not an integer (by Go's strconv.Atoi: a sign and digits,
    nothing else) means everything (-1)."""
    if not re.fullmatch(r"[+-]?[0-9]+", text):
        return -1
    n = int(text)
    return n if n >= 0 else -1


def parse_time_ns(text: str | None, what: str) -> int:
    """`--since`/`--until` in unix nanoseconds (0: no bound), as Docker's client reads them."""
    return timestamp_ns(text, what) if text else 0


def details_prefix(attrs: Mapping[str, str]) -> bytes:
    items = sorted(attrs.items())
    return ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in items).encode() + b" "


def write_logs(messages: Iterable[LogMessage], out: BinaryIO, err: BinaryIO, timestamps: bool = False,
               details: bool = False) -> int:
    """Print messages as `docker logs` does; returns the number of lines printed."""
    open_parts: dict[str, tuple[int, list[bytes], Mapping[str, str]]] = {}
    printed = 0

    def emit(source: str, ts: int, line: bytes, attrs: Mapping[str, str], newline: bool) -> None:
        nonlocal printed
        head = (rfc3339_nano(ts).encode() + b" " if timestamps else b"") + (details_prefix(attrs) if details else b"")
        (err if source == "stderr" else out).write(head + line + (b"\n" if newline else b""))
        printed += 1

    for msg in messages:
        part = msg.partial
        if part is not None:
            held = open_parts.get(msg.source)
            if held is None:
                held = (msg.timestamp_ns, [], msg.attrs)
                open_parts[msg.source] = held
            held[1].append(msg.line)
            if part.last:
                del open_parts[msg.source]
                emit(msg.source, held[0], b"".join(held[1]), held[2], True)
            continue
        held = open_parts.pop(msg.source, None)
        if held is not None:  # parts never closed (the line ended at EOF): print what there is
            emit(msg.source, held[0], b"".join(held[1]), held[2], False)
        emit(msg.source, msg.timestamp_ns, msg.line, msg.attrs, True)
    for source, held in open_parts.items():
        emit(source, held[0], b"".join(held[1]), held[2], False)
    return printed


def _status_probe(get_status: Callable[[], str], container_dir: Path, every: float = 0.1,
                  grace: float = 5.0) -> Callable[[], bool]:
    """`done()` for the follower: the container stopped (state.json re-read at most every 100 ms)
    and its log driver closed (logstats.json says so: a non-blocking buffer may still be draining
    when the state changes), or `grace` seconds passed since it stopped."""
    last = [0.0, False]
    stopped_at: list[float] = []

    def done() -> bool:
        now = time.monotonic()
        if now - float(last[0]) >= every:
            last[0] = now
            if get_status() in ALIVE:
                stopped_at.clear()
                last[1] = False
            else:
                stopped_at[:] = stopped_at or [now]
                stats = read_stats(container_dir)
                last[1] = stats is None or bool(stats.get("closed", True)) or now - stopped_at[0] > grace
        return bool(last[1])

    return done


def show_logs(container: str, follow: bool = False, tail: str = "all", since: str | None = None,
              until: str | None = None, timestamps: bool = False, details: bool = False) -> None:
    """What `pydock logs` does once its flags are parsed."""
    from pydock.logdrivers.registry import open_reader
    from pydock.runtime.store import ContainerStore
    from pydock.settings import Settings

    store = ContainerStore(Settings.from_env().root)
    record = store.get(container)
    since_ns = parse_time_ns(since, "--since")
    until_ns = parse_time_ns(until, "--until")
    if since_ns and until_ns and until_ns < since_ns:
        raise UsageError("--until must not be before --since")
    reader = open_reader(record.dir, record.log_driver, record.log_opts)
    out, err = sys.stdout.buffer, sys.stderr.buffer

    def flush() -> None:
        out.flush()
        err.flush()

    def warn(text: str) -> None:
        flush()
        sys.stderr.write(f"pydock: warning: {text}\n")
        sys.stderr.flush()

    for attr, value in (("on_idle", flush), ("on_warning", warn)):
        if hasattr(reader, attr):
            setattr(reader, attr, value)
    following = follow and record.status in ALIVE
    done = _status_probe(lambda: store.get(record.id).status, record.dir) if following else None
    config = ReadConfig(tail=parse_tail(tail), since_ns=since_ns, until_ns=until_ns, follow=following, done=done)
    try:
        write_logs(reader.read(config), out, err, timestamps, details)
        flush()
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): not an error


_FLAGS = {"-f": "follow", "--follow": "follow", "-t": "timestamps", "--timestamps": "timestamps",
          "--details": "details"}
_VALUES = {"-n": "tail", "--tail": "tail", "--since": "since", "--until": "until"}


def parse_logs_args(args: list[str]) -> dict[str, object] | None:
    """`logs` arguments in the forms people type (`-f`, `-n 100`, `--tail=100`, `-ft`...), or None
    for anything else, which click then parses (and reports) as before."""
    opts: dict[str, object] = {}
    container = None
    k = 0
    while k < len(args):
        a = args[k]
        k += 1
        if a.startswith("--") and "=" in a:
            name, _, value = a.partition("=")
            if name not in _VALUES:
                return None
            opts[_VALUES[name]] = value
        elif a in _FLAGS:
            opts[_FLAGS[a]] = True
        elif a in _VALUES:
            if k >= len(args):
                return None
            opts[_VALUES[a]] = args[k]
            k += 1
        elif a.startswith("-n") and len(a) > 2 and a[2:].isdigit():
            opts["tail"] = a[2:]
        elif len(a) > 2 and a[0] == "-" and a[1] != "-" and all(c in "ft" for c in a[1:]):
            for c in a[1:]:
                opts[_FLAGS["-" + c]] = True
        elif a.startswith("-") or container is not None:
            return None
        else:
            container = a
    if container is None:
        return None
    opts["container"] = container
    return opts


def fast_logs(args: list[str]) -> bool:
    """Run `pydock logs ARGS` without click when the arguments are plain; False to use click."""
    opts = parse_logs_args(args)
    if opts is None:
        return False
    try:
        show_logs(**opts)  # type: ignore[arg-type]
    except PydockError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"pydock: {exc}\n")
        sys.exit(exc.exit_code)
    return True
