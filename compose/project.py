"""The plan: what the project wants (containers with their config hashes, volumes) against what
exists, found by Docker Compose's labels, never by names alone.

`plan` is Docker Compose's convergence decision (`convergence.go`): for each replica number of a
service, a container whose config hash and image match is kept (started if stopped), one that
differs is recreated, a missing one created; replicas above the wanted count are removed, and
containers of services the file no longer has are orphans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydock.compose import spec as cspec
from pydock.compose.types import Project
from pydock.runtime.store import ContainerRecord


@dataclass(frozen=True)
class Step:
    action: str  # "create", "recreate", "keep", "start", "remove"
    service: str
    number: int
    container: ContainerRecord | None = None  # the existing one, for all but "create"


@dataclass
class Plan:
    steps: dict[str, list[Step]] = field(default_factory=dict)  # by service, in dependency order
    orphans: list[ContainerRecord] = field(default_factory=list)

    def changed(self) -> list[Step]:
        return [s for ss in self.steps.values() for s in ss if s.action not in ("keep",)]


def containers(rt: Any, project: str, oneoff: bool | None = False, all_: bool = True) -> list[ContainerRecord]:
    """The project's containers by label; `oneoff` None: `run` containers too."""
    out = []
    for rec in rt.store.list():
        labels = rec.labels
        if labels.get(cspec.PROJECT) != project:
            continue
        if oneoff is not None and (labels.get(cspec.ONEOFF) == "True") != oneoff:
            continue
        if all_ or rec.running:
            out.append(rec)
    out.sort(key=lambda r: (r.labels.get(cspec.SERVICE, ""), _number(r)))
    return out


def _number(rec: ContainerRecord) -> int:
    try:
        return int(rec.labels.get(cspec.NUMBER, "0"))
    except ValueError:
        return 0


def replicas(svc: dict[str, Any], scale: dict[str, int] | None, service: str) -> int:
    if scale and service in scale:
        return scale[service]
    return int((svc.get("deploy") or {}).get("replicas", 1))


def plan(rt: Any, project: Project, services: list[str], image_ids: dict[str, str],
         force_recreate: bool = False, scale: dict[str, int] | None = None) -> Plan:
    existing: dict[str, list[ContainerRecord]] = {}
    for rec in containers(rt, project.name):
        existing.setdefault(rec.labels.get(cspec.SERVICE, ""), []).append(rec)
    out = Plan()
    for name in services:
        svc = project.services[name]
        want = replicas(svc, scale, name)
        have = {_number(r): r for r in existing.get(name, [])}
        digest = cspec.config_hash(svc)
        steps = []
        for n in range(1, want + 1):
            rec = have.pop(n, None)
            if rec is None:
                steps.append(Step("create", name, n))
            elif force_recreate or rec.labels.get(cspec.HASH) != digest or rec.image_id != image_ids[name]:
                steps.append(Step("recreate", name, n, rec))
            elif rec.running:
                steps.append(Step("keep", name, n, rec))
            else:
                steps.append(Step("start", name, n, rec))
        steps += [Step("remove", name, n, r) for n, r in sorted(have.items(), reverse=True)]
        out.steps[name] = steps
    known = set(project.services) | set(project.inactive)
    out.orphans = [r for ss in existing.values() for r in ss if r.labels.get(cspec.SERVICE) not in known]
    return out
