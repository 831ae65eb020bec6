"""`pydock ps`, `inspect` and `stop` without click, and the bodies the click commands share with them.

Why: click, the click command tree and the lifecycle (`Runtime`) are most of these commands'
start-up: `ps -a` took 99 ms and `inspect` 88 ms against podman's 28 ms on the bench host
(docs/performance.md, "CLI start-up"; `bench/run cli_startup` measures them). `ps` and `inspect`
read the records through the store and print them through runtime/views.py and formatting.py, the
same functions the click commands (containers.py) call, so the output is the same by construction.
`stop` needs the lifecycle, but not click and the command tree (~30 % of its imports): three
quarters of a `stop` of a container that exits on SIGTERM is start-up, not waiting.

`parse_line` reads the flags as click's parser does; anything it does not know (an unknown flag,
`--help`, `--`, a flag given a value, a missing value or argument, an `inspect` of something that is
not a container) returns False and click runs the line, so help and errors read as before.
tests/test_fastcontainers.py runs both over a corpus of argument lists and container states.
"""

from __future__ import annotations

import sys

from pydock.errors import PydockError, UsageError

TYPE_CHECKING = False  # typing costs ~3 ms to import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

    from pydock.runtime.store import ContainerStore

FLAG, VALUE, MULTI = "flag", "value", "multi"

PS_OPTIONS = {"-a": ("all_", FLAG), "--all": ("all_", FLAG), "-q": ("quiet", FLAG), "--quiet": ("quiet", FLAG),
              "-f": ("filters", MULTI), "--filter": ("filters", MULTI), "--format": ("fmt", VALUE),
              "--no-trunc": ("no_trunc", FLAG)}
INSPECT_OPTIONS = {"-f": ("fmt", VALUE), "--format": ("fmt", VALUE), "--type": ("kind", VALUE)}
STOP_OPTIONS = {"-t": ("timeout", VALUE), "--time": ("timeout", VALUE)}


class Unsupported(Exception):
    """A line left to click."""


def parse_line(args: Sequence[str], options: dict[str, tuple[str, str]],
               interspersed: bool = True) -> tuple[dict[str, Any], list[str]]:
    """(options by click's parameter names, positional arguments) of a command line, read as click's
    parser reads it: options anywhere, `--name=value`, short flags in clusters (`-aq`), a short
    option's value attached (`-fname=web`) or next. Raises Unsupported for what click must read.
    Not `interspersed` (click's allow_interspersed_args=False, `run`'s IMAGE [COMMAND]...): options
    end at the first positional argument, and everything from there is positional."""
    found: dict[str, Any] = {}
    rest: list[str] = []
    i = 0

    def take(dest: str, kind: str, value: str | None) -> None:
        nonlocal i
        if kind == FLAG:
            if value is not None:
                raise Unsupported  # click: "Option '--all' does not take a value"
            found[dest] = True
            return
        if value is None:
            if i + 1 >= len(args):
                raise Unsupported  # click: "Option '--format' requires an argument"
            i += 1
            value = args[i]
        found[dest] = (*found.get(dest, ()), value) if kind == MULTI else value

    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg.partition("=")
            if name not in options:
                raise Unsupported  # --help, or a flag left to click
            take(*options[name], value if eq else None)
        elif arg.startswith("-") and len(arg) > 1 and arg != "--":
            for pos in range(1, len(arg)):
                spec = options.get("-" + arg[pos])
                if spec is None:
                    raise Unsupported
                if spec[1] != FLAG:
                    take(*spec, arg[pos + 1:] or None)
                    break
                take(*spec, None)
        elif arg == "--":
            raise Unsupported
        elif not interspersed:
            rest.extend(args[i:])
            break
        else:
            rest.append(arg)
        i += 1
    return found, rest


def _report(exc: PydockError) -> NoReturn:
    """As app.main reports a PydockError: one line on stderr, Docker's exit code."""
    sys.stdout.flush()
    sys.stderr.write(f"pydock: {exc}\n")
    sys.exit(exc.exit_code)


def _echo(line: str) -> None:
    sys.stdout.write(line + "\n")


def _echo_err(line: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(line + "\n")


def _store() -> ContainerStore:
    from pydock.runtime.records import state_root
    from pydock.runtime.store import ContainerStore

    return ContainerStore(state_root())  # Runtime's store, without the Settings dataclass


# -- ps ------------------------------------------------------------------------------------------

def list_containers(store: ContainerStore, images: Callable[[], Any], all_: bool = False, quiet: bool = False,
                    filters: Sequence[str] = (), fmt: str | None = None, no_trunc: bool = False,
                    echo: Callable[[str], None] = _echo) -> None:
    """What `pydock ps` does once its flags are parsed; `images()` gives the image store (asked for
    only by an `ancestor` filter)."""
    from pydock.cli.formatting import print_rows
    from pydock.runtime.views import PS_COLUMNS, PS_FILTERS, matches, ps_row

    parsed: dict[str, list[str]] = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in PS_FILTERS:
            raise UsageError(f"invalid filter {f!r}: expected one of {', '.join(PS_FILTERS)} as key=value")
        parsed.setdefault(k, []).append(v)
    image_store = images() if "ancestor" in parsed else None
    show_all = all_ or "status" in parsed
    recs = [r for r in store.list() if (show_all or r.running) and matches(r, parsed, image_store)]
    rows = [ps_row(r, no_trunc) for r in recs]
    print_rows(None if fmt == "table" else fmt, rows, PS_COLUMNS, echo, quiet_key="ID", quiet=quiet)


def fast_ps(args: list[str]) -> bool:
    """FAST_PATHS' `ps`: False to leave the line to click."""
    try:
        opts, rest = parse_line(args, PS_OPTIONS)
    except Unsupported:
        return False
    if rest:
        return False  # click: "Got unexpected extra argument"

    def images() -> Any:
        from pydock.runtime.images import ImageStore
        from pydock.settings import Settings

        return ImageStore(Settings.from_env().images)  # as Runtime.images

    try:
        list_containers(_store(), images, **opts)
    except PydockError as exc:
        _report(exc)
    return True


# -- inspect -------------------------------------------------------------------------------------

def print_inspected(objects: list[dict[str, Any]], fmt: str | None, echo: Callable[[str], None] = _echo) -> None:
    """`inspect`'s output: each object through the `--format` template, else all as a JSON array."""
    if fmt:
        from pydock.cli.formatting import render

        for obj in objects:
            echo(render(fmt, obj))
    else:
        import json

        echo(json.dumps(objects, indent=4))


def fast_inspect(args: list[str]) -> bool:
    """FAST_PATHS' `inspect` of containers: False to leave the line to click, which also looks up
    images and volumes and reports what is found nowhere."""
    try:
        opts, names = parse_line(args, INSPECT_OPTIONS)
    except Unsupported:
        return False
    if not names or opts.get("kind") not in (None, "container"):
        return False  # click: "Missing argument 'NAMES...'", an image or volume, a bad --type
    from pydock.errors import NotFoundError
    from pydock.runtime.views import inspect_record

    try:
        store = _store()
        objects = []
        for ref in names:
            try:
                objects.append(inspect_record(store.get(ref)))
            except (NotFoundError, UsageError):
                return False  # perhaps an image or a volume
        print_inspected(objects, opts.get("fmt"))
    except PydockError as exc:
        _report(exc)
    return True


# -- stop (and the other commands that act on each container named) ------------------------------

def each_container(refs: Sequence[str], action: Callable[[str], Any], echo_ref: bool = True,
                   echo: Callable[[str], None] = _echo, echo_err: Callable[[str], None] = _echo_err) -> None:
    """Docker's multi-container commands: act on each, report failures, exit 1 if any failed."""
    failed = False
    for ref in refs:
        try:
            action(ref)
            if echo_ref:
                echo(ref)
        except PydockError as exc:
            echo_err(f"Error response from daemon: {exc}")
            failed = True
    if failed:
        sys.exit(1)


def fast_stop(args: list[str]) -> bool:
    """FAST_PATHS' `stop`: False to leave the line to click."""
    try:
        opts, names = parse_line(args, STOP_OPTIONS)
    except Unsupported:
        return False
    timeout = opts.get("timeout")
    digits = timeout[1:] if timeout and timeout[0] == "-" else timeout
    if not names or (digits is not None and not (digits.isascii() and digits.isdigit())):
        return False  # click: "Missing argument", or its reading of an unusual --time value
    from pydock.cli.runcontainer import runtime

    try:
        rt = runtime()
    except PydockError as exc:
        _report(exc)
    each_container(names, lambda ref: rt.stop(ref, None if timeout is None else int(timeout)))
    return True
