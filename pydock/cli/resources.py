"""`pydock update`, `pydock top`, `pydock pause`, `pydock unpause`."""

from __future__ import annotations

import sys

import click

from pydock.errors import PydockError
from pydock.settings import Settings

CTX = {"help_option_names": ["-h", "--help"]}


@click.command("update", context_settings=CTX)
@click.option("-m", "--memory", help="Memory limit (e.g. 512m, 1g)")
@click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 to enable unlimited swap")
@click.option("--memory-reservation", help="Memory soft limit")
@click.option("--cpus", help="Number of CPUs (e.g. 0.5)")
@click.option("-c", "--cpu-shares", help="CPU shares (relative weight)")
@click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)")
@click.option("--pids-limit", help="Tune container pids limit (set -1 for unlimited)")
@click.option("--blkio-weight", help="Block IO (relative weight), between 10 and 1000")
@click.option("--restart", "restart", help="Restart policy to apply when a container exits")
@click.argument("containers", nargs=-1, required=True)
def update(memory: str | None, memory_swap: str | None, memory_reservation: str | None, cpus: str | None,
           cpu_shares: str | None, cpuset_cpus: str | None, pids_limit: str | None, blkio_weight: str | None,
           restart: str | None, containers: tuple[str, ...]) -> None:
    """Update the resource limits (and restart policy) of one or more containers, live."""
    from pydock.errors import UsageError
    from pydock.runtime import cgroups
    from pydock.runtime.resources import update as do_update
    from pydock.runtime.restart import RestartPolicy

    change = cgroups.limits_from_flags(memory=memory, memory_swap=memory_swap,
                                       memory_reservation=memory_reservation, cpus=cpus, cpu_shares=cpu_shares,
                                       cpuset_cpus=cpuset_cpus, pids_limit=pids_limit, blkio_weight=blkio_weight)
    policy = RestartPolicy.parse(restart) if restart is not None else None
    if change.is_empty() and policy is None:
        raise UsageError("you must provide one or more flags when using this command")
    _each(containers, lambda s, ref: do_update(s, ref, change, policy))


def _each(refs: tuple[str, ...], action: object) -> None:
    """Docker's multi-container commands: act on each, print the ref, report failures, exit 1 if any."""
    settings = Settings.from_env()
    failed = False
    for ref in refs:
        try:
            action(settings, ref)  # type: ignore[operator]
            click.echo(ref)
        except PydockError as exc:
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)  # SystemExit: click would turn its own Exit into a return value


@click.command("pause", context_settings=CTX)
@click.argument("containers", nargs=-1, required=True)
def pause(containers: tuple[str, ...]) -> None:
    """Pause all processes within one or more containers."""
    from pydock.runtime.resources import pause as do_pause

    _each(containers, do_pause)


@click.command("unpause", context_settings=CTX)
@click.argument("containers", nargs=-1, required=True)
def unpause(containers: tuple[str, ...]) -> None:
    """Unpause all processes within one or more containers."""
    from pydock.runtime.resources import unpause as do_unpause

    _each(containers, do_unpause)


@click.command("top", context_settings=CTX)
@click.argument("container")
def top(container: str) -> None:
    """Display the running processes of a container (from its cgroup)."""
    from pydock.runtime.resources import TOP_TITLES
    from pydock.runtime.resources import top as do_top

    rows = do_top(Settings.from_env(), container)
    table = [TOP_TITLES] + [(r.uid, str(r.pid), str(r.ppid), str(r.c), r.stime, r.tty, r.time, r.cmd) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(TOP_TITLES) - 1)]
    for row in table:
        click.echo("   ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "   " + row[-1])
