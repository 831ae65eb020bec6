"""`pydock build` for real: Dockerfiles built from busybox with RUN in build containers, the images
run with `pydock run`, the cache, multi-stage builds, and failures that leave nothing behind."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import tar_bytes

pytestmark = pytest.mark.root

Ctx = Callable[[dict[str, str | bytes]], Path]

APP = """\
FROM busybox
ARG WHO=world
ENV GREETING=hello APP_HOME=/app
ENV LEGACY legacy value
WORKDIR ${APP_HOME}
COPY greeting.txt ./
COPY --chown=nobody:nogroup owned.txt /data/
RUN echo "$GREETING $WHO" > built.txt && rm /bin/vi && \\
    mkdir -p /home/nobody && chown nobody /home/nobody
USER nobody
EXPOSE 8080 53/udp
VOLUME /data/vol
LABEL org.example.name="my app" version=1
HEALTHCHECK --interval=5s --retries=2 CMD true
STOPSIGNAL SIGQUIT
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat greeting.txt built.txt; id -u; pwd; echo $LEGACY; stat -c %U /data/owned.txt; test -e /bin/vi || echo no-vi"]
"""


def test_build_then_run(pd, ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    d = ctx({"Dockerfile": APP, "greeting.txt": "from the context\n", "owned.txt": "x"})
    p = pd("build", "-t", "myapp:1", str(d), timeout=60)
    assert p.returncode == 0, p.stderr
    assert "Step 1/16 : FROM busybox" in p.stdout and "Step 16/16 : CMD" in p.stdout
    assert " ---> Running in " in p.stdout and "Removing intermediate container" in p.stdout
    assert "Successfully tagged myapp:1" in p.stdout
    image_id = p.stdout.split("Successfully built ")[1].split()[0]
    run = pd("run", "--rm", "myapp:1")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["from the context", "hello world", "65534", "/app", "legacy value",
                                       "nobody", "no-vi"]
    cfg = json.loads(pd.out("image", "inspect", "myapp:1"))[0]
    assert cfg["Id"].split(":")[1].startswith(image_id)
    c = cfg["Config"]
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["User"] == "nobody" and c["WorkingDir"] == "/app"
    assert "GREETING=hello" in c["Env"] and "LEGACY=legacy value" in c["Env"] and not any("WHO" in e for e in c["Env"])
    assert c["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}} and c["Volumes"] == {"/data/vol": {}}
    assert c["Labels"] == {"org.example.name": "my app", "version": "1"}
    assert c["Healthcheck"] == {"Test": ["CMD-SHELL", "true"], "Interval": 5_000_000_000, "Retries": 2}
    assert c["StopSignal"] == "SIGQUIT"
    # `run` honours what the build wrote: the image's check, signal and volume reach the container
    cid = pd.out("create", "myapp:1")
    ins = json.loads(pd.out("inspect", cid))[0]
    assert ins["Config"]["Healthcheck"]["Test"] == ["CMD-SHELL", "true"]
    assert ins["Config"]["StopSignal"] == "SIGQUIT"
    assert [m["Destination"] for m in ins["Mounts"]] == ["/data/vol"]
    # Docker's history: one entry per step; layers for COPY, COPY, RUN only
    store = pd.runtime().images
    image = store.get("myapp:1")
    assert len(image.config["history"]) == 1 + 15 and len(image.diff_ids) == 1 + 3
    assert sum(1 for h in image.config["history"] if not h.get("empty_layer")) == 4
    # intermediate images are kept untagged and hidden from `images` (shown by -a), as Docker does
    assert "<none>" not in pd.out("images") and "<none>" in pd.out("images", "-a")
    pd("rm", cid, check=True)
    prune = pd("image", "prune", "-f")
    assert prune.returncode == 0 and "deleted" in prune.stdout.lower()
    assert "<none>" not in pd.out("images", "-a")
    assert pd("run", "--rm", "myapp:1").stdout == run.stdout  # still whole after the prune


def test_cache_and_invalidation(pd, ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    df = ("FROM busybox\nENV A=1\nRUN echo run1 > /r1\nCOPY f.txt /f.txt\nRUN cat /f.txt > /r2\n"
          "CMD [\"cat\", \"/r2\"]\n")
    d = ctx({"Dockerfile": df, "f.txt": "one\n"})
    cold = pd("build", "-t", "cached", str(d), check=True)
    assert "Using cache" not in cold.stdout
    t0 = time.monotonic()
    warm = pd("build", "-t", "cached", str(d), check=True)
    warm_s = time.monotonic() - t0
    assert warm.stdout.count(" ---> Using cache") == 5 and "Running in" not in warm.stdout
    assert warm.stdout.split("Successfully built")[1] == cold.stdout.split("Successfully built")[1]
    assert warm_s < 5
    (d / "f.txt").write_text("two\n")  # the COPY and every step after it run again
    changed = pd("build", "-t", "cached", str(d), check=True)
    steps = changed.stdout.split("Step ")[1:]
    assert ["Using cache" in s for s in steps] == [False, True, True, False, False, False]
    assert pd.out("run", "--rm", "cached") == "two"
    nocache = pd("build", "--no-cache", "-t", "cached", str(d), check=True)
    assert "Using cache" not in nocache.stdout and nocache.stdout.count("Running in") == 2
    q = pd("build", "-q", str(d), check=True)
    assert q.stdout.strip().startswith("sha256:") and len(q.stdout.strip().splitlines()) == 1


def test_build_args(pd, ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    df = ("ARG TAG=latest\nFROM busybox:${TAG}\nARG NAME=default\nARG TAG\n"
          "ENV WHO=${NAME:-nobody} WHEN=${UNSET:-later} SET=${NAME:+yes}\n"
          "RUN echo \"$NAME:$TAG\" > /arg.txt\nCMD cat /arg.txt; echo $WHO $WHEN $SET; echo \"[$NAME]\"\n")
    d = ctx({"Dockerfile": df})
    p = pd("build", "-t", "args", "--build-arg", "NAME=given", "--build-arg", "EXTRA=1", str(d), check=True)
    assert "[Warning] One or more build-args ['EXTRA'] were not consumed" in p.stdout
    assert pd.out("run", "--rm", "args").splitlines() == ["given:latest", "given later yes", "[]"]
    p = pd("build", "-t", "args", str(d), check=True)
    assert "Using cache" in p.stdout.split("Step 6/7")[0] and "Running in" in p.stdout  # RUN sees NAME
    assert pd.out("run", "--rm", "args").splitlines()[0] == "default:latest"


def test_multi_stage_copy_from_and_target(pd, ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    df = ("FROM busybox AS builder\nWORKDIR /src\nRUN echo compiled > app.bin && mkdir out && echo x > out/y\n"
          "FROM busybox AS tester\nRUN echo tested > /t\n"
          "FROM scratch\nCOPY --from=builder /src/app.bin /bin/app.bin\nCOPY --from=0 /src/out /out\n"
          "COPY --from=busybox /bin/busybox /bin/busybox\nCMD [\"/bin/busybox\", \"cat\", \"/bin/app.bin\", \"/out/y\"]\n")
    d = ctx({"Dockerfile": df})
    p = pd("build", "-t", "multi", str(d), check=True)
    assert "Step 10/10" in p.stdout
    assert pd.out("run", "--rm", "multi").splitlines() == ["compiled", "x"]
    store = pd.runtime().images
    assert len(store.get("multi").diff_ids) == 3  # scratch + three COPY layers, nothing of busybox's layer
    p = pd("build", "--target", "tester", "-t", "tester", str(d), check=True)
    assert "Step 5/5" in p.stdout and "Using cache" in p.stdout
    assert pd.out("run", "--rm", "tester", "cat", "/t") == "tested"
    bad = pd("build", "--target", "nope", str(d))
    assert bad.returncode == 1 and "failed to reach build target nope" in bad.stderr


def test_add_tar_and_dockerignore(pd, ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    import gzip

    archive = tar_bytes([("pkg", None, {}), ("pkg/lib.txt", "from the archive\n", {"uid": 7, "gid": 8})])
    d = ctx({"Dockerfile": "FROM busybox\nADD app.tar.gz /opt/\nADD plain.txt /opt/\nCOPY . /ctx/\n",
             "app.tar.gz": gzip.compress(archive), "plain.txt": "plain\n",
             ".dockerignore": "secret.txt\n*.log\n!keep.log\n", "secret.txt": "s", "a.log": "a",
             "keep.log": "k", "sub/file": "f"})
    pd("build", "-t", "added", str(d), check=True)
    out = pd.out("run", "--rm", "added", "sh", "-c",
                 "cat /opt/pkg/lib.txt /opt/plain.txt; stat -c %u:%g /opt/pkg/lib.txt; ls -A /ctx | tr '\\n' ' '")
    assert out.splitlines() == ["from the archive", "plain", "7:8",
                                ".dockerignore Dockerfile app.tar.gz keep.log plain.txt sub"]
    url = ctx({"Dockerfile": "FROM busybox\nADD https://example.com/x.tar /x\n"})
    p = pd("build", str(url))
    assert p.returncode == 1 and "does not fetch URLs" in p.stderr


def _store_listing(root: Path) -> list[str]:
    images = root / "images"
    names = [str(p.relative_to(images)) for sub in ("configs", "layers", "layertars") for p in (images / sub).glob("*")]
    return sorted(names + [(images / "repositories.json").read_text()])


def test_failures_leave_nothing(pd, ctx: Ctx) -> None:  # type: ignore[no-untyped-def]
    root = Path(pd.env["PYDOCK_ROOT"])
    before = _store_listing(root)
    d = ctx({"Dockerfile": "FROM busybox\nCOPY a.txt /a\nRUN echo made > /m\nRUN echo out; echo err >&2; false\n",
             "a.txt": "a"})
    p = pd("build", "-t", "broken", str(d))
    assert p.returncode == 1
    assert p.stderr.strip().splitlines()[-1] == "pydock: The command '/bin/sh -c echo out; echo err >&2; false' returned a non-zero code: 1"
    assert "out\n" in p.stdout and "err" in p.stdout
    assert pd.out("ps", "-a", "-q") == ""
    assert _store_listing(root) == before
    assert not list((root / "containers").glob("*")) if (root / "containers").exists() else True
    for files, message in [
        ({"Dockerfile": "FROM busybox\nCOPY nope.txt /\n"}, "COPY failed: file not found in build context"),
        # missing: pulled, and the pull's failure named (a loopback port nothing listens on refuses at once)
        ({"Dockerfile": "FROM 127.0.0.1:9/nosuchimage\n"}, "Unable to find image '127.0.0.1:9/nosuchimage' locally"),
        ({"Dockerfile": "FROM busybox\nRUN true\nFORM x\n"}, "Dockerfile:3: unknown instruction: FORM"),
        ({"Dockerfile": "FROM busybox\nRUN [\"/nonexistent\"]\n"}, "The command '/nonexistent' returned a non-zero code: 127"),
    ]:
        p = pd("build", str(ctx(files)))
        assert p.returncode == 1 and message in p.stderr, p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
    p = pd("build", str(root / "missing"))
    assert p.returncode == 1 and "unable to prepare context" in p.stderr
    p = pd("build", "-f", str(root / "nope.Dockerfile"), str(ctx({"x": "y"})))
    assert p.returncode == 1 and "Cannot locate specified Dockerfile: nope.Dockerfile" in p.stderr
    assert pd.out("ps", "-a", "-q") == "" and _store_listing(root) == before


@pytest.mark.parametrize("driver", ["overlay", "copy"])
def test_run_layers_record_deletions(pd, ctx: Ctx, driver: str) -> None:  # type: ignore[no-untyped-def]
    """A RUN's layer holds what it changed, deletions included (whiteouts; an opaque directory for a
    directory made again), with the overlay upper directory and with the copy driver's diff alike."""
    pd.env["PYDOCK_STORAGE_DRIVER"] = driver
    df = ("FROM busybox\nRUN mkdir -p /d/sub && echo 1 > /d/sub/a && echo 2 > /d/b && chmod 700 /d\n"
          "RUN rm /bin/vi /d/b && rm -rf /d/sub && mkdir /d/sub && echo new > /d/sub/c && echo m >> /etc/passwd\n")
    pd("build", "-t", f"del-{driver}", str(ctx({"Dockerfile": df})), check=True)
    out = pd.out("run", "--rm", f"del-{driver}", "sh", "-c",
                 "ls -A /d /d/sub | tr '\\n' ' '; echo; test -e /bin/vi || echo no-vi; stat -c %a /d; tail -1 /etc/passwd")
    assert out.splitlines() == ["/d: sub  /d/sub: c ", "no-vi", "700", "m"]
    store = pd.runtime().images
    top = store.layers / store.get(f"del-{driver}").diff_ids[-1].split(":")[1]
    names = sorted(str(p.relative_to(top)) for p in top.rglob("*"))
    assert "etc/hostname" not in names and "proc" not in names  # the container's mount points stay out
    assert {"bin/vi", "d/b", "d/sub/c", "etc/passwd"} <= set(names)
