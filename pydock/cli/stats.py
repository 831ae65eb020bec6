"""`pydock stats`: Docker's live table of container resource usage, read straight from the cgroups.

It needs no agent: it uses the agent's readers in-process. Streaming mode redraws the table in place
every second with rich; `--no-stream` prints one table computed from two reads a second apart, as
`docker stats --no-stream` does (CPU % needs two samples).
"""

from __future__ import annotations

import json
import re
import sys
import time

import click

from pydock.errors import NotFoundError
from pydock.settings import Settings

COLUMNS = (("CONTAINER ID", "ID"), ("NAME", "Name"), ("CPU %", "CPUPerc"), ("MEM USAGE / LIMIT", "MemUsage"),
           ("MEM %", "MemPerc"), ("NET I/O", "NetIO"), ("BLOCK I/O", "BlockIO"), ("PIDS", "PIDs"))
HEADERS = {"Container": "CONTAINER", **{field: title for title, field in COLUMNS}}
TAB_MINWIDTH, TAB_PADDING = 10, 3  # docker/cli formatter: tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)
_FIELD = re.compile(r"\{\{\s*(json\s+)?\.(\w*)\s*\}\}")


def render_rows(rows: list[dict[str, str]], fmt: str | None) -> str:
    """Docker's `--format`: "table" (default), "json", or a Go template using {{.Field}} (tabs as \\t)."""
    if fmt == "json":
        return "".join(json.dumps(r) + "\n" for r in rows)
    if fmt is None or fmt == "table":
        fmt = "table " + "\t".join("{{." + f + "}}" for _, f in COLUMNS)
    table = fmt.startswith("table")
    template = fmt[5:].lstrip() if table else fmt
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def fill(r: dict[str, str], header: bool) -> str:
        def sub(m: re.Match[str]) -> str:
            if m.group(1):  # {{json .}} or {{json .Field}}
                return json.dumps(r if not m.group(2) else r.get(m.group(2), ""))
            key = m.group(2)
            if key not in r:
                raise click.UsageError(f"template: can't evaluate field {key}")
            return HEADERS.get(key, key.upper()) if header else r[key]
        return _FIELD.sub(sub, template)

    lines = ([fill(rows[0] if rows else {k: "" for k in HEADERS}, True)] if table else [])
    lines += [fill(r, False) for r in rows]
    if not table:
        return "".join(ln + "\n" for ln in lines)
    # Docker's tabwriter (minwidth 10, padding 3): a tab-terminated cell is padded to its column's widest
    # cell + 3, at least 10; the text after a line's last tab is not a column cell and is left as it is.
    cells = [ln.split("\t") for ln in lines]
    ncols = max(len(c) for c in cells) - 1
    widths = [max([TAB_MINWIDTH] + [len(c[i]) + TAB_PADDING for c in cells if i < len(c) - 1]) for i in range(ncols)]
    return "".join("".join(c.ljust(widths[i]) for i, c in enumerate(row[:-1])) + row[-1] + "\n" for row in cells)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all containers (default shows just running)")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--format", "fmt", default=None, help='Format output using a Go template, "table" or "json"')
@click.argument("containers", nargs=-1)
def stats(show_all: bool, no_stream: bool, no_trunc: bool, fmt: str | None, containers: tuple[str, ...]) -> None:
    """Display a live stream of container resource usage statistics."""
    from pydock.agent.dockerstats import row
    from pydock.agent.sampler import Sampler, Snapshot

    sampler = Sampler(Settings.from_env().root, cache_seconds=0, foreign=False, root=False)

    def select(snap: Snapshot) -> list:
        if containers:
            out = []
            for ref in containers:
                e = snap.find(ref)
                if e is None:
                    raise NotFoundError(f"No such container: {ref}")
                out.append(e)
            return out
        return [e for e in snap.entries if show_all or e.stats is not None]

    def table(prev: Snapshot | None, snap: Snapshot) -> str:
        rows = []
        for e in select(snap):
            pre = prev.find(e.target.container_id) if prev is not None else None
            r = row(e, snap.system_cpu_ns, snap.machine, pre, prev.system_cpu_ns if prev else 0)
            if no_trunc:
                r["ID"] = r["Container"] = e.target.container_id
            rows.append(r)
        return render_rows(rows, fmt)

    first = sampler.snapshot()
    select(first)  # unknown names fail now, before any waiting
    if no_stream:
        time.sleep(1.0)
        click.echo(table(first, sampler.snapshot()), nl=False)
        return
    if not sys.stdout.isatty():  # a pipe or a file: one table a second, no cursor movement
        prev = first
        try:
            while True:
                time.sleep(1.0)
                snap = sampler.snapshot()
                click.echo(table(prev, snap), nl=False)
                prev = snap
        except KeyboardInterrupt:
            return
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(highlight=False)
    prev = first

    def text(body: str) -> Text:
        return Text(body, no_wrap=True, overflow="crop")  # like a terminal table: never reflowed

    with Live(text(table(None, first)), console=console, auto_refresh=False, transient=False) as live:
        try:
            while True:
                time.sleep(1.0)
                snap = sampler.snapshot()
                live.update(text(table(prev, snap)), refresh=True)
                prev = snap
        except KeyboardInterrupt:
            return
