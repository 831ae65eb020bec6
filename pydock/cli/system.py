"""`pydock events`, `pydock info` and `pydock system boot`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from pydock.settings import Settings


@click.command("events", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--since", help="Show events created since this time (RFC 3339, unix seconds, or a duration)")
@click.option("--until", help="Stream events until this time")
@click.option("-f", "--filter", "filters", multiple=True,
              help="Filter: container=, event=, image=, label=, type= (repeatable)")
@click.option("--format", "fmt", help="'{{json .}}' (or 'json') prints one JSON object per event")
def events(since: str | None, until: str | None, filters: tuple[str, ...], fmt: str | None) -> None:
    """Stream lifecycle events (past ones from --since, then new ones; stops at --until)."""
    from pydock.runtime.events import EventJournal, parse_filters
    from pydock.units import timestamp

    now = time.time()
    since_ts = timestamp(since, "--since", now=now) if since else None
    until_ts = timestamp(until, "--until", now=now) if until else None
    flt = parse_filters(filters)
    as_json = fmt is not None and fmt.replace(" ", "") in ("{{json.}}", "json")
    journal = EventJournal(Settings.from_env().root)

    def show(ev: Any) -> None:
        click.echo(json.dumps(ev.to_json()) if as_json else ev.line())

    # Docker: with --until in the past, print what was kept and return; otherwise follow.
    if until_ts is not None and until_ts <= now:
        for ev in journal.read(since_ts, until_ts, flt):
            show(ev)
        return
    try:
        for ev in journal.follow(since=since_ts, until=until_ts, filters=flt):
            show(ev)
    except KeyboardInterrupt:
        pass


from pydock.runtime.info import collect_info


@click.command("info", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", help="'{{json .}}' (or 'json') prints the JSON object")
def info(fmt: str | None) -> None:
    """Display system-wide information."""
    data = collect_info(Settings.from_env())
    if fmt is not None and fmt.replace(" ", "") in ("{{json.}}", "json"):
        click.echo(json.dumps(data, indent=None))
        return
    opts = ", ".join(f"{k}={v}" for k, v in sorted(data["LogOpts"].items()))
    lines = [
        f"Containers: {data['Containers']}",
        f" Running: {data['ContainersRunning']}",
        f" Paused: {data['ContainersPaused']}",
        f" Stopped: {data['ContainersStopped']}",
        f"Images: {data['Images']}",
        f"Server Version: {data['ServerVersion']}",
        f"Storage Driver: {data['Driver']}",
        f"Logging Driver: {data['LoggingDriver']}",
    ]
    if opts:
        lines.append(f" Log Opts: {opts}")
    for name, u in sorted(data["DefaultUlimits"].items()):
        lines.append(f" Default Ulimit: {name}={u['Soft']}:{u['Hard']}")
    lines += [
        f"Cgroup Driver: {data['CgroupDriver']}",
        f"Cgroup Version: {data['CgroupVersion']}",
        f"Cgroup Layout: {data['CgroupDetail']}",
        f"Cgroup Parent: {data['CgroupParent']}",
        f"Kernel Version: {data['KernelVersion']}",
        f"Operating System: {data['OperatingSystem']}",
        f"Architecture: {data['Architecture']}",
        f"CPUs: {data['NCPU']}",
        f"Total Memory: {data['MemTotal'] / 1024**3:.2f}GiB",
        f"Name: {data['Name']}",
        f"Pydock Root Dir: {data['DockerRootDir']}",
        f"Runtime Dir: {data['RuntimeDir']}",
        f"Config File: {data['ConfigFile']}" + ("" if data["ConfigFileLoaded"] else " (absent: defaults)"),
        f"Debug Mode: {str(data['Debug']).lower()}",
        "Security Options: " + " ".join(data.get("SecurityOptions") or []),  # security room
    ]
    if data["Labels"]:
        lines.append("Labels:")
        lines += [f" {label}" for label in data["Labels"]]
    click.echo("\n".join(lines))


@click.group("system", context_settings={"help_option_names": ["-h", "--help"]})
def system_group() -> None:
    """Manage pydock."""


@system_group.command("info")
@click.option("--format", "fmt")
@click.pass_context
def system_info(ctx: click.Context, fmt: str | None) -> None:
    """Display system-wide information (same as `pydock info`)."""
    ctx.invoke(info, fmt=fmt)


@system_group.command("events")
@click.option("--since")
@click.option("--until")
@click.option("-f", "--filter", "filters", multiple=True)
@click.option("--format", "fmt")
@click.pass_context
def system_events(ctx: click.Context, **kwargs: Any) -> None:
    """Stream lifecycle events (same as `pydock events`)."""
    ctx.invoke(events, **kwargs)


@system_group.command("boot")
def system_boot() -> None:
    """Start the containers whose restart policy brings them back after a reboot (always, and
    unless-stopped unless stopped by hand). Run it from the host's init system at boot."""
    from pydock.runtime.lifecycle import Runtime
    from pydock.runtime.restart import boot

    settings = Settings.from_env()
    rt = Runtime(settings)
    failed = False
    for cid, outcome in boot(settings.root, lambda ref: rt.start(ref).close()):
        click.echo(f"{cid[:12]} {outcome}")
        failed = failed or outcome.startswith("failed")
    if failed:
        sys.exit(1)


@system_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def system_prune(force: bool) -> None:
    """Remove stopped containers, unused networks, and what shims killed with -9 left behind
    (network namespaces, veths, nftables rules)."""
    from pydock.runtime.lifecycle import Runtime
    from pydock.runtime.network import prune as prune_networks

    settings = Settings.from_env()
    containers = Runtime(settings).prune()
    networks = prune_networks(settings)  # network room: also clears leftovers of killed shims
    for title, items in (("Deleted Containers:", containers), ("Deleted Networks:", networks)):
        if items:
            click.echo(title)
            for item in items:
                click.echo(item)
            click.echo("")
    click.echo("Total reclaimed space: 0B")


@system_group.command("service")
@click.option("-H", "--host", default="unix:///run/pydock/docker.sock", show_default=True,
              help="Where to listen (unix:///path)")
@click.option("-G", "--group", default=None, help="Group that may use the socket (mode 0660)")
def system_service(host: str, group: str | None) -> None:
    """Serve the Docker Engine API on a unix socket (DOCKER_HOST=unix://... docker ps)."""
    from pydock.api.app import serve

    serve(Settings.from_env(), host, group)
