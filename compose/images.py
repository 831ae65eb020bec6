"""The images of a project's services: resolved locally, pulled by `pull_policy`, as Compose does.

`pull_policy`: `missing` (the default, also `if_not_present`) pulls an image the store lacks,
`always` pulls every time, `never` refuses a missing image; `build` needs `pydock build`. Pulls go
through the image room's public `pull()` with daemon.json's insecure registries, as `pydock pull`.
Every image is settled before `up` makes anything, so a missing image leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def resolve(rt: Any, project: Project, services: list[str], report: Callable[[str], None],
            policy: str | None = None) -> dict[str, str]:
    """Image id per service; `policy` overrides each service's `pull_policy` (`up --pull`)."""
    out: dict[str, str] = {}
    for name in services:
        svc = project.services[name]
        ref = str(svc.get("image") or "")
        want = policy or str(svc.get("pull_policy") or "missing")
        if want not in POLICIES:
            raise ConfigError(f"services.{name}.pull_policy: invalid value {want!r}: expected one of "
                              f"{', '.join(POLICIES)}")
        if want == "build" or not ref:
            raise ConfigError(f"unsupported: services.{name}.build (needs pydock build (runtime/build))")
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
