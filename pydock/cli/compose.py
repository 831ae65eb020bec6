"""`pydock compose`: Docker Compose's commands over pydock.compose (loader, plan, up) and the runtime.

Thin, as the rest of the CLI: each command loads the project (`-f`, `-p`, `--env-file`, `--profile`)
and calls one function of pydock.compose or of the runtime, printing Compose's progress lines.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from pydock.errors import UsageError
from pydock.settings import Settings

CTX = {"help_option_names": ["-h", "--help"]}


class Opts:
    def __init__(self, files: tuple[str, ...], project_name: str, env_files: tuple[str, ...],
                 profiles: tuple[str, ...]) -> None:
        self.files, self.project_name, self.env_files, self.profiles = files, project_name, env_files, profiles

    def load(self) -> Any:
        from pydock.compose.loader import load

        return load(self.files, self.project_name, self.env_files, self.profiles)

    def name(self) -> str:
        """The project's name without needing a valid file where -p is given (down, ps, logs)."""
        if self.project_name and not self.files:
            from pydock.compose.loader import project_name_of

            return project_name_of(self.project_name)
        return str(self.load().name)


def _rt() -> Any:
    from pydock.runtime.lifecycle import Runtime

    return Runtime(Settings.from_env())


def _say(line: str) -> None:
    click.echo(line, err=True)


@click.group("compose", context_settings=CTX)
@click.option("-f", "--file", "files", multiple=True, help="Compose configuration files")
@click.option("-p", "--project-name", default="", help="Project name")
@click.option("--env-file", "env_files", multiple=True, help="Specify an alternate environment file")
@click.option("--profile", "profiles", multiple=True, help="Specify a profile to enable")
@click.pass_context
def compose_group(ctx: click.Context, files: tuple[str, ...], project_name: str, env_files: tuple[str, ...],
                  profiles: tuple[str, ...]) -> None:
    """Define and run multi-container applications (Docker Compose)."""
    ctx.obj = Opts(files, project_name, env_files, profiles)


def _scale(items: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for item in items:
        k, eq, v = item.partition("=")
        if not eq or not v.isdigit():
            raise UsageError(f"invalid --scale {item!r}: expected SERVICE=NUM")
        out[k] = int(v)
    return out


@compose_group.command("up")
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run containers in the background")
@click.option("--build", is_flag=True, help="Build images before starting containers")
@click.option("--force-recreate", is_flag=True, help="Recreate containers even if nothing changed")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not in the file")
@click.option("--no-deps", is_flag=True, help="Don't start linked services")
@click.option("--no-start", is_flag=True, help="Don't start the services after creating them")
@click.option("--scale", multiple=True, help="Scale SERVICE to NUM instances (SERVICE=NUM)")
@click.option("--wait-timeout", type=float, default=300.0, help="Seconds to wait for dependencies")
@click.option("--pull", type=click.Choice(["always", "missing", "never"]), default=None,
              help="Pull images before running (default: each service's pull_policy)")
@click.argument("services", nargs=-1)
@click.pass_obj
def up_cmd(o: Opts, detach: bool, build: bool, force_recreate: bool, remove_orphans: bool, no_deps: bool,
           no_start: bool, scale: tuple[str, ...], wait_timeout: float, pull: str | None,
           services: tuple[str, ...]) -> None:
    """Create and start containers."""
    from pydock.compose import up
    from pydock.runtime.lifecycle import require_root

    require_root()
    project = o.load()
    rt = _rt()
    up.up(rt, project, list(services), force_recreate=force_recreate, remove_orphans=remove_orphans,
          no_deps=no_deps, scale=_scale(scale), start=not no_start, timeout=wait_timeout, report=_say,
          pull=pull, build=build)
    if detach or no_start:
        return
    import signal

    def interrupt(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    # Attached, Ctrl-C or a SIGTERM stops the project, as Docker Compose does (even where the shell
    # started us with SIGINT ignored).
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    _follow(rt, project.name, list(services), stop_on_interrupt=project)


def _follow(rt: Any, name: str, services: list[str], stop_on_interrupt: Any = None, tail: int = -1,
            timestamps: bool = False, follow: bool = True) -> None:
    from pydock.compose import logs, up
    from pydock.compose import project as cproject
    from pydock.compose.spec import SERVICE

    recs = [r for r in cproject.containers(rt, name) if not services or r.labels.get(SERVICE) in services]
    out = sys.stdout.buffer
    try:
        logs.write(logs.stream(rt, recs, tail, follow), [logs.prefix_name(r) for r in recs], out,
                   colour=out.isatty(), timestamps=timestamps, flush=out.flush)
        out.flush()
    except KeyboardInterrupt:
        if stop_on_interrupt is not None:
            _say("Gracefully stopping... (press Ctrl+C again to force)")
            up.for_services(rt, name, services, lambda r: rt.stop(r.id), reverse=True, project=stop_on_interrupt)
    except BrokenPipeError:
        sys.stderr.close()


@compose_group.command("down")
@click.option("-v", "--volumes", is_flag=True, help="Remove named volumes declared in the file and anonymous ones")
@click.option("--rmi", type=click.Choice(["local", "all"]), default=None, help="Remove images used by services")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not in the file (always done)")
@click.pass_obj
def down_cmd(o: Opts, volumes: bool, rmi: str | None, remove_orphans: bool) -> None:
    """Stop and remove containers, and with -v volumes."""
    from pydock.compose import up
    from pydock.errors import ConfigError

    try:
        project = o.load()
        name = project.name
    except ConfigError:
        if not o.project_name:
            raise
        project, name = None, o.name()
    up.down(_rt(), name, project, volumes=volumes, rmi=rmi or "", report=_say)


@compose_group.command("ps")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all stopped containers")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs")
@click.option("--format", "fmt", default=None, help="table or json")
@click.option("--services", "only_services", is_flag=True, help="Display services")
@click.argument("services", nargs=-1)
@click.pass_obj
def ps_cmd(o: Opts, all_: bool, quiet: bool, fmt: str | None, only_services: bool, services: tuple[str, ...]) -> None:
    """List containers."""
    from pydock.cli.formatting import print_rows
    from pydock.compose import project as cproject
    from pydock.compose.spec import SERVICE

    recs = [r for r in cproject.containers(_rt(), o.name(), all_=all_)
            if not services or r.labels.get(SERVICE) in services]
    if only_services:
        for s in dict.fromkeys(r.labels.get(SERVICE, "") for r in recs):
            click.echo(s)
        return
    rows = [_ps_row(r) for r in recs]
    cols = (("NAME", "Name"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("SERVICE", "Service"),
            ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"))
    print_rows(None if fmt == "table" else fmt, rows, cols, click.echo, quiet_key="ID", quiet=quiet)


def _ps_row(rec: Any) -> dict[str, Any]:
    from pydock.compose.spec import SERVICE
    from pydock.runtime.network.endpoint import ps_ports
    from pydock.runtime.views import ago, status_text

    cmd = " ".join([rec.config.get("Path", ""), *rec.config.get("Args", [])])
    return {"ID": rec.short_id, "Name": rec.name, "Image": rec.image, "Service": rec.labels.get(SERVICE, ""),
            "Command": f'"{cmd if len(cmd) <= 20 else cmd[:19] + "…"}"', "RunningFor": ago(rec.created),
            "State": rec.status, "Status": status_text(rec), "Ports": ps_ports(rec)}


@compose_group.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.argument("services", nargs=-1)
@click.pass_obj
def logs_cmd(o: Opts, follow: bool, tail: str, timestamps: bool, services: tuple[str, ...]) -> None:
    """View output from containers."""
    from pydock.cli.logs import parse_tail

    _follow(_rt(), o.name(), list(services), tail=parse_tail(tail), timestamps=timestamps, follow=follow)


def _lifecycle(name: str, help_text: str, reverse: bool) -> None:
    @compose_group.command(name, help=help_text)
    @click.option("-t", "--timeout", type=int, default=None, help="Shutdown timeout in seconds")
    @click.argument("services", nargs=-1)
    @click.pass_obj
    def cmd(o: Opts, timeout: int | None, services: tuple[str, ...]) -> None:
        from pydock.compose import up

        project = o.load()
        rt = _rt()
        verb = {"start": "Started", "stop": "Stopped", "restart": "Restarted"}[name]

        def act(rec: Any) -> None:
            if name == "start":
                rt.start(rec.id).close()
            elif name == "stop":
                rt.stop(rec.id, timeout)
            else:
                rt.restart(rec.id, timeout)
            _say(f"Container {rec.name}  {verb}")

        up.for_services(rt, project.name, list(services), act, reverse=reverse, project=project)


_lifecycle("start", "Start services.", False)
_lifecycle("stop", "Stop services.", True)
_lifecycle("restart", "Restart service containers.", False)


def _service_container(o: Opts, service: str, index: int) -> Any:
    from pydock.compose import project as cproject
    from pydock.compose.spec import NUMBER, SERVICE
    from pydock.errors import NotFoundError

    for r in cproject.containers(_rt(), o.name()):
        if r.labels.get(SERVICE) == service and r.labels.get(NUMBER) == str(index):
            return r
    raise NotFoundError(f"service {service!r} has no container {index}: is it up?")


@compose_group.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-e", "--env", "env", multiple=True, help="Set environment variables")
@click.option("-w", "--workdir", default="", help="Path to workdir directory for this command")
@click.option("-u", "--user", default="", help="Run the command as this user")
@click.option("--index", type=int, default=1, help="Index of the container if the service has several")
@click.option("-T", "--no-TTY", "no_tty", is_flag=True, help="Disable pseudo-TTY allocation (the default here)")
@click.option("-d", "--detach", is_flag=True, help="Run the command in the background")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_cmd(o: Opts, env: tuple[str, ...], workdir: str, user: str, index: int, no_tty: bool, detach: bool,
             service: str, command: tuple[str, ...]) -> None:
    """Execute a command in a running service container."""
    from pydock.runtime import exec as rexec

    rec = _service_container(o, service, index)
    spec = rexec.spec_for(rec, command, env=env, user=user, workdir=workdir)
    rexec.check_running(rec)
    devnull = os.open(os.devnull, os.O_RDWR)
    if detach:
        rexec.start(rec, spec, devnull, devnull, devnull)
        os.close(devnull)
        return
    proc = rexec.start(rec, spec, devnull if not sys.stdin.isatty() else 0, sys.stdout.fileno(), sys.stderr.fileno())
    os.close(devnull)
    sys.exit(proc.wait())


@compose_group.command("run", context_settings={"allow_interspersed_args": False})
@click.option("--rm", "remove", is_flag=True, help="Remove the container when it exits")
@click.option("-d", "--detach", is_flag=True, help="Run the container in the background")
@click.option("--no-deps", is_flag=True, help="Don't start linked services")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run_cmd(o: Opts, remove: bool, detach: bool, no_deps: bool, service: str, command: tuple[str, ...]) -> None:
    """Run a one-off command on a service."""
    from pydock.cli.containers import _run_attached  # the same attached run as `pydock run`
    from pydock.compose import up

    rt = _rt()
    rec = up.run_container(rt, o.load(), service, list(command) or None, remove=remove, no_deps=no_deps,
                           report=_say)
    if detach:
        rt.start(rec.id).close()
        click.echo(rec.name)
        return
    sys.exit(_run_attached(rt, rec.id))


@compose_group.command("config")
@click.option("--services", is_flag=True, help="Print the service names, one per line")
@click.option("--volumes", is_flag=True, help="Print the volume names, one per line")
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration")
@click.pass_obj
def config_cmd(o: Opts, services: bool, volumes: bool, fmt: str, quiet: bool) -> None:
    """Parse, resolve and render the compose file in canonical format."""
    project = o.load()
    if quiet:
        return
    if services or volumes:
        for n in (project.services if services else project.volumes):
            click.echo(n)
        return
    model = _escape(project.to_model())  # a `$` left after interpolation prints as `$$`, so the output loads again
    if fmt == "json":
        click.echo(json.dumps(model, indent=2))
    else:
        import yaml

        click.echo(yaml.safe_dump(model, sort_keys=False, default_flow_style=False), nl=False)


def _escape(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _escape(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_escape(v) for v in data]
    return data.replace("$", "$$") if isinstance(data, str) else data


@compose_group.command("pull")
@click.argument("services", nargs=-1)
@click.pass_obj
def pull_cmd(o: Opts, services: tuple[str, ...]) -> None:
    """Pull service images (those present locally are reported as such)."""
    from pydock.compose import images

    project = o.load()
    rt = _rt()
    for n in list(services) or list(project.services):
        if n not in project.services:
            raise UsageError(f"no such service: {n}")
        if (project.services[n].get("image") and not project.services[n].get("build")
                and project.services[n].get("pull_policy") != "build"):
            images.pull_one(rt, str(project.services[n]["image"]), _say)


@compose_group.command("build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image")
@click.option("-q", "--quiet", is_flag=True, help="Don't print anything to STDOUT")
@click.argument("services", nargs=-1)
@click.pass_obj
def build_cmd(o: Opts, no_cache: bool, quiet: bool, services: tuple[str, ...]) -> None:
    """Build or rebuild services."""
    from pydock.compose import images
    from pydock.runtime.lifecycle import require_root

    require_root()
    project = o.load().enabling(list(services))
    for n in services:
        if n not in project.services:
            raise UsageError(f"no such service: {n}")
    rt = _rt()
    for n in list(services) or list(project.services):
        if project.services[n].get("build"):
            images.build_one(rt, project, n, _say, no_cache=no_cache, quiet=quiet)


@compose_group.command("top")
@click.argument("services", nargs=-1)
@click.pass_obj
def top_cmd(o: Opts, services: tuple[str, ...]) -> None:
    """Display the running processes."""
    from pydock.compose import project as cproject
    from pydock.compose.spec import SERVICE
    from pydock.runtime.resources import TOP_TITLES, top

    settings = Settings.from_env()
    for r in cproject.containers(_rt(), o.name(), all_=False):
        if services and r.labels.get(SERVICE) not in services:
            continue
        click.echo(r.name)
        rows = [TOP_TITLES] + [(p.uid, str(p.pid), str(p.ppid), str(p.c), p.stime, p.tty, p.time, p.cmd)
                               for p in top(settings, r.id)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(TOP_TITLES) - 1)]
        for row in rows:
            click.echo("   ".join(c.ljust(w) for c, w in zip(row, widths)) + "   " + row[-1])
        click.echo("")


@compose_group.command("events")
@click.option("--json", "as_json", is_flag=True, help="Output events as a stream of json objects")
@click.option("--since", default=None, help="Show events since this time")
@click.option("--until", default=None, help="Stop at this time")
@click.pass_obj
def events_cmd(o: Opts, as_json: bool, since: str | None, until: str | None) -> None:
    """Receive real time events from containers."""
    import time

    from pydock.compose.spec import PROJECT, SERVICE
    from pydock.runtime.events import EventJournal
    from pydock.units import timestamp

    now = time.time()
    flt = {"label": [f"{PROJECT}={o.name()}"]}
    journal = EventJournal(Settings.from_env().root)
    since_ts = timestamp(since, "--since", now=now) if since else None
    until_ts = timestamp(until, "--until", now=now) if until else None
    events = journal.read(since_ts, until_ts, flt) if until_ts is not None and until_ts <= now else \
        journal.follow(since=since_ts, until=until_ts, filters=flt)
    try:
        for ev in events:
            if as_json:
                click.echo(json.dumps({"time": ev.to_json().get("time"), "type": "container", "action": ev.action,
                                       "id": ev.id, "service": ev.attributes.get(SERVICE, ""),
                                       "attributes": ev.attributes}))
            else:
                click.echo(ev.line())
    except KeyboardInterrupt:
        pass
