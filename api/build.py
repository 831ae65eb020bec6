"""POST /build (moby's api/server/router/build): a tar build context in, the classic builder's
progress out as Docker's JSON stream (`{"stream": "Step 1/3 : ..."}`, `{"aux": {"ID": ...}}`, an
`errorDetail` event on failure), through the same `pydock.runtime.build.build` the CLI calls."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydock.api.backend import Backend
from pydock.api.http import ApiError, Request, Router, Stream

from pydock.errors import PydockError


class _JsonOutput:
    def __init__(self, write: Callable[[bytes], None]) -> None:
        self.write = write

    def _event(self, ev: dict[str, Any]) -> None:
        self.write(json.dumps(ev).encode() + b"\n")

    def line(self, text: str) -> None:
        self._event({"stream": text + "\n"})

    def raw(self, data: bytes) -> None:
        self._event({"stream": data.decode(errors="replace")})


def _mapping(req: Request, name: str) -> dict[str, str]:
    value = req.qjson(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, f"{name}: expected a JSON object")
    return {str(k): str(v) for k, v in value.items() if v is not None}


def register(r: Router, b: Backend) -> None:
    def build(req: Request) -> Stream:
        from pydock.runtime import archive
        from pydock.runtime.build import BuildOptions
        from pydock.runtime.build import build as run_build

        if req.q("remote"):
            raise ApiError(400, "remote: pydock builds only from an uploaded context (no URL or git fetch)")
        dockerfile = req.q("dockerfile") or "Dockerfile"
        if dockerfile.startswith("/") or ".." in dockerfile.split("/"):
            raise ApiError(400, f"dockerfile: {dockerfile!r} must be a path inside the context")
        tags = tuple(req.query.get("t") or ())
        build_args, labels = _mapping(req, "buildargs"), _mapping(req, "labels")
        work = Path(tempfile.mkdtemp(prefix="pydock-build-api-"))
        try:
            tar = work / "context.tar"
            with open(tar, "wb") as f:
                f.writelines(req.chunks())
            ctx = work / "context"
            if tar.stat().st_size:
                archive.unpack(tar, ctx)  # entries checked: nothing is written outside the directory
            else:
                ctx.mkdir()
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        opts = BuildOptions(context=ctx, dockerfile=ctx / dockerfile, tags=tags, build_args=build_args,
                            target=req.q("target") or "", no_cache=req.qbool("nocache"), labels=labels,
                            pull=req.qbool("pull"))
        quiet = req.qbool("q")

        def produce(write: Callable[[bytes], None]) -> None:
            out = _JsonOutput(write)
            try:
                result = run_build(b.settings, opts, None if quiet else out)
                out._event({"aux": {"ID": result.image_id}})
                if quiet:
                    out._event({"stream": result.image_id + "\n"})
            except PydockError as exc:
                write(json.dumps({"errorDetail": {"message": str(exc)}, "error": str(exc)}).encode() + b"\n")
            finally:
                shutil.rmtree(work, ignore_errors=True)

        return Stream(produce)  # type: ignore[arg-type]

    r.add("POST", "/build", build)
