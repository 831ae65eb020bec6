"""The `pydock` command line: a thin layer that parses Docker's flags and calls the library.

Commands live in modules by area and are imported only when run, so `pydock --help` and quick
commands never pay for FastAPI, Elasticsearch or rich. Library code raises `PydockError`; `main`
turns it into one line on stderr and Docker's exit code (125 for pydock's own failures).
"""

from __future__ import annotations

import os
import sys

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
    "build": ("pydock.cli.build:build", "Build an image from a Dockerfile"),
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
    "system": ("pydock.cli.system:system_group", "Manage pydock (boot, prune, service: the Engine API)"),
    # metrics
    "stats": ("pydock.cli.stats:stats", "Display a live stream of container resource usage"),
    "agent": ("pydock.cli.agent:agent", "Run the per-host agent (/metrics, stats API, log shipping)"),
    # collector
    "collector": ("pydock.cli.collector:collector", "Run the collector (TSDB, PromQL, alerts, web UI)"),
    "alerts": ("pydock.cli.alerts:alerts_group", "List alerts and manage silences on a collector"),
    "rules": ("pydock.cli.rules:rules_group", "Check alert rule files (PromQL and LogQL)"),
    # compose (issue 13)
    "compose": ("pydock.cli.compose:compose_group", "Define and run multi-container applications"),
}


# command -> "module:function" of its click-free fast path (docs/performance.md, "CLI start-up"). The
# function gets the arguments after the command name and returns True when it ran the command, False
# to leave it to click. One line per command.
FAST_PATHS: dict[str, str] = {
    "logs": "pydock.logprint:fast_logs",
    "ps": "pydock.cli.fastcontainers:fast_ps",
    "inspect": "pydock.cli.fastcontainers:fast_inspect",
    "stop": "pydock.cli.fastcontainers:fast_stop",
    "run": "pydock.cli.fastrun:fast_run",
    "create": "pydock.cli.fastrun:fast_create",
}


DESCRIPTION = "pydock: containers with Docker's CLI, log drivers, a cAdvisor-style agent and a collector."


def main(argv: list[str] | None = None) -> object:
    """The `pydock` entry point. Top-level help is printed from COMMANDS without importing click
    (pydock.helpfmt, measured in docs/performance.md); the rest runs the click app (pydock.cli.app)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) == 1 and args[0] in ("--help", "-h"):
        from pydock.helpfmt import main_help

        sys.stdout.write(main_help(COMMANDS, DESCRIPTION))
        return None
    if args and args[0] == "run" and "--help" not in args and os.geteuid() == 0:
        # The shim's interpreter starts now and imports while this process parses the flags and
        # imports the lifecycle: ~20 ms off `run` here (docs/performance.md). `run` takes it
        # (launch.take_early), on the fast path or click's; unused, it reads EOF when this process exits.
        from pydock.runtime.launch import spawn_early

        spawn_early()
    fast = FAST_PATHS.get(args[0]) if args else None
    if fast is not None:
        module, _, attr = fast.partition(":")
        # plain flags; anything else (help, an unknown flag, a bad value) returns False and goes
        # through click below, so errors and help read as before
        if getattr(__import__(module, fromlist=[attr]), attr)(args[1:]):
            return None
    from pydock.cli.app import main as app_main

    return app_main(argv)


def __getattr__(name: str) -> object:
    # `pydock.cli.cli` (the click group) still resolves, built on first use.
    if name in ("cli", "LazyGroup"):
        from pydock.cli import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
