"""`pydock logs` without click: the printing of log records as `docker logs` prints them, and the
command's fast path.

pydock/cli/logs.py is the click command; `pydock logs` with the usual flags is parsed here instead
(`fast_logs`), because click and its imports are a third of the command's start-up
(docs/performance.md). Anything unusual (an unknown flag, a missing value, `--help`) returns
False and goes through click, so errors and help read as before. The API server (api/streams.py)
uses the same helpers.
"""

from __future__ import annotations

import os
import sys

from pydock.errors import PydockError, UsageError

TYPE_CHECKING = False  # typing costs ~3 ms to import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from pathlib import Path
    from typing import Any, BinaryIO

    from pydock.logdrivers.base import LogMessage

ALIVE = ("running", "paused", "restarting")


def parse_tail(text: str) -> int:
    """Docker: `all`, empty, negative or not an integer (by Go's strconv.Atoi: a sign and digits,
    nothing else) means everything (-1)."""
    digits = text[1:] if text[:1] in ("+", "-") else text
    if not (digits.isascii() and digits.isdigit()):
        return -1
    n = int(text)
    return n if n >= 0 else -1


def parse_time_ns(text: str | None, what: str) -> int:
    """`--since`/`--until` in unix nanoseconds (0: no bound), as Docker's client reads them."""
    from pydock.units import timestamp_ns

    return timestamp_ns(text, what) if text else 0


def details_prefix(attrs: Mapping[str, str]) -> bytes:
    from urllib.parse import quote_plus

    items = sorted(attrs.items())
    return ",".join(f"{quote_plus(k)}={quote_plus(v)}" for k, v in items).encode() + b" "


def write_logs(messages: Iterable[LogMessage], out: BinaryIO, err: BinaryIO, timestamps: bool = False,
               details: bool = False) -> int:
    """Print messages as `docker logs` does; returns the number of lines printed."""
    open_parts: dict[str, tuple[int, list[bytes], Mapping[str, str]]] = {}
    printed = 0

    if timestamps:
        from pydock.units import rfc3339_nano

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
    import time

    from pydock.logdrivers.stats import read_stats

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
    from pydock.logdrivers.base import ReadConfig
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
        if not print_json_file_tail(**opts):  # type: ignore[arg-type]
            show_logs(**opts)  # type: ignore[arg-type]
    except PydockError as exc:
        sys.stdout.flush()
        sys.stderr.write(f"pydock: {exc}\n")
        sys.exit(exc.exit_code)
    return True


# -- `pydock logs [--tail N] NAME` of a json-file log, with os alone --------------------------------

def print_json_file_tail(container: str, tail: str = "all", **other: Any) -> bool:
    """The usual `pydock logs --tail N NAME` (no other flag) of a json-file log: printed with `os`
    and the C JSON scanner, without the reader stack (dataclasses, pathlib, re, json: ~35 ms of
    imports on the bench host; bench/cli_startup.py, docs/performance.md). Returns False, having
    printed nothing, for anything the full reader (show_logs) must decide: another driver, rotated
    files needed, a part of a long line, a record it would skip or stop on."""
    n = parse_tail(tail)
    if other or n < 0:
        return False
    from pydock.runtime.records import resolve, state_root

    dir, config = resolve(os.path.join(state_root(), "containers"), container)  # store.get's lookup and errors
    if config.get("HostConfig", {}).get("LogConfig", {}).get("Type", "json-file") != "json-file":
        return False
    lines = _json_file_tail(dir, n)
    if lines is None:
        return False
    out, err = sys.stdout.buffer, sys.stderr.buffer
    try:
        for source, line in lines:
            (err if source == "stderr" else out).write(line + b"\n")
        out.flush()
        err.flush()
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (`| head`): not an error
    return True


def _json_file_tail(dir: str, n: int) -> list[tuple[str, bytes]] | None:
    """(stream, line) of the last `n` records of `<dir>/<id>-json.log` as jsonfile.JSONFileDriver's
    reader reads them (logfile.FileSetReader: the active file opened under the directory's shared
    lock, rotated files only when it holds fewer than `n` records); None where that reader must run."""
    import fcntl

    from pydock.logdrivers import newlines

    path = os.path.join(dir, os.path.basename(dir) + "-json.log")
    try:
        lock = os.open(dir, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(lock, fcntl.LOCK_SH)  # as rotate.dir_lock: no rotation between the two looks
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        rotated = any(name.startswith(os.path.basename(path) + ".") for name in os.listdir(dir))
    except FileNotFoundError:
        return None
    finally:
        os.close(lock)
    try:
        if os.pread(fd, 2, 0) == b"\x1f\x8b":
            return None  # a compressed active file: the reader skips it

        def read_at(offset: int, size: int) -> bytes:
            return os.pread(fd, size, offset)

        end = newlines.complete_end(read_at, os.fstat(fd).st_size)
        start, _ = newlines.tail_start(read_at, end, n)
        records = [r for r in read_at(start, end - start).split(b"\n") if r] if n else []
    finally:
        os.close(fd)
    if len(records) < n and rotated:
        return None
    lines = []
    for record in records:
        decoded = _whole_line(record)
        if decoded is None:
            return None
        lines.append(decoded)
    return lines


def _whole_line(record: bytes) -> tuple[str, bytes] | None:
    """(stream, line) of a json-file record that jsonlog.decode reads as a whole line with a valid
    time; None for anything else (a part of a long line, an odd or damaged record)."""
    from pydock.jsonscan import loads

    try:
        obj = loads(record)
    except ValueError:
        return None
    if not isinstance(obj, dict):
        return None
    log, stream, when = obj.get("log", ""), obj.get("stream", ""), obj.get("time")
    if not (isinstance(log, str) and isinstance(stream, str) and log.endswith("\n") and _rfc3339_z(when)):
        return None
    return stream, log.encode("utf-8", "surrogatepass")[:-1]


def _rfc3339_z(text: object) -> bool:
    """Whether `text` is a UTC time as json-file writes it (YYYY-MM-DDTHH:MM:SS[.fraction]Z, a year
    and month jsonlog.parse_time takes): the reader skips records whose time it cannot parse."""
    if not isinstance(text, str) or not 20 <= len(text) <= 30 or text[-1] != "Z":
        return False
    fraction = text[19:-1]
    digits = text[:4] + text[5:7] + text[8:10] + text[11:13] + text[14:16] + text[17:19] + fraction[1:]
    return (text[4] + text[7] + text[10] + text[13] + text[16] == "--T::" and digits.isascii() and digits.isdigit()
            and (not fraction or (fraction[0] == "." and len(fraction) > 1))
            and int(text[:4]) >= 1 and 1 <= int(text[5:7]) <= 12)
