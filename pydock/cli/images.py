"""Image commands: pull, push, login, logout, save, import, load, images, tag, rmi, and
`image bootstrap|ls|rm|inspect|tag|pull|push|save|prune`. Each builds plain arguments and calls the
runtime's function (runtime/images/), the same one the Engine API calls."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from pydock.errors import PydockError, UsageError
from pydock.settings import Settings


def _runtime() -> Any:
    from pydock.runtime.lifecycle import Runtime

    return Runtime(Settings.from_env())


def inspect_image(image: Any) -> dict[str, Any]:
    cfg = image.config
    return {"Id": image.id, "RepoTags": list(image.tags), "RepoDigests": list(image.digests), "Created": image.created,
            "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", "linux"), "Size": image.size,
            "Config": cfg.get("config", {}), "RootFS": {"Type": "layers", "Layers": image.diff_ids},
            "Comment": (cfg.get("history") or [{}])[-1].get("comment", "")}


@click.command(name="import")
@click.option("-c", "--change", "changes", multiple=True, help="Apply a Dockerfile instruction (CMD, ENTRYPOINT, ENV, WORKDIR, USER, LABEL)")
@click.option("-m", "--message", default="", help="Set commit message for imported image")
@click.argument("source")
@click.argument("reference", required=False)
def import_cmd(source: str, reference: str | None, changes: tuple[str, ...], message: str) -> None:
    """Import a root filesystem tarball (file or - for stdin) as an image."""
    rt = _runtime()
    run_config = _changes(changes)
    comment = message or f"Imported from {source}"
    if source == "-":
        image = rt.images.import_tarball(sys.stdin.buffer, reference, run_config, comment=comment)
    else:
        image = rt.images.import_tarball(Path(source), reference, run_config, comment=comment)
    click.echo(image.id)


def _changes(changes: tuple[str, ...]) -> dict[str, Any]:
    """`docker import --change`: the instructions that set the image's run config."""
    import json
    import shlex

    from pydock.errors import UsageError

    cfg: dict[str, Any] = {}
    for ch in changes:
        word, _, rest = ch.strip().partition(" ")
        word, rest = word.upper(), rest.strip()
        if word in ("CMD", "ENTRYPOINT"):
            try:
                value = json.loads(rest) if rest.startswith("[") else ["/bin/sh", "-c", rest]
            except ValueError as exc:
                raise UsageError(f"invalid --change {ch!r}: {exc}") from exc
            cfg["Cmd" if word == "CMD" else "Entrypoint"] = value
        elif word == "ENV":
            k, eq, v = rest.partition("=")
            if not eq:
                k, _, v = rest.partition(" ")
            cfg.setdefault("Env", []).append(f"{k}={v.strip()}")
        elif word == "WORKDIR":
            cfg["WorkingDir"] = rest
        elif word == "USER":
            cfg["User"] = rest
        elif word == "LABEL":
            for item in shlex.split(rest):
                k, _, v = item.partition("=")
                cfg.setdefault("Labels", {})[k] = v
        else:
            raise UsageError(f"invalid --change {ch!r}: {word} is not supported by import")
    return cfg


@click.command()
@click.option("-i", "--input", "input_", default="", type=click.Path(dir_okay=False),
              help="Read from tar archive file (docker save or OCI layout), instead of STDIN")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output")
def load(input_: str, quiet: bool) -> None:
    """Load an image from a docker-save or OCI archive (a file, or STDIN)."""
    import shutil
    import tempfile

    rt = _runtime()
    if input_:
        loaded = rt.images.load(Path(input_))
    else:
        if sys.stdin.isatty():
            raise UsageError("requested load from stdin, but stdin is empty (give -i FILE)")
        with tempfile.NamedTemporaryFile(prefix="load-", suffix=".tar") as tmp:
            shutil.copyfileobj(sys.stdin.buffer, tmp, 1 << 20)
            tmp.flush()
            loaded = rt.images.load(Path(tmp.name))
    for image in loaded:
        if quiet:
            continue
        if image.tags:
            for t in image.tags:
                click.echo(f"Loaded image: {t}")
        else:
            click.echo(f"Loaded image ID: {image.id}")


_IMAGE_COLUMNS = (("REPOSITORY", "Repository"), ("TAG", "Tag"), ("IMAGE ID", "ID"), ("CREATED", "CreatedSince"),
                  ("SIZE", "Size"))


@click.command()
@click.option("-a", "--all", "all_", is_flag=True, help="Show all images")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs")
@click.option("--format", "fmt", default=None, help="Format output: table, json, or a Go template")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("--digests", is_flag=True, help="Show digests")
@click.argument("repository", required=False)
def images(all_: bool, quiet: bool, fmt: str | None, no_trunc: bool, repository: str | None,
           digests: bool = False) -> None:
    """List images."""
    from pydock.cli.formatting import ago, human_size, print_rows
    from pydock.units import parse_iso

    rows = []
    listed = _runtime().images.list()
    # Docker hides intermediate images (untagged, the `parent` of another: a build's steps) unless -a.
    parents = {im.config.get("parent") for im in listed}
    for im in listed:
        if not all_ and not im.tags and im.id in parents:
            continue
        for tag in im.tags or ("<none>:<none>",):
            repo, _, t = tag.rpartition(":")
            if repository and repo != repository:
                continue
            try:
                since = ago(parse_iso(im.created))
            except PydockError:
                since = "N/A"
            digest = next((d.rsplit("@", 1)[1] for d in im.digests if d.rsplit("@", 1)[0] == repo), "<none>")
            rows.append({"Repository": repo, "Tag": t, "Digest": digest, "ID": im.id if no_trunc else im.short_id,
                         "CreatedAt": im.created, "CreatedSince": since, "Size": human_size(im.size)})
    if quiet:
        seen = []
        for r in rows:
            if r["ID"] not in seen:
                seen.append(r["ID"])
                click.echo(r["ID"])
        return
    columns = _IMAGE_COLUMNS[:2] + (("DIGEST", "Digest"),) + _IMAGE_COLUMNS[2:] if digests else _IMAGE_COLUMNS
    print_rows(None if fmt == "table" else fmt, rows, columns, click.echo)


@click.command()
@click.argument("source")
@click.argument("target")
def tag(source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    _runtime().images.tag(source, target)


@click.command()
@click.option("-f", "--force", is_flag=True, help="Force removal of the image")
@click.argument("refs", nargs=-1, required=True)
def rmi(refs: tuple[str, ...], force: bool) -> None:
    """Remove one or more images."""
    rt = _runtime()
    failed = False
    for ref in refs:
        try:
            for line in rt.images.remove(ref, force, rt.containers_using_image):
                click.echo(line)
        except PydockError as exc:
            click.echo(f"Error response from daemon: {exc}", err=True)
            failed = True
    if failed:
        sys.exit(1)


@click.group(name="image")
def image_group() -> None:
    """Manage images."""


@image_group.command(name="bootstrap")
@click.option("--busybox", "busybox", default="/bin/busybox", help="The static busybox binary to use")
@click.option("-t", "--tag", "ref", default="busybox:latest", help="Name the image")
@click.argument("what", type=click.Choice(["busybox"]))
def bootstrap(what: str, busybox: str, ref: str) -> None:
    """Build an image from the host: `busybox` makes busybox:latest from the host's static busybox."""
    image = _runtime().images.bootstrap_busybox(Path(busybox), ref)
    click.echo(f"{ref}: {image.id}")


@image_group.command(name="inspect")
@click.argument("refs", nargs=-1, required=True)
def image_inspect(refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    import json

    rt = _runtime()
    click.echo(json.dumps([inspect_image(rt.images.get(r)) for r in refs], indent=4))


from pydock.cli.registry_cmds import login, logout, prune, pull, push, save

image_group.add_command(prune, name="prune")
for _name, _cmd in (("ls", images), ("list", images), ("rm", rmi), ("tag", tag), ("load", load),
                    ("import", import_cmd), ("pull", pull), ("push", push), ("save", save)):
    image_group.add_command(_cmd, name=_name)
__all__ = ["login", "logout", "pull", "push", "save"]
