"""Container commands with Docker's flags: run, create, start, stop, kill, restart, rm, ps, inspect,
wait, container prune.

`run` and `create` share one set of options (`container_options`) and one builder (`build_spec`)
that turns them into a `ContainerSpec`; new flags (limits, restart, health, tty) are added there.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

import click

from pydock.cli.runflags import DEPTH_OPTIONS, apply_daemon_defaults, depth_fields, run_tty
from pydock.errors import NotFoundError, PydockError, UsageError
from pydock.runtime.spec import ContainerSpec, parse_env_file, parse_mount, parse_volume
from pydock.settings import Settings


def _runtime(need_root: bool = False) -> Any:
    from pydock.runtime.lifecycle import Runtime, require_root

    if need_root:  # before anything else reads files only root may read
        require_root()
    return Runtime(Settings.from_env())


# -- run / create --------------------------------------------------------------------------------

_CONTAINER_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("--name", default="", help="Assign a name to the container"),
    click.option("-e", "--env", "env", multiple=True, help="Set environment variables"),
    click.option("--env-file", multiple=True, help="Read in a file of environment variables"),
    click.option("-w", "--workdir", default="", help="Working directory inside the container"),
    click.option("-u", "--user", default="", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    click.option("-h", "--hostname", default="", help="Container host name"),
    click.option("-v", "--volume", "volumes", multiple=True, help="Bind mount a volume (SRC:DST[:ro])"),
    click.option("--mount", "mounts", multiple=True, help="Attach a filesystem mount (type=bind|volume|tmpfs,...)"),
    click.option("-l", "--label", "labels", multiple=True, help="Set meta data on a container"),
    click.option("--network", "--net", "network", default="",
                 help="Connect a container to a network (bridge, NAME, none, host, container:NAME)"),
    click.option("--log-driver", default=None, help="Logging driver for the container (daemon.json's by default)"),
    click.option("--log-opt", "log_opts", multiple=True, help="Log driver options"),
    click.option("--stop-signal", default="SIGTERM", help="Signal to stop the container"),
    click.option("--stop-timeout", type=int, default=10, help="Timeout (in seconds) to stop a container"),
    click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image"),
    click.option("--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits"),
    click.option("--pull", "pull_policy", default="missing", help='Pull image before running ("always", "missing", "never")'),
    click.option("--platform", default=None, help="Set platform if server is multi-platform capable"),
]
_CONTAINER_OPTIONS += DEPTH_OPTIONS  # runtime depth: limits, --restart, --health-*, -t, -i (cli/runflags.py)


def container_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(_CONTAINER_OPTIONS):
        f = opt(f)
    f = click.argument("command", nargs=-1, type=click.UNPROCESSED)(f)
    return click.argument("image")(f)


def _pairs(items: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        if not k:
            raise UsageError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out[k] = v
    return out


def build_spec(image: str, command: tuple[str, ...], **o: Any) -> ContainerSpec:
    """Docker's run/create flags as a ContainerSpec; raises UsageError naming a bad flag value."""
    o = apply_daemon_defaults(o)  # daemon.json's log-driver and log-opts
    env: list[str] = []
    for path in o["env_file"]:
        try:
            with open(path) as f:
                env += parse_env_file(f.read(), path)
        except OSError as exc:
            raise UsageError(f"open {path}: {exc.strerror}") from exc
    for e in o["env"]:
        if "=" in e:
            env.append(e)
        elif e in os.environ:  # `-e KEY` passes the caller's value, as in Docker
            env.append(f"{e}={os.environ[e]}")
    mounts = [parse_volume(v) for v in o["volumes"]]
    mounts = [type(m)(m.type, m.target, m.source, m.read_only, {"create-source": "1"}) if m.type == "bind" else m
              for m in mounts]
    mounts += [parse_mount(m) for m in o["mounts"]]
    entrypoint = None
    if o["entrypoint"] is not None:
        entrypoint = (o["entrypoint"],) if o["entrypoint"] else ()
    if o["stop_timeout"] < -1:
        raise UsageError(f"invalid --stop-timeout {o['stop_timeout']}: must be -1 (forever) or more")
    return ContainerSpec(
        image=image, cmd=tuple(command) or None, entrypoint=entrypoint, name=o["name"], env=tuple(env),
        workdir=o["workdir"], user=o["user"], hostname=o["hostname"], labels=_pairs(o["labels"], "label"),
        mounts=tuple(mounts), network=o["network"], log_driver=o["log_driver"],
        log_opts=_pairs(o["log_opts"], "--log-opt"), stop_signal=o["stop_signal"],
        stop_timeout=o["stop_timeout"], auto_remove=o["auto_remove"], **depth_fields(o),
    )


def _pull_first(image: str, o: dict[str, Any]) -> None:
    if os.geteuid() != 0:
        _runtime(need_root=True)  # the one-line "needs root" error, before the image store is read
    from pydock.cli.registry_cmds import pull_for_run  # images room: run --pull

    pull_for_run(image, o.pop("pull_policy", "missing"), o.pop("platform", None))


# -h is --hostname for run/create, as in Docker; options end at the image name.
_SETTINGS = {"allow_interspersed_args": False, "help_option_names": ["--help"]}


@click.command(context_settings=_SETTINGS)
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID")
@container_options
def run(image: str, command: tuple[str, ...], detach: bool, **o: Any) -> None:
    """Create and run a new container from an image."""
    _pull_first(image, o)
    from pydock.runtime.launch import spawn_shim, take_early

    settings = Settings.from_env()
    if o.get("tty") and not detach:
        early = take_early(settings)  # a terminal's shim is launched by run_tty
        if early is not None:
            early.cancel()
        rt = _runtime(need_root=True)
        rec = rt.create(build_spec(image, command, **o))
        sys.exit(run_tty(rt, rec.id, bool(o.get("interactive"))))  # runtime depth: a real terminal
    if os.geteuid() != 0:
        _runtime(need_root=True)  # raises the one-line "needs root" error
    out, err = (None, None) if detach else (os.pipe2(os.O_CLOEXEC), os.pipe2(os.O_CLOEXEC))
    # -i: the caller's stdin goes to the container through a pipe (its read end is the shim's).
    stdin = os.pipe2(os.O_CLOEXEC) if o.get("interactive") and not detach else None
    # The shim's interpreter starts first, before this process imports the lifecycle and makes the
    # record, so the two overlap; the shim waits for the container's id. `pydock.cli.main` started
    # it before click was imported (`spawn_early`); the pipes then go with the id.
    stdin_r = -1
    launch = take_early(settings)
    if launch is not None:
        stdin_r = stdin[0] if stdin else -1
    else:
        try:
            launch = spawn_shim(settings, None if out is None or err is None else (out[1], err[1]),
                                stdin[0] if stdin else -1)
        finally:
            if stdin:
                os.close(stdin[0])
    try:
        rt = _runtime()
        rec = rt.create(build_spec(image, command, **o))
    except BaseException:
        launch.cancel()
        if stdin_r >= 0:
            os.close(stdin_r)
        raise
    if detach:
        rt.start(rec.id, launch=launch).close()
        click.echo(rec.id)
        return
    sys.exit(_run_attached(rt, rec.id, launch, out, err, stdin[1] if stdin else -1, stdin_r=stdin_r))


def _run_attached(rt: Any, cid: str, launch: Any = None, out: tuple[int, int] | None = None,
                  err: tuple[int, int] | None = None, stdin_w: int = -1, interactive: bool = False,
                  stdin_r: int = -1) -> int:
    """Streams the container's output, forwards SIGINT/SIGTERM to it, returns its exit code.

    `stdin_w`: the write end of the container's stdin pipe (the shim already has its read end, or
    gets `stdin_r` with the id); `interactive` without it: make that pipe here, for the shim `start`
    launches."""
    out_r, out_w = out or os.pipe2(os.O_CLOEXEC)
    err_r, err_w = err or os.pipe2(os.O_CLOEXEC)
    if interactive and stdin_w < 0:
        stdin_r, stdin_w = os.pipe2(os.O_CLOEXEC)
    try:
        started = rt.start(cid, attach=(out_w, err_w), launch=launch, stdin=stdin_r)
    except BaseException:
        if stdin_w >= 0:
            os.close(stdin_w)
        raise
    finally:
        os.close(out_w)
        os.close(err_w)
        if stdin_r >= 0:
            os.close(stdin_r)
    if stdin_w >= 0:
        # A daemon thread: a container that exits before stdin ends does not wait for it.
        threading.Thread(target=_feed, args=(sys.stdin.fileno(), stdin_w), daemon=True).start()

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(started.pid, signum)
        except ProcessLookupError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    pumps = [threading.Thread(target=_pump, args=(out_r, sys.stdout), daemon=True),
             threading.Thread(target=_pump, args=(err_r, sys.stderr), daemon=True)]
    for p in pumps:
        p.start()
    for p in pumps:
        while p.is_alive():
            p.join(0.2)  # joined in slices so Ctrl-C reaches the handler
    return int(started.wait_exit())


def _feed(src: int, dst: int) -> None:
    """The caller's stdin into the container's; EOF (or the container gone) closes it."""
    try:
        while data := os.read(src, 65536):
            view = memoryview(data)
            while view:
                view = view[os.write(dst, view):]
    except OSError:  # EPIPE: the container closed its stdin or exited
        pass
    finally:
        os.close(dst)


def _pump(fd: int, stream: Any) -> None:
    out = getattr(stream, "buffer", None)
    try:
        while data := os.read(fd, 65536):
            if out is not None:
                out.write(data)
                out.flush()
            else:
                stream.write(data.decode(errors="replace"))
                stream.flush()
    finally:
        os.close(fd)


@click.command(context_settings=_SETTINGS)
@container_options
def create(image: str, command: tuple[str, ...], **o: Any) -> None:
    """Create a new container."""
    _pull_first(image, o)
    rt = _runtime(need_root=True)
    rec = rt.create(build_spec(image, command, **o))
    click.echo(rec.id)


def _each(refs: tuple[str, ...], action: Callable[[str], Any], echo_ref: bool = True) -> None:
    """Docker's multi-container commands: act on each, report failures, exit 1 if any failed."""
    failed = False
    for ref in refs:
        try:
            action(ref)
            if echo_ref:
                click.echo(ref)
        except PydockError as exc:
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@click.command()
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.argument("containers", nargs=-1, required=True)
def start(containers: tuple[str, ...], attach: bool, interactive: bool) -> None:
    """Start one or more stopped containers."""
    rt = _runtime()
    if attach or interactive:
        if len(containers) != 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        sys.exit(_run_attached(rt, rt.store.get(containers[0]).id, interactive=interactive))
    _each(containers, lambda ref: rt.start(ref).close())


@click.command()
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing the container")
@click.argument("containers", nargs=-1, required=True)
def stop(containers: tuple[str, ...], timeout: int | None) -> None:
    """Stop one or more running containers."""
    rt = _runtime()
    _each(containers, lambda ref: rt.stop(ref, timeout))


@click.command()
@click.option("-s", "--signal", "sig", default="SIGKILL", help="Signal to send to the container")
@click.argument("containers", nargs=-1, required=True)
def kill(containers: tuple[str, ...], sig: str) -> None:
    """Kill one or more running containers."""
    rt = _runtime()
    _each(containers, lambda ref: rt.kill(ref, sig))


@click.command()
@click.option("-t", "--time", "timeout", type=int, default=None, help="Seconds to wait before killing the container")
@click.argument("containers", nargs=-1, required=True)
def restart(containers: tuple[str, ...], timeout: int | None) -> None:
    """Restart one or more containers."""
    rt = _runtime()
    _each(containers, lambda ref: rt.restart(ref, timeout))


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL)")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container")
@click.argument("containers", nargs=-1, required=True)
def rm(containers: tuple[str, ...], force: bool, volumes: bool) -> None:
    """Remove one or more containers."""
    rt = _runtime()
    _each(containers, lambda ref: rt.remove(ref, force=force, volumes=volumes))


@click.command()
@click.argument("containers", nargs=-1, required=True)
def wait(containers: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    rt = _runtime()
    _each(containers, lambda ref: click.echo(rt.wait(ref)), echo_ref=False)


# -- ps ------------------------------------------------------------------------------------------

# Docker's views of a record live in the runtime (runtime/views.py), shared with the API server.
from pydock.runtime.network.endpoint import ps_ports  # network room: Docker's PORTS column
from pydock.runtime.views import ago as _ago
from pydock.runtime.views import inspect_record
from pydock.runtime.views import status_text as _status_text


def ps_row(rec: Any, no_trunc: bool) -> dict[str, Any]:
    cmd = " ".join([rec.config.get("Path", ""), *rec.config.get("Args", [])])
    shown = cmd if no_trunc or len(cmd) <= 20 else cmd[:19] + "…"
    return {"ID": rec.id if no_trunc else rec.short_id, "Image": rec.image, "Command": f'"{shown}"',
            "CreatedAt": rec.created, "RunningFor": _ago(rec.created), "Ports": ps_ports(rec), "State": rec.status,
            "Status": _status_text(rec), "Names": rec.name, "Size": "",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(rec.labels.items())),
            "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in rec.config.get("Mounts", [])),
            "Networks": rec.config.get("HostConfig", {}).get("NetworkMode", "")}


def _matches(rec: Any, filters: dict[str, list[str]], rt: Any) -> bool:
    from pydock.runtime.views import matches

    return matches(rec, filters, rt.images)


_PS_FILTERS = ("name", "id", "status", "label", "ancestor")
_PS_COLUMNS = (("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
               ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names"))


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", default=None, help="Format output: table, json, or a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
def ps(all_: bool, quiet: bool, filters: tuple[str, ...], fmt: str | None, no_trunc: bool) -> None:
    """List containers."""
    from pydock.cli.formatting import print_rows

    parsed: dict[str, list[str]] = {}
    for f in filters:
        k, eq, v = f.partition("=")
        if not eq or k not in _PS_FILTERS:
            raise UsageError(f"invalid filter {f!r}: expected one of {', '.join(_PS_FILTERS)} as key=value")
        parsed.setdefault(k, []).append(v)
    rt = _runtime()
    show_all = all_ or "status" in parsed
    recs = [r for r in rt.store.list() if (show_all or r.running) and _matches(r, parsed, rt)]
    rows = [ps_row(r, no_trunc) for r in recs]
    print_rows(None if fmt == "table" else fmt, rows, _PS_COLUMNS, click.echo, quiet_key="ID", quiet=quiet)


# -- inspect -------------------------------------------------------------------------------------

@click.command()
@click.option("-f", "--format", "fmt", default=None, help="Format output using a Go template")
@click.option("--type", "kind", type=click.Choice(["container", "image", "volume"]), default=None)
@click.argument("names", nargs=-1, required=True)
def inspect(names: tuple[str, ...], fmt: str | None, kind: str | None) -> None:
    """Return low-level information on containers, images or volumes."""
    from pydock.cli.formatting import render

    rt = _runtime()
    out: list[dict[str, Any]] = []
    failed = False
    for ref in names:
        found = None
        for k in ("container", "image", "volume"):
            if kind not in (None, k):
                continue
            try:
                if k == "container":
                    found = inspect_record(rt.store.get(ref))
                elif k == "image":
                    from pydock.cli.images import inspect_image

                    found = inspect_image(rt.images.get(ref))
                else:
                    found = rt.volumes.get(ref).inspect()
                break
            except (NotFoundError, UsageError):
                continue
        if found is None:
            click.echo(f"Error: No such object: {ref}", err=True)
            failed = True
        else:
            out.append(found)
    if fmt:
        for obj in out:
            click.echo(render(fmt, obj))
    else:
        click.echo(json.dumps(out, indent=4))
    if failed:
        sys.exit(1)


# -- container group -----------------------------------------------------------------------------

@click.group(name="container")
def container_group() -> None:
    """Manage containers."""


@container_group.command(name="prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def container_prune(force: bool) -> None:
    """Remove all stopped containers."""
    if not force and not click.confirm("WARNING! This will remove all stopped containers.\n"
                                       "Are you sure you want to continue?", default=False):
        return
    gone = _runtime().prune()
    click.echo("Deleted Containers:")
    for cid in gone:
        click.echo(cid)
    click.echo("")
    click.echo("Total reclaimed space: 0B")


for _name, _cmd in (("ls", ps), ("list", ps), ("rm", rm), ("inspect", inspect), ("stop", stop), ("start", start),
                    ("kill", kill), ("restart", restart), ("wait", wait), ("create", create), ("run", run)):
    container_group.add_command(_cmd, name=_name)
