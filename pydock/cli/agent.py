"""`pydock agent`: the per-host agent serving /metrics (cAdvisor names), /healthz and the stats API."""

from __future__ import annotations

import gc
import resource
from pathlib import Path

import click

from pydock.errors import UsageError
from pydock.settings import Settings


def parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"invalid --listen {text!r}: expected HOST:PORT, e.g. 127.0.0.1:9338")
    return (host.strip("[]") or "127.0.0.1"), int(port)


def raise_fd_limit() -> None:
    """Soft RLIMIT_NOFILE up to the hard limit, as Go's runtime does for node-exporter and cAdvisor: the
    agent keeps the cgroup and /proc files of every container open between scrapes (agent.parsers)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != soft and (soft != resource.RLIM_INFINITY):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", default="127.0.0.1:9338", show_default=True,
              help="Address to serve on; loopback unless told otherwise")
@click.option("--state-root", type=click.Path(path_type=Path), default=None,
              help="pydock state root [default: $PYDOCK_ROOT or /var/lib/pydock]")
@click.option("--cache-seconds", type=float, default=1.0, show_default=True,
              help="Scrapes within this many seconds share one read of the cgroups")
@click.option("--token", envvar="PYDOCK_AGENT_TOKEN", default=None,
              help="Bearer token required on every route but /healthz (env PYDOCK_AGENT_TOKEN)")
@click.option("--cgroup-root", type=click.Path(path_type=Path), default=Path("/sys/fs/cgroup"), show_default=True,
              help="Where cgroupfs is mounted (e.g. a host's, bind-mounted into a container)")
@click.option("--proc-root", type=click.Path(path_type=Path), default=Path("/proc"), show_default=True,
              help="Where the host's /proc is mounted")
@click.option("--pydock-only/--all-cgroups", "pydock_only", default=False,
              help="Report only pydock's containers and the root cgroup, not other runtimes' cgroups")
@click.option("--collector", "collector_url", default=None, metavar="URL",
              help="Ship container logs to this collector (e.g. http://127.0.0.1:9339)")
@click.option("--collector-token", envvar="PYDOCK_COLLECTOR_TOKEN", default=None,
              help="Bearer token for the collector's push API [default: --token] (env PYDOCK_COLLECTOR_TOKEN)")
@click.option("--hostname", "host_label", default=None, help="Host name sent with shipped logs [default: this host's]")
@click.option("--redact-labels", is_flag=True, default=False,
              help="Export [REDACTED] as the value of labels whose key names a secret (password, secret, token, key)")
def agent(listen: str, state_root: Path | None, cache_seconds: float, token: str | None, cgroup_root: Path,
          proc_root: Path, pydock_only: bool, collector_url: str | None, collector_token: str | None,
          host_label: str | None, redact_labels: bool = False) -> None:
    """Run the per-host agent (/metrics, /healthz, /api/v1/containers)."""
    import uvicorn

    from pydock.agent.host import HostPaths
    from pydock.agent.server import AgentSettings, create_app

    host, port = parse_listen(listen)
    from pydock.cli.collector import _loopback  # the collector's rule, for the agent too (issue 15)

    if not token and not _loopback(host):
        raise UsageError(f"--listen {listen} reaches beyond loopback: set --token so that /metrics and "
                         "/api/v1/containers are not open to the network")
    raise_fd_limit()
    if cache_seconds < 0:
        raise UsageError("--cache-seconds must not be negative")
    settings = AgentSettings(
        state_root=state_root or Settings.from_env().root,
        host=HostPaths(cgroup=cgroup_root, proc=proc_root),
        cache_seconds=cache_seconds,
        token=token or None,
        foreign=not pydock_only,
    )
    shipping = None
    if collector_url:
        from pydock.agent.shipper import Shipper, start_background

        if not collector_url.startswith(("http://", "https://")):
            raise UsageError(f"invalid --collector {collector_url!r}: expected http://HOST:PORT")
        shipper = Shipper(settings.state_root / "containers", collector_url,
                          settings.state_root / "agent" / "shipper-checkpoint.json",
                          token=collector_token or token or "", host=host_label or "")
        shipping = start_background(shipper)
        from pydock.agent import events  # lifecycle events become log entries of stream "event"

        event_shipper = events.EventShipper(settings.state_root, collector_url,
                                            settings.state_root / "agent" / "events-checkpoint.json",
                                            token=collector_token or token or "", host=host_label or "")
        event_shipping = events.start_background(event_shipper)
    try:
        sampler = None
        if redact_labels:
            from pydock.agent.sampler import Sampler

            sampler = Sampler(settings.state_root, settings.host, cache_seconds=settings.cache_seconds,
                              foreign=settings.foreign, redact_labels=True)
        app = create_app(settings, sampler)
        app.state.shipper = shipper if shipping is not None else None  # its health on /metrics
        # Everything imported so far lives as long as the process: keep it out of the collector's scans,
        # which otherwise walk ~100k long-lived objects during every scrape's allocations.
        gc.collect()
        gc.freeze()
        # Bounded connections and keep-alive, as the collector's: slow clients cannot pile up.
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, limit_concurrency=512,
                    timeout_keep_alive=30)
    finally:
        if shipping is not None:
            shipping[1].set()
            event_shipping[1].set()
            shipping[0].join(10)
            event_shipping[0].join(10)
