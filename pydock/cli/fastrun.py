"""`pydock run` and `pydock create` without click, for the common flags.

Why: click and the click command tree (containers.py, runflags.py, network.py) cost ~25-35 ms of a
`run --rm busybox true` that podman does in ~140 ms on the shared host (docs/performance.md, "`run`
start-up and the shim"; `bench/run start_latency` measures it). This parser reads Docker's usual
flags into the same options dict the click command gets (click's parameter names, click's defaults
for the keys `build_spec` and `run_container` read) and calls the same `run_container` /
`create_container` (runcontainer.py), so the container, its spec and the output are the same.

The line is read by the parser of the `ps`/`inspect` fast path (fastcontainers.parse_line, with
options ending at the image as click's allow_interspersed_args=False has it). Anything it does not
know (an unlisted flag, `--help`, `--`, a flag given a value it takes none, a missing value or image)
makes it return False and click parses the line, so help and errors read as before. tests/runtime/test_fastrun.py checks that both build equal specs and errors on a corpus.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from pydock.cli.fastcontainers import FLAG, MULTI, VALUE, Unsupported, parse_line
from pydock.errors import PydockError

__all__ = ["Unsupported", "fast_create", "fast_run", "parse"]

# flag spelling -> (click's parameter name, kind). Only string-valued options: their value needs no
# conversion, so the value click hands the command is the text itself. MULTI collects a tuple.
_OPTIONS: dict[str, tuple[str, str]] = {}
for _names, _dest, _kind in (
    (("--rm",), "auto_remove", FLAG),
    (("-i", "--interactive"), "interactive", FLAG),
    (("-t", "--tty"), "tty", FLAG),
    (("--init",), "init", FLAG),
    (("--privileged",), "privileged", FLAG),
    (("--read-only",), "read_only", FLAG),
    (("-P", "--publish-all"), "publish_all", FLAG),
    (("--name",), "name", VALUE),
    (("-w", "--workdir"), "workdir", VALUE),
    (("-u", "--user"), "user", VALUE),
    (("-h", "--hostname"), "hostname", VALUE),
    (("--entrypoint",), "entrypoint", VALUE),
    (("--network", "--net"), "network", VALUE),
    (("--log-driver",), "log_driver", VALUE),
    (("--restart",), "restart", VALUE),
    (("--stop-signal",), "stop_signal", VALUE),
    (("--pull",), "pull_policy", VALUE),
    (("-m", "--memory"), "memory", VALUE),
    (("--cpus",), "cpus", VALUE),
    (("--pids-limit",), "pids_limit", VALUE),
    (("--cgroup-parent",), "cgroup_parent", VALUE),
    (("--ip",), "ip", VALUE),
    (("-e", "--env"), "env", MULTI),
    (("--env-file",), "env_file", MULTI),
    (("-v", "--volume"), "volumes", MULTI),
    (("--mount",), "mounts", MULTI),
    (("-l", "--label"), "labels", MULTI),
    (("--log-opt",), "log_opts", MULTI),
    (("-p", "--publish"), "publish", MULTI),
    (("--expose",), "expose", MULTI),
    (("--add-host",), "add_hosts", MULTI),
    (("--dns",), "dns", MULTI),
    (("--network-alias",), "network_aliases", MULTI),
    (("--ulimit",), "ulimits", MULTI),
    (("--cap-add",), "cap_add", MULTI),
    (("--cap-drop",), "cap_drop", MULTI),
    (("--security-opt",), "security_opt", MULTI),
    (("--tmpfs",), "tmpfs", MULTI),
):
    for _name in _names:
        _OPTIONS[_name] = (_dest, _kind)
_RUN_ONLY = {"-d": ("detach", FLAG), "--detach": ("detach", FLAG)}

# click's defaults of the container options that build_spec and run_container index directly (the
# depth, network and security fields are read with .get, where a missing key reads as click's default)
_DEFAULTS: dict[str, Any] = {
    "name": "", "env": (), "env_file": (), "workdir": "", "user": "", "hostname": "", "volumes": (),
    "mounts": (), "labels": (), "network": "", "log_driver": None, "log_opts": (), "stop_signal": "SIGTERM",
    "stop_timeout": 10, "entrypoint": None, "auto_remove": False, "pull_policy": "missing", "platform": None,
}


def parse(args: list[str], command: str) -> tuple[str, tuple[str, ...], dict[str, Any]]:
    """`args` after `run`/`create` as (image, command, options) with click's names and values, read
    as click's parser reads them (fastcontainers.parse_line; options end at the image); raises
    Unsupported for anything click should parse."""
    found, rest = parse_line(args, {**_OPTIONS, **_RUN_ONLY} if command == "run" else _OPTIONS,
                             interspersed=False)
    if not rest or rest[0] in ("", "-"):
        raise Unsupported  # no image ("Missing argument 'IMAGE'"), or click's reading of `-`/""
    o: dict[str, Any] = {**_DEFAULTS, **({"detach": False} if command == "run" else {}), **found}
    return rest[0], tuple(rest[1:]), o


def fast_run(args: list[str]) -> bool:
    """FAST_PATHS' `run`: False to leave the line to click; else runs it and ends the process."""
    return _fast("run", args)


def fast_create(args: list[str]) -> bool:
    """FAST_PATHS' `create`: False to leave the line to click; else runs it and ends the process."""
    return _fast("create", args)


def _fast(command: str, args: list[str]) -> bool:
    try:
        image, cmd, o = parse(args, command)
    except Unsupported:
        return False
    from pydock.cli.runcontainer import create_container, run_container

    code = 0
    try:
        if command == "run":
            run_container(image, cmd, o.pop("detach"), o)
        else:
            create_container(image, cmd, o)
    except SystemExit as exc:  # an attached run: the container's exit code
        code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    except PydockError as exc:  # as pydock.cli.app.main reports it
        print(f"pydock: {exc}", file=sys.stderr, flush=True)
        code = exc.exit_code
    except KeyboardInterrupt:  # click's Abort
        print("\nAborted!", file=sys.stderr, flush=True)
        code = 130
    _exit_now(code)


def _exit_now(code: int) -> NoReturn:
    """Ends the command without the interpreter's finalization: tearing down the ~250 modules `run`
    imported costs milliseconds after the container has already exited (docs/performance.md), and
    nothing on this path registers atexit work; the output is flushed first."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be written anyway
            pass
    os._exit(code)
