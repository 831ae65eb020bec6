"""The images of a project's services: resolved locally, pulled by `pull_policy`, as Compose does.

`pull_policy`: `missing` (the default, also `if_not_present`) pulls an image the store lacks,
`always` pulls every time, `never` refuses a missing image, `build` builds every time. A service with
a `build` section is built (not pulled) when its image is missing, and always with `up --build`; its
image is `image`, or `<project>-<service>`. Pulls go through the image room's public `pull()` with
daemon.json's insecure registries, as `pydock pull`; builds through `pydock.runtime.build.build`, the
function behind `pydock build` and the Engine API's POST /build.
Every image is settled before `up` makes anything, so a missing image leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydock.compose.spec import image_ref
from pydock.compose.types import Project

from pydock.errors import ConfigError, NotFoundError

POLICIES = ("missing", "if_not_present", "always", "never", "build", "daily", "weekly")


def pull_one(rt: Any, ref: str, report: Callable[[str], None]) -> str:
    from pydock.runtime.images.pull import pull
    from pydock.runtime.images.registry import insecure_registries

    report(f"Image {ref}  Pulling")
    image = pull(rt.images, ref, insecure_registries=insecure_registries(rt.settings.config_file))
    report(f"Image {ref}  Pulled")
    return str(image.id)


class _Lines:
    """A build's progress as report lines (stderr in the CLI), a RUN's output passed through."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report

    def line(self, text: str) -> None:
        self.report(text)

    def raw(self, data: bytes) -> None:
        for ln in data.decode(errors="replace").splitlines():
            self.report(ln)


def build_one(rt: Any, project: Project, name: str, report: Callable[[str], None], no_cache: bool = False,
              quiet: bool = False) -> str:
    """Builds `services.NAME.build` (context relative to the project's directory, dockerfile relative
    to the context) and tags it with the service's image name; returns the image id."""
    from pydock.runtime.build import BuildOptions, NullOutput, build

    spec = project.services[name].get("build")
    if not spec:
        raise ConfigError(f"services.{name}: no build section to build from")
    cfg: dict[str, Any] = {"context": spec} if isinstance(spec, str) else dict(spec)
    context = (project.working_dir / str(cfg.get("context") or ".")).resolve()
    dockerfile = context / str(cfg["dockerfile"]) if cfg.get("dockerfile") else None
    args = {str(k): str(v) for k, v in dict(cfg.get("args") or {}).items() if v is not None}
    raw = cfg.get("labels") or {}
    labels: dict[str, str] = (dict(str(x).partition("=")[::2] for x in raw) if isinstance(raw, list)
                              else {str(k): str(v) for k, v in dict(raw).items()})
    tag = image_ref(project, name)
    report(f"Image {tag}  Building")
    result = build(rt.settings, BuildOptions(context=context, dockerfile=dockerfile, tags=(tag,), build_args=args,
                                             target=str(cfg.get("target") or ""),
                                             no_cache=no_cache or bool(cfg.get("no_cache")),
                                             labels=labels),
                   NullOutput() if quiet else _Lines(report))
    report(f"Image {tag}  Built")
    return result.image_id


def resolve(rt: Any, project: Project, services: list[str], report: Callable[[str], None],
            policy: str | None = None, build: bool = False) -> dict[str, str]:
    """Image id per service; `policy` overrides each service's `pull_policy` (`up --pull`); `build`
    rebuilds every service that has a build section (`up --build`)."""
    out: dict[str, str] = {}
    for name in services:
        svc = project.services[name]
        ref = image_ref(project, name)
        want = policy or str(svc.get("pull_policy") or "missing")
        if want not in POLICIES:
            raise ConfigError(f"services.{name}.pull_policy: invalid value {want!r}: expected one of "
                              f"{', '.join(POLICIES)}")
        if svc.get("build") and (build or want == "build"):
            out[name] = build_one(rt, project, name, report)
            continue
        if want == "build":
            raise ConfigError(f"services.{name}.pull_policy: build needs a build section")
        if svc.get("build"):
            try:
                out[name] = rt.images.resolve(ref)
            except NotFoundError:
                out[name] = build_one(rt, project, name, report)
            continue
        if want == "always":
            out[name] = pull_one(rt, ref, report)
            continue
        try:
            out[name] = rt.images.resolve(ref)
        except NotFoundError:
            if want == "never":
                raise NotFoundError(f"services.{name}.image: no such image {ref!r} here "
                                    "(pull_policy: never)") from None
            try:
                out[name] = pull_one(rt, ref, report)
            except NotFoundError as exc:
                raise NotFoundError(f"services.{name}.image: {exc}") from None
    return out
