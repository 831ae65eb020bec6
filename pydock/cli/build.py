"""`pydock build`: Docker's flags parsed into `BuildOptions`, handed to `pydock.runtime.build.build`
(the same function the Engine API's POST /build calls)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pydock.errors import UsageError
from pydock.settings import Settings


class _StdoutOutput:
    """The classic builder's progress on stdout; a RUN's output passes through as it comes."""

    def line(self, text: str) -> None:
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def raw(self, data: bytes) -> None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def _pairs(values: tuple[str, ...], flag: str, from_env: bool = False) -> dict[str, str]:
    import os

    out = {}
    for v in values:
        k, eq, val = v.partition("=")
        if not k:
            raise UsageError(f"invalid {flag} {v!r}: expected KEY=VALUE")
        if not eq and from_env:  # Docker: `--build-arg NAME` takes the caller's environment
            if k not in os.environ:
                continue
            val = os.environ[k]
        out[k] = val
    return out


@click.command(context_settings={"help_option_names": ["--help"]})
@click.option("-t", "--tag", "tags", multiple=True, help="Name and optionally a tag in the 'name:tag' format")
@click.option("-f", "--file", "file", default=None, help="Name of the Dockerfile (default: 'PATH/Dockerfile')")
@click.option("--build-arg", "build_args", multiple=True, help="Set build-time variables")
@click.option("--target", default="", help="Set the target build stage to build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image")
@click.option("--label", "labels", multiple=True, help="Set metadata for an image")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success")
@click.argument("context")
def build(tags: tuple[str, ...], file: str | None, build_args: tuple[str, ...], target: str, no_cache: bool,
          labels: tuple[str, ...], quiet: bool, pull: bool, context: str) -> None:
    """Build an image from a Dockerfile."""
    from pydock.runtime.build import BuildOptions, NullOutput
    from pydock.runtime.build import build as run_build

    if context == "-":
        raise UsageError("pydock build does not read a context from stdin: give a directory")
    opts = BuildOptions(context=Path(context), dockerfile=Path(file) if file else None, tags=tags,
                        build_args=_pairs(build_args, "--build-arg", from_env=True), target=target,
                        no_cache=no_cache, labels=_pairs(labels, "--label"), pull=pull)
    result = run_build(Settings.from_env(), opts, NullOutput() if quiet else _StdoutOutput())
    if quiet:
        click.echo(result.image_id)
