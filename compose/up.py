"""Convergence over the runtime: `up`, `down`, `start`, `stop`, `restart`, one-off `run` containers.

Everything goes through the runtime's public functions (`Runtime.create/start/stop/remove`, the
volume and image stores), as `pydock run` does. `up` resolves every image before it makes anything,
then per service in dependency order waits for the dependencies' conditions (started, healthy,
completed successfully) and converges the service's containers by the plan. If a step fails, what
this `up` made (containers, volumes) is removed again before the error is raised, so the project is
left as it was found, and `down` finds nothing of the failed attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydock.compose import images as cimages
from pydock.compose import project as cproject
from pydock.compose import spec as cspec
from pydock.compose.types import Project

from pydock.errors import ConfigError, NotFoundError, PydockError, RuntimeFailure

Report = Callable[[str], None]


def _quiet(_line: str) -> None:
    pass


@dataclass
class UpResult:
    created: list[str] = field(default_factory=list)
    recreated: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def ensure_volumes(rt: Any, project: Project, services: list[str], made: list[str]) -> None:
    """Creates the project's named volumes that `services` use (labelled as Compose labels them);
    an external volume must exist already."""
    used = {v["source"] for s in services for v in project.services[s].get("volumes") or []
            if v["type"] == "volume" and v.get("source")}
    for key in sorted(used):
        name = cspec.volume_name(project, key)
        cfg = project.volumes.get(key) or {}
        try:
            rt.volumes.get(name)
            continue
        except NotFoundError:
            if cfg.get("external"):
                raise ConfigError(f"volumes.{key}: external volume {name!r} not found") from None
        labels = {**(cfg.get("labels") or {}), cspec.PROJECT: project.name, cspec.VOLUME: key}
        rt.volumes.create(name, labels=labels)
        made.append(name)


def ensure_networks(rt: Any, project: Project, services: list[str], made: list[str]) -> None:
    """Creates the project networks that `services` join, through the network API, labelled as
    Compose labels them; an external network must exist already."""
    from pydock.runtime.network import create_network, list_networks

    used = {k for s in services for k in project.services[s].get("networks") or {}}
    have = {n["Name"] for n in list_networks(rt.settings)}
    for key in sorted(used):
        name = cspec.network_name(project, key)
        cfg = project.networks.get(key) or {}
        if name in have:
            continue
        if cfg.get("external"):
            raise ConfigError(f"networks.{key}: external network {name!r} not found")
        ipam = ((cfg.get("ipam") or {}).get("config") or [{}])[0]
        labels = {**(cfg.get("labels") or {}), cspec.PROJECT: project.name, cspec.NETWORK: key}
        create_network(rt.settings, name, subnet=str(ipam.get("subnet") or ""), gateway=str(ipam.get("gateway") or ""),
                       internal=bool(cfg.get("internal")), labels=labels,
                       options={k: str(v) for k, v in (cfg.get("driver_opts") or {}).items()})
        made.append(name)
        have.add(name)


def wait_condition(rt: Any, project: Project, dep: str, condition: str, timeout: float) -> None:
    """Blocks until every container of `dep` meets `condition`; raises with Compose's words if one
    cannot (unhealthy, exited, or exited non-zero for service_completed_successfully)."""
    deadline = time.monotonic() + timeout
    for rec in cproject.containers(rt, project.name):
        if rec.labels.get(cspec.SERVICE) != dep:
            continue
        while True:
            rec = rt.store.get(rec.id)
            health = (rec.state.get("Health") or {}).get("Status")
            if condition == "service_started":
                break
            if condition == "service_completed_successfully":
                if not rec.running and rec.status in ("exited", "dead"):
                    code = int(rec.state.get("ExitCode", 0))
                    if code != 0:
                        raise RuntimeFailure(f"service {dep!r} didn't complete successfully: exit {code}")
                    break
            elif condition == "service_healthy":
                if health == "healthy":
                    break
                if health == "unhealthy":
                    raise RuntimeFailure(f"dependency failed to start: container {rec.name} is unhealthy")
                if not rec.running:
                    raise RuntimeFailure(f"dependency failed to start: container {rec.name} exited "
                                         f"({rec.state.get('ExitCode', 0)})")
                if not (rec.config.get("Config", {}).get("Healthcheck") or {}).get("Test"):
                    raise ConfigError(f"dependency failed to start: container {rec.name} has no healthcheck")
            if time.monotonic() > deadline:
                raise RuntimeFailure(f"timed out waiting for {rec.name} ({condition})")
            time.sleep(0.1)


def up(rt: Any, project: Project, services: list[str] | None = None, force_recreate: bool = False,
       remove_orphans: bool = False, no_deps: bool = False, scale: dict[str, int] | None = None,
       start: bool = True, timeout: float = 300.0, report: Report = _quiet, pull: str | None = None,
       build: bool = False) -> UpResult:
    project = project.enabling(list(services or []))
    names = list(services or []) if no_deps and services else project.order(services or None)
    for n in services or []:
        if n not in project.services:
            raise ConfigError(f"no such service: {n}")
    ids = cimages.resolve(rt, project, names, report, pull, build)
    result = UpResult()
    made_containers: list[str] = []
    made_volumes: list[str] = []
    made_networks: list[str] = []
    try:
        ensure_volumes(rt, project, names, made_volumes)
        ensure_networks(rt, project, names, made_networks)
        plan = cproject.plan(rt, project, names, ids, force_recreate, scale)
        for rec in plan.orphans:
            if remove_orphans:
                rt.remove(rec.id, force=True)
                report(f"Container {rec.name}  Removed")
            else:
                report(f"WARN: found orphan container {rec.name} for this project; "
                       "run with --remove-orphans to clean it up")
        for name in names:
            for dep, cond in (project.services[name].get("depends_on") or {}).items():
                if start and dep in project.services and (dep in names or not no_deps):
                    wait_condition(rt, project, dep, cond["condition"], timeout)
            _converge(rt, project, plan.steps[name], ids[name], start, result, made_containers, report)
    except BaseException:
        for cid in reversed(made_containers):
            try:
                rt.remove(cid, force=True, volumes=True)
            except PydockError:
                pass
        for v in made_volumes:
            try:
                rt.volumes.remove(v, users=rt.containers_using_volume)
            except PydockError:
                pass
        from pydock.runtime.network import remove_network

        for n in made_networks:
            try:
                remove_network(rt.settings, n)
            except PydockError:
                pass
        raise
    return result


def _converge(rt: Any, project: Project, steps: list[cproject.Step], image_id: str, start: bool,
              result: UpResult, made: list[str], report: Report) -> None:
    for step in steps:
        name = cspec.container_name(project, step.service, step.number)
        if step.action == "remove":
            assert step.container is not None
            rt.stop(step.container.id)
            rt.remove(step.container.id, force=True)
            result.removed.append(step.container.name)
            report(f"Container {step.container.name}  Removed")
            continue
        if step.action == "keep":
            result.kept.append(name)
            report(f"Container {name}  Running")
            continue
        if step.action == "recreate":
            assert step.container is not None
            rt.stop(step.container.id)
            rt.remove(step.container.id, force=True)
        if step.action in ("create", "recreate"):
            rec = rt.create(cspec.container_spec(project, step.service, step.number, image_id))
            made.append(rec.id)
            join_networks(rt, project, step.service, rec.id)
            (result.recreated if step.action == "recreate" else result.created).append(name)
            report(f"Container {name}  {'Recreated' if step.action == 'recreate' else 'Created'}")
            cid = rec.id
        else:
            assert step.container is not None
            cid = step.container.id
        if start:
            rt.start(cid).close()
            result.started.append(name)
            report(f"Container {name}  Started")


def join_networks(rt: Any, project: Project, service: str, cid: str) -> None:
    """Networks after the first one (which the container got at create), with their aliases."""
    from pydock.runtime.network import connect

    if project.services[service].get("network_mode"):
        return
    for name, aliases, ip in cspec.service_networks(project, service)[1:]:
        connect(rt.settings, name, cid, aliases=aliases, ip=ip)


def down(rt: Any, project_name: str, project: Project | None = None, volumes: bool = False,
         rmi: str = "", remove_orphans: bool = True, report: Report = _quiet) -> list[str]:
    """Stops and removes the project's containers (one-off ones too), with `volumes` its named
    volumes (not external ones) and anonymous ones, with `rmi` (`local`|`all`) its images."""
    recs = cproject.containers(rt, project_name, oneoff=None)
    order = project.order() if project else []
    recs.sort(key=lambda r: -order.index(r.labels[cspec.SERVICE]) if r.labels.get(cspec.SERVICE) in order else 1)
    gone = []
    images = {r.image for r in recs}
    for rec in recs:
        rt.stop(rec.id)
        rt.remove(rec.id, force=True, volumes=True)
        gone.append(rec.name)
        report(f"Container {rec.name}  Removed")
    from pydock.runtime.network import list_networks, remove_network

    for net in list_networks(rt.settings):
        if (net.get("Labels") or {}).get(cspec.PROJECT) == project_name:
            remove_network(rt.settings, net["Id"])
            report(f"Network {net['Name']}  Removed")
    if volumes:
        for vol in rt.volumes.list():
            if vol.labels.get(cspec.PROJECT) == project_name:
                rt.volumes.remove(vol.name, users=rt.containers_using_volume)
                report(f"Volume {vol.name}  Removed")
    if rmi:
        if project:
            images |= {str(s["image"]) for s in project.services.values() if s.get("image")}
        for ref in sorted(images):
            # local: only images without a custom tag, i.e. those compose built as <project>-<service>
            if rmi == "local" and not ref.startswith(f"{project_name}-"):
                continue
            try:
                for line in rt.images.remove(ref, force=False, users=rt.containers_using_image):
                    report(line)
            except NotFoundError:
                pass
    return gone


def for_services(rt: Any, project_name: str, services: list[str], action: Callable[[Any], Any],
                 reverse: bool = False, project: Project | None = None) -> list[str]:
    """`action(record)` on the project's containers (of `services`, all when empty), in dependency
    order (reversed for stop)."""
    recs = [r for r in cproject.containers(rt, project_name)
            if not services or r.labels.get(cspec.SERVICE) in services]
    if project is not None:
        order = project.order()
        recs.sort(key=lambda r: order.index(r.labels[cspec.SERVICE]) if r.labels.get(cspec.SERVICE) in order else -1,
                  reverse=reverse)
    for rec in recs:
        action(rec)
    return [r.name for r in recs]


def run_container(rt: Any, project: Project, service: str, command: list[str] | None,
                  remove: bool = False, no_deps: bool = False, report: Report = _quiet) -> Any:
    """Creates the one-off container of `pydock compose run` (its dependencies brought up first)."""
    import secrets

    project = project.enabling([service])
    if service not in project.services:
        raise ConfigError(f"no such service: {service}")
    deps = [d for d in project.order([service]) if d != service]
    if deps and not no_deps:
        up(rt, project, deps, report=report)
        for dep, cond in (project.services[service].get("depends_on") or {}).items():
            if dep in project.services:
                wait_condition(rt, project, dep, cond["condition"], 300.0)
    ids = cimages.resolve(rt, project, [service], report)
    ensure_volumes(rt, project, [service], [])
    ensure_networks(rt, project, [service], [])
    spec = cspec.container_spec(project, service, 1, ids[service], oneoff=True,
                                name=f"{project.name}-{service}-run-{secrets.token_hex(6)}", command=command)
    if remove:
        import dataclasses

        spec = dataclasses.replace(spec, auto_remove=True,
                                   host_config={**spec.host_config, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}})
    rec = rt.create(spec)
    join_networks(rt, project, service, rec.id)
    return rec
