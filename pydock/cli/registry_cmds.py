"""Registry commands: pull, push, login, logout, save, and `image prune`.

Thin: each parses Docker's flags into plain arguments and calls the runtime's function in
runtime/images/ (the Engine API calls the same ones). Progress is drawn by cli/pullprogress.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pydock.errors import UsageError
from pydock.settings import Settings

_CONFIG = click.option("--config", "config_dir", default=None, envvar="PYDOCK_CONFIG_DIR",
                       help="Location of the client config files (default ~/.pydock)")


def _store() -> Any:
    from pydock.runtime.images import ImageStore

    return ImageStore(Settings.from_env().images)


def _insecure() -> tuple[str, ...]:
    from pydock.runtime.images.registry import insecure_registries

    return insecure_registries(Settings.from_env().config_file)


def pull_image(ref: str, platform: str | None = None, quiet: bool = False, config_dir: str | None = None,
               stderr: bool = False) -> Any:
    """Pulls with Docker's output (also used by `run --pull`); returns the image."""
    from pydock.cli.pullprogress import Progress
    from pydock.runtime.images.pull import pull as do_pull
    from pydock.runtime.images.reference import parse

    r = parse(ref)
    if not r.tag and not r.digest and not quiet:
        click.echo("Using default tag: latest", err=stderr)
    progress = Progress(quiet=quiet, stderr=stderr)
    try:
        image = do_pull(_store(), ref, platform=platform, progress=progress,
                        insecure_registries=_insecure(), config_dir=config_dir)
    finally:
        progress.close()
    return image


@click.command()
@click.option("--platform", default=None, help="Set platform if server is multi-platform capable (os/arch[/variant])")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("-a", "--all-tags", is_flag=True, hidden=True)
@_CONFIG
@click.argument("name")
def pull(name: str, platform: str | None, quiet: bool, all_tags: bool, config_dir: str | None) -> None:
    """Download an image from a registry."""
    from pydock.runtime.images.reference import parse

    if all_tags:
        raise UsageError("--all-tags is not supported")
    pull_image(name, platform, quiet, config_dir)
    r = parse(name, default_tag=True)
    click.echo(f"{r.name}:{r.tag}" if r.tag and not r.digest else f"{r.name}@{r.digest}")


@click.command()
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output")
@click.option("-a", "--all-tags", is_flag=True, hidden=True)
@_CONFIG
@click.argument("name")
def push(name: str, quiet: bool, all_tags: bool, config_dir: str | None) -> None:
    """Upload an image to a registry."""
    from pydock.cli.pullprogress import Progress
    from pydock.runtime.images.push import push as do_push

    if all_tags:
        raise UsageError("--all-tags is not supported")
    progress = Progress(quiet=quiet)
    try:
        digest = do_push(_store(), name, progress=progress, insecure_registries=_insecure(), config_dir=config_dir)
    finally:
        progress.close()
    if quiet:
        click.echo(digest)


@click.command()
@click.option("-u", "--username", default="", help="Username")
@click.option("-p", "--password", default="", help="Password (prefer --password-stdin)")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin")
@_CONFIG
@click.argument("server", required=False)
def login(server: str | None, username: str, password: str, password_stdin: bool, config_dir: str | None) -> None:
    """Log in to a registry (Docker Hub when no server is given)."""
    from pydock.runtime.images.login import login as do_login

    if password_stdin:
        if password:
            raise UsageError("--password and --password-stdin are mutually exclusive")
        if not username:
            raise UsageError("Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
    if not username and sys.stdin.isatty():
        username = click.prompt("Username")
    if not password and sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True)
    path = do_login(server, username, password, insecure_registries=_insecure(), config_dir=config_dir)
    click.echo(f"WARNING! Your password will be stored unencrypted in {path}.", err=True)
    click.echo("Login Succeeded")


@click.command()
@_CONFIG
@click.argument("server", required=False)
def logout(server: str | None, config_dir: str | None) -> None:
    """Log out from a registry."""
    from pydock.runtime.images.login import logout as do_logout

    key = do_logout(server, config_dir=config_dir)
    click.echo(f"Removing login credentials for {key}")


@click.command()
@click.option("-o", "--output", default="", help="Write to a file, instead of STDOUT")
@click.argument("images", nargs=-1, required=True)
def save(images: tuple[str, ...], output: str) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from pydock.runtime.images.save import save as do_save

    if output:
        do_save(_store(), list(images), Path(output))
        return
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    do_save(_store(), list(images), sys.stdout.buffer)


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
def prune(all_: bool, force: bool) -> None:
    """Remove unused images (untagged ones; with -a, every image no container uses)."""
    from pydock.cli.formatting import human_size
    from pydock.runtime.lifecycle import Runtime

    if not force and sys.stdin.isatty():
        what = "all images without at least one container associated to them" if all_ else "all dangling images"
        if not click.confirm(f"WARNING! This will remove {what}.\nAre you sure you want to continue?"):
            return
    rt = Runtime(Settings.from_env())
    lines, freed = rt.images.prune(all_, rt.containers_using_image)
    if lines:
        click.echo("Deleted Images:")
        for line in lines:
            word, _, rest = line.partition(": ")
            click.echo(f"{word.lower()}: {rest}")  # Docker's prune report: "deleted: sha256:..."
        click.echo()
    click.echo(f"Total reclaimed space: {human_size(freed)}")
