"""Services with a `build` section: built through pydock build when their image is missing, again
with `up --build`, by `compose build`; named `<project>-<service>` unless `image` names them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.root

FILE = """services:
  app:
    build:
      context: ./app
      dockerfile: Containerfile
      args: {GREETING: hello}
      target: final
    command: [sh, -c, "cat /msg; echo $$MODE"]
  named:
    build: ./app
    image: mine/named:2
    command: [cat, /msg]
"""
DOCKERFILE = """FROM busybox AS base
ARG GREETING=unset
RUN echo "$GREETING from the build" > /msg
FROM base AS final
ENV MODE=final
FROM base AS other
ENV MODE=other
"""


def _project(pc) -> None:  # type: ignore[no-untyped-def]
    app = pc.cwd / "app"
    app.mkdir()
    (app / "Containerfile").write_text(DOCKERFILE)
    (app / "Dockerfile").write_text("FROM busybox\nRUN echo plain > /msg\n")
    (pc.cwd / "compose.yaml").write_text(FILE)


def test_up_builds_missing_images_then_reuses_them(pc) -> None:  # type: ignore[no-untyped-def]
    _project(pc)
    out = pc("compose", "up", "-d")
    assert "Image proj-app  Built" in out.stderr and "Image mine/named:2  Built" in out.stderr
    rt = pc.runtime()
    assert rt.images.resolve("proj-app") == rt.store.get("proj-app-1").image_id
    logs = pc("logs", "proj-app-1").stdout
    assert logs == "hello from the build\nfinal\n"
    assert pc("logs", "proj-named-1").stdout == "plain\n"
    again = pc("compose", "up", "-d")
    assert "Built" not in again.stderr  # present: not built again
    # The build arg changes: `up --build` rebuilds, the new image recreates the container.
    (pc.cwd / "compose.yaml").write_text(FILE.replace("GREETING: hello", "GREETING: bonjour"))
    out = pc("compose", "up", "-d", "--build")
    assert "Image proj-app  Built" in out.stderr
    assert pc("logs", "proj-app-1").stdout.startswith("bonjour from the build\n")
    pc("compose", "down", "--rmi", "local")
    with pytest.raises(Exception):  # noqa: B017 - NotFoundError: --rmi local removes the built image
        rt.images.resolve("proj-app")
    assert rt.images.resolve("mine/named:2")  # a custom name is not "local": kept


def test_compose_build_and_refused_keys(pc) -> None:  # type: ignore[no-untyped-def]
    _project(pc)
    out = pc("compose", "build", "app")
    assert "Image proj-app  Built" in out.stderr and "named" not in out.stderr
    assert pc.runtime().store.list() == []  # build makes no container
    (pc.cwd / "compose.yaml").write_text("services:\n  app:\n    build:\n      context: ./app\n"
                                         "      ssh: [default]\n")
    p = pc("compose", "build", check=False)
    assert p.returncode != 0 and "unsupported: services.app.build.ssh" in p.stderr
    (pc.cwd / "compose.yaml").write_text("services:\n  app:\n    build: ./app\n    command: [true]\n")
    (pc.cwd / "app" / "Dockerfile").write_text("FROM busybox\nRUN exit 3\n")
    p = pc("compose", "up", "-d", "--build", check=False)
    assert p.returncode != 0 and "returned a non-zero code: 3" in p.stderr
    assert pc.runtime().store.list() == []  # a failed build leaves no container
    (pc.cwd / "app" / "Dockerfile").write_text("FROM busybox\n")
    pc("compose", "up", "-d", "--build")  # `[true]` is YAML's bool: run as the string "true"
    assert pc.runtime().store.get("proj-app-1").config["Config"]["Cmd"] == ["true"]
