"""`pydock network create|ls|inspect|rm|prune|connect|disconnect`, `pydock port`, and the network
flags of `run`/`create` (-p, -P, --network-alias, --ip, --add-host, --dns), as Docker's.

Thin: each command calls one function of pydock.runtime.network (the API server and compose call
the same ones). Imports of the runtime happen inside the commands, so `run` pays nothing here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from pydock.cli.runspec import network_fields  # click-free, shared with the `run` fast path
from pydock.cli.runspec import pairs as _pairs
from pydock.errors import PydockError, UsageError
from pydock.settings import Settings

NETWORK_OPTIONS: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
    click.option("-p", "--publish", "publish", multiple=True,
                 help="Publish a container's port(s) to the host ([IP:][HOST_PORT:]CONTAINER_PORT[/PROTO])"),
    click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports"),
    click.option("--expose", "expose", multiple=True, help="Expose a port or a range of ports"),
    click.option("--network-alias", "network_aliases", multiple=True, help="Add network-scoped alias for the container"),
    click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)"),
    click.option("--add-host", "add_hosts", multiple=True, help="Add a custom host-to-IP mapping (host:ip)"),
    click.option("--dns", "dns", multiple=True, help="Set custom DNS servers"),
]
__all__ = ["NETWORK_OPTIONS", "network_fields"]


def _settings(root: bool = False) -> Settings:
    if root:
        from pydock.runtime.lifecycle import require_root

        require_root()
    return Settings.from_env()


def _each(refs: tuple[str, ...], fn: Callable[[str], Any]) -> None:
    failed = False
    for ref in refs:
        try:
            fn(ref)
        except PydockError as exc:
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@click.group(name="network")
def network_group() -> None:
    """Manage networks."""


@network_group.command(name="create")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the Network")
@click.option("--subnet", default="", help="Subnet in CIDR format that represents a network segment")
@click.option("--gateway", default="", help="IPv4 Gateway for the master subnet")
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--label", "labels", multiple=True, help="Set metadata on a network")
@click.option("-o", "--opt", "opts", multiple=True, help="Set driver specific options")
@click.argument("name")
def create(name: str, driver: str, subnet: str, gateway: str, internal: bool, labels: tuple[str, ...],
           opts: tuple[str, ...]) -> None:
    """Create a network."""
    from pydock.runtime.network import create_network

    net = create_network(_settings(True), name, driver=driver, subnet=subnet, gateway=gateway, internal=internal,
                         labels=_pairs(labels, "label"), options=_pairs(opts, "--opt"))
    click.echo(net["Id"])


@network_group.command(name="ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("--format", "fmt", default=None, help="Format output: table, json, or a Go template")
def ls(quiet: bool, no_trunc: bool, fmt: str | None) -> None:
    """List networks."""
    from pydock.cli.formatting import print_rows
    from pydock.runtime.network import list_networks

    rows = [{"ID": n["Id"] if no_trunc else n["Id"][:12], "Name": n["Name"], "Driver": n["Driver"],
             "Scope": n["Scope"], "IPv6": "false", "Internal": str(n["Internal"]).lower(), "CreatedAt": n["Created"],
             "Labels": ",".join(f"{k}={v}" for k, v in sorted(n["Labels"].items()))}
            for n in sorted(list_networks(_settings(True)), key=lambda n: n["Name"])]
    cols = (("NETWORK ID", "ID"), ("NAME", "Name"), ("DRIVER", "Driver"), ("SCOPE", "Scope"))
    print_rows(None if fmt == "table" else fmt, rows, cols, click.echo, quiet_key="ID", quiet=quiet)


@network_group.command(name="inspect")
@click.option("-f", "--format", "fmt", default=None, help="Format output using a Go template")
@click.argument("names", nargs=-1, required=True)
def inspect(names: tuple[str, ...], fmt: str | None) -> None:
    """Display detailed information on one or more networks."""
    from pydock.cli.formatting import render
    from pydock.runtime.network import inspect_network

    settings = _settings(True)
    out: list[dict[str, Any]] = []
    _each(names, lambda ref: out.append(inspect_network(settings, ref)))
    if fmt:
        for obj in out:
            click.echo(render(fmt, obj))
    else:
        click.echo(json.dumps(out, indent=4))


@network_group.command(name="rm")
@click.argument("names", nargs=-1, required=True)
def rm(names: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    from pydock.runtime.network import remove_network

    settings = _settings(True)
    def one(ref: str) -> None:
        remove_network(settings, ref)
        click.echo(ref)

    _each(names, one)


@network_group.command(name="prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def prune(force: bool) -> None:
    """Remove all unused networks."""
    from pydock.runtime.network import prune as prune_networks

    gone = prune_networks(_settings(True))
    if gone:
        click.echo("Deleted Networks:")
        for name in gone:
            click.echo(name)


@network_group.command(name="connect")
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container")
@click.option("--ip", default="", help="IPv4 address (e.g., 172.30.100.104)")
@click.argument("network")
@click.argument("container")
def connect(network: str, container: str, aliases: tuple[str, ...], ip: str) -> None:
    """Connect a container to a network."""
    from pydock.runtime.network import connect as connect_container

    connect_container(_settings(True), network, container, aliases=aliases, ip=ip)


@network_group.command(name="disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network")
@click.argument("network")
@click.argument("container")
def disconnect(network: str, container: str, force: bool) -> None:
    """Disconnect a container from a network."""
    from pydock.runtime.network import disconnect as disconnect_container

    disconnect_container(_settings(True), network, container, force=force)


@click.command(name="port")
@click.argument("container")
@click.argument("private", required=False, default="")
def port(container: str, private: str) -> None:
    """List port mappings or a specific mapping for the container."""
    from pydock.runtime.network.endpoint import bindings
    from pydock.runtime.network.ports import port_lines
    from pydock.runtime.store import ContainerStore

    settings = _settings()
    rec = ContainerStore(settings.root).get(container)
    bs = bindings(settings.root, rec.id) if rec.running else []
    if private:
        num, _, proto = private.partition("/")
        bs = [b for b in bs if str(b.container_port) == num and b.proto == (proto or "tcp")]
        if not bs:
            raise UsageError(f"No public port '{num}/{proto or 'tcp'}' published for {container}")
        for b in bs:
            click.echo(f"{b.host_ip or '0.0.0.0'}:{b.host_port}")
        return
    for line in port_lines(bs):
        click.echo(line)
