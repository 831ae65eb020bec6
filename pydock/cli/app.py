"""The click application behind `pydock`: a group that imports a command's module only when it runs.

pydock.cli holds the COMMANDS table and `main`; `main` answers `pydock --help` from the table
(pydock.helpfmt) and imports this module, and with it click, for everything else.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from pydock.cli import COMMANDS, DESCRIPTION
from pydock.errors import PydockError


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


@click.group(cls=LazyGroup, help=DESCRIPTION, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pydock", prog_name="pydock")
def cli() -> None:
    pass


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
