"""`pydock logs`: Docker's flags over the container's log reader.

The container's stdout lines go to stdout and its stderr lines to stderr, as `docker logs` shows a
non-TTY container. `-t` prefixes RFC 3339 time with nine digits, `--details` the attributes
(`k=v,k2=v2 `, sorted, URL-query escaped). Unlike Docker, the parts of a line over 16 KiB are joined
before printing, so `-t` never puts a timestamp in the middle of a line (docker/for-linux#1321).
`-f` ends when the container is no longer running, its driver has closed (logstats.json) and its
last line is shown; on a stopped container it is ignored, as in Docker.
"""

from __future__ import annotations

import click

# The helpers live in pydock.logprint (no click), re-exported for the API server and tests.
from pydock.logprint import (  # noqa: F401
    ALIVE,
    _status_probe,
    details_prefix,
    parse_tail,
    parse_time_ns,
    show_logs,
    write_logs,
)


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", show_default=True, help="Number of lines to show from the end")
@click.option("--since", default=None, help="Show logs since a time (RFC 3339, unix seconds) or a relative time (10m)")
@click.option("--until", default=None, help="Show logs before a time (RFC 3339, unix seconds) or a relative time")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.argument("container")
def logs(follow: bool, tail: str, since: str | None, until: str | None, timestamps: bool, details: bool,
         container: str) -> None:
    """Fetch the logs of a container."""
    show_logs(container, follow, tail, since, until, timestamps, details)
