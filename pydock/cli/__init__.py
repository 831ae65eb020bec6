"""The `pydock` command line: a thin layer that parses Docker's flags and calls the library.

Commands live in modules by area and are imported only when run, so `pydock --help` and quick
commands never pay for FastAPI, Elasticsearch or rich. Library code raises `PydockError`; `main`
turns it into one line on stderr and Docker's exit code (125 for pydock's own failures).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from pydock.errors import PydockError

# name -> (module:attribute, one-line help). Help text lives here so `--help` imports nothing.
COMMANDS: dict[str, tuple[str, str]] = {
    # containers (runtime core)
    "run": ("pydock.cli.containers:run", "Create and run a new container from an image"),
    "create": ("pydock.cli.containers:create", "Create a new container"),
    "start": ("pydock.cli.containers:start", "Start one or more stopped containers"),
    "stop": ("pydock.cli.containers:stop", "Stop one or more running containers"),
    "kill": ("pydock.cli.containers:kill", "Kill one or more running containers"),
    "restart": ("pydock.cli.containers:restart", "Restart one or more containers"),
    "rm": ("pydock.cli.containers:rm", "Remove one or more containers"),
    "ps": ("pydock.cli.containers:ps", "List containers"),
    "inspect": ("pydock.cli.containers:inspect", "Return low-level information on containers"),
    "wait": ("pydock.cli.containers:wait", "Block until containers stop, then print their exit codes"),
    "container": ("pydock.cli.containers:container_group", "Manage containers (prune)"),
    # images and volumes
    "import": ("pydock.cli.images:import_cmd", "Import a root filesystem tarball as an image"),
    "load": ("pydock.cli.images:load", "Load an image from a docker-save or OCI archive"),
    "images": ("pydock.cli.images:images", "List images"),
    "tag": ("pydock.cli.images:tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("pydock.cli.images:rmi", "Remove one or more images"),
    "image": ("pydock.cli.images:image_group", "Manage images (bootstrap, ls, rm, pull, push, save, prune)"),
    "pull": ("pydock.cli.registry_cmds:pull", "Download an image from a registry"),
    "push": ("pydock.cli.registry_cmds:push", "Upload an image to a registry"),
    "login": ("pydock.cli.registry_cmds:login", "Log in to a registry"),
    "logout": ("pydock.cli.registry_cmds:logout", "Log out from a registry"),
    "save": ("pydock.cli.registry_cmds:save", "Save one or more images to a tar archive"),
    "volume": ("pydock.cli.volumes:volume_group", "Manage volumes"),
    # networks
    "network": ("pydock.cli.network:network_group", "Manage networks"),
    "port": ("pydock.cli.network:port", "List port mappings or a specific mapping for the container"),
    # logs
    "logs": ("pydock.cli.logs:logs", "Fetch the logs of a container"),
    # runtime depth
    "exec": ("pydock.cli.exec:exec_cmd", "Execute a command in a running container"),
    "attach": ("pydock.cli.exec:attach", "Attach to a running container's terminal"),
    "update": ("pydock.cli.resources:update", "Update the resource limits of containers"),
    "top": ("pydock.cli.resources:top", "Display the running processes of a container"),
    "pause": ("pydock.cli.resources:pause", "Pause all processes within containers"),
    "unpause": ("pydock.cli.resources:unpause", "Unpause all processes within containers"),
    "events": ("pydock.cli.system:events", "Get real time events"),
    "info": ("pydock.cli.system:info", "Display system-wide information"),
    "system": ("pydock.cli.system:system_group", "Manage pydock (boot)"),
    # metrics
    "stats": ("pydock.cli.stats:stats", "Display a live stream of container resource usage"),
    "agent": ("pydock.cli.agent:agent", "Run the per-host agent (/metrics, stats API, log shipping)"),
    # collector
    "collector": ("pydock.cli.collector:collector", "Run the collector (TSDB, PromQL, alerts, web UI)"),
    "alerts": ("pydock.cli.alerts:alerts_group", "List alerts and manage silences on a collector"),
    # compose (issue 13)
    "compose": ("pydock.cli.compose:compose_group", "Define and run multi-container applications"),
}


class LazyGroup(click.Group):
    """A click group that imports a command's module only when that command runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target[0].split(":")
        module = importlib.import_module(module_name)
        command: click.Command = getattr(module, attr)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help lists the table itself, so `pydock --help` imports no command module.
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pydock", prog_name="pydock")
def cli() -> None:
    """pydock: containers with Docker's CLI, log drivers, a cAdvisor-style agent and a collector."""


def main(argv: list[str] | None = None) -> Any:
    try:
        return cli.main(args=argv, prog_name="pydock", standalone_mode=False)
    except PydockError as exc:
        click.echo(f"pydock: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(125)  # a bad flag is pydock's failure, as in Docker
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
