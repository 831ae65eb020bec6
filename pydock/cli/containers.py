"""Container commands with Docker's flags: run, create, start, stop, kill, restart, rm, ps, inspect,
wait, container prune.

`run` and `create` share one set of options (`container_options`) and one builder (`build_spec`,
runspec.py) that turns them into a `ContainerSpec`; new flags (limits, restart, health, tty) are added
there. What they do with it is in runcontainer.py, shared with the click-free fast path (fastrun.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from pydock.cli.runcontainer import create_container, run_container
from pydock.cli.runcontainer import run_attached as _run_attached  # also compose's attached run
from pydock.cli.runcontainer import runtime as _runtime
from pydock.cli.runflags import DEPTH_OPTIONS
from pydock.errors import NotFoundError, UsageError

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


# -h is --hostname for run/create, as in Docker; options end at the image name.
_SETTINGS = {"allow_interspersed_args": False, "help_option_names": ["--help"]}


@click.command(context_settings=_SETTINGS)
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID")
@container_options
def run(image: str, command: tuple[str, ...], detach: bool, **o: Any) -> None:
    """Create and run a new container from an image."""
    run_container(image, command, detach, o)  # shared with the click-free fast path (fastrun.py)


@click.command(context_settings=_SETTINGS)
@container_options
def create(image: str, command: tuple[str, ...], **o: Any) -> None:
    """Create a new container."""
    create_container(image, command, o)  # shared with the click-free fast path (fastrun.py)


def _each(refs: tuple[str, ...], action: Callable[[str], Any], echo_ref: bool = True) -> None:
    """Docker's multi-container commands: act on each, report failures, exit 1 if any failed."""
    from pydock.cli.fastcontainers import each_container  # shared with the click-free `stop`

    each_container(refs, action, echo_ref, click.echo, lambda text: click.echo(text, err=True))


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

# Docker's views of a record live in the runtime (runtime/views.py), shared with the API server; the
# bodies of ps and inspect's output are shared with their click-free fast paths (fastcontainers.py).
from pydock.cli.fastcontainers import list_containers, print_inspected
from pydock.runtime.views import inspect_record


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running)")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-f", "--filter", "filters", multiple=True, help="Filter output based on conditions provided")
@click.option("--format", "fmt", default=None, help="Format output: table, json, or a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
def ps(all_: bool, quiet: bool, filters: tuple[str, ...], fmt: str | None, no_trunc: bool) -> None:
    """List containers."""
    rt = _runtime()
    list_containers(rt.store, lambda: rt.images, all_, quiet, filters, fmt, no_trunc, click.echo)


# -- inspect -------------------------------------------------------------------------------------

@click.command()
@click.option("-f", "--format", "fmt", default=None, help="Format output using a Go template")
@click.option("--type", "kind", type=click.Choice(["container", "image", "volume"]), default=None)
@click.argument("names", nargs=-1, required=True)
def inspect(names: tuple[str, ...], fmt: str | None, kind: str | None) -> None:
    """Return low-level information on containers, images or volumes."""
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
    print_inspected(out, fmt, click.echo)
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
