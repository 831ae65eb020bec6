"""`pydock volume create|ls|inspect|rm|prune`, as Docker's."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from pydock.errors import PydockError, UsageError
from pydock.settings import Settings


def _runtime() -> Any:
    from pydock.runtime.lifecycle import Runtime

    return Runtime(Settings.from_env())


@click.group(name="volume")
def volume_group() -> None:
    """Manage volumes."""


@volume_group.command(name="create")
@click.option("--label", "labels", multiple=True, help="Set metadata for a volume")
@click.option("-d", "--driver", default="local", help="Specify volume driver name")
@click.argument("name", required=False, default="")
def create(name: str, labels: tuple[str, ...], driver: str) -> None:
    """Create a volume."""
    if driver != "local":
        raise UsageError(f"volume driver {driver!r} is not supported: pydock has the local driver only")
    lab = dict(item.partition("=")[::2] for item in labels)
    click.echo(_runtime().volumes.create(name, lab).name)


@volume_group.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@click.option("--format", "fmt", default=None, help="Format output: table, json, or a Go template")
def ls(quiet: bool, fmt: str | None) -> None:
    """List volumes."""
    from pydock.cli.formatting import print_rows

    rows = [{"Driver": "local", "Name": v.name, "Mountpoint": str(v.mountpoint), "Scope": "local",
             "Labels": ",".join(f"{k}={x}" for k, x in v.labels.items())} for v in _runtime().volumes.list()]
    print_rows(None if fmt == "table" else fmt, rows, (("DRIVER", "Driver"), ("VOLUME NAME", "Name")),
               click.echo, quiet_key="Name", quiet=quiet)


@volume_group.command(name="inspect")
@click.argument("names", nargs=-1, required=True)
def inspect(names: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    rt = _runtime()
    click.echo(json.dumps([rt.volumes.get(n).inspect() for n in names], indent=4))


@volume_group.command(name="rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("names", nargs=-1, required=True)
def rm(names: tuple[str, ...], force: bool) -> None:
    """Remove one or more volumes (refused while a container uses one)."""
    rt = _runtime()
    failed = False
    for n in names:
        try:
            rt.volumes.remove(n, rt.containers_using_volume, force)
            click.echo(n)
        except PydockError as exc:
            if force and "no such volume" in str(exc):
                continue
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@volume_group.command(name="prune")
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused volumes, not just anonymous ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def prune(all_: bool, force: bool) -> None:
    """Remove unused local volumes."""
    if not force and not click.confirm("WARNING! This will remove anonymous local volumes not used by at least "
                                       "one container.\nAre you sure you want to continue?", default=False):
        return
    rt = _runtime()
    gone = rt.volumes.prune(rt.containers_using_volume, all_)
    click.echo("Deleted Volumes:")
    for n in gone:
        click.echo(n)
    click.echo("")
    click.echo("Total reclaimed space: 0B")


volume_group.add_command(ls, name="list")
