"""Image routes (moby's api/server/router/image): list, inspect, remove, tag, load, get (save),
prune, create (pull) and push, over the image store and the images room's pull/push/save.

Pull and push stream Docker's JSON progress events as the runtime emits them; a failure after the
stream began is sent as `{"errorDetail": {"message": ...}, "error": ...}`, as dockerd does.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydock.api.backend import Backend
from pydock.api.http import ApiError, Request, Response, Router, Stream

from pydock.errors import PydockError
from pydock.units import parse_iso


def image_summary(rt: Any, im: Any) -> dict[str, Any]:
    try:
        created = int(parse_iso(im.created))
    except PydockError:
        created = 0
    return {"Id": im.id, "ParentId": "", "RepoTags": list(im.tags), "RepoDigests": list(getattr(im, "digests", ())),
            "Created": created, "Size": im.size, "SharedSize": -1, "VirtualSize": im.size,
            "Labels": (im.config.get("config") or {}).get("Labels") or {},
            "Containers": len(rt.containers_using_image(im.id))}


def image_inspect(im: Any) -> dict[str, Any]:
    cfg = im.config
    hist = cfg.get("history") or [{}]
    return {"Id": im.id, "RepoTags": list(im.tags), "RepoDigests": list(getattr(im, "digests", ())), "Parent": "",
            "Comment": hist[-1].get("comment", ""), "Created": im.created, "DockerVersion": "",
            "Author": cfg.get("author", ""), "Config": cfg.get("config", {}),
            "Architecture": cfg.get("architecture", ""), "Os": cfg.get("os", "linux"), "Size": im.size,
            "GraphDriver": {"Name": "overlay2", "Data": None}, "RootFS": {"Type": "layers", "Layers": im.diff_ids},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}}


def _error_event(exc: Exception) -> bytes:
    return json.dumps({"errorDetail": {"message": str(exc)}, "error": str(exc)}).encode() + b"\n"


def _registry_auth(req: Request) -> Any:
    """X-Registry-Auth: base64url JSON {username, password, serveraddress}, as the docker CLI sends."""
    raw = req.headers.get("X-Registry-Auth")
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except ValueError:
        raise ApiError(400, "X-Registry-Auth: not base64-encoded JSON") from None
    if not isinstance(data, dict) or not data.get("username"):
        return None
    from pydock.runtime.images.auth import Credentials

    return Credentials(str(data["username"]), str(data.get("password") or ""))


def _progress_stream(work: Callable[[Callable[[dict[str, Any]], None]], None]) -> Stream:
    def produce(write: Callable[[bytes], None]) -> None:
        try:
            work(lambda ev: write(json.dumps(ev).encode() + b"\n"))
        except PydockError as exc:
            write(_error_event(exc))
    return Stream(produce)  # type: ignore[arg-type]


def register(r: Router, b: Backend) -> None:
    def rt() -> Any:
        return b.runtime

    def list_(req: Request) -> list[dict[str, Any]]:
        from pydock.api.system import parse_filters

        flt = parse_filters(req, ("reference", "dangling", "label"))
        out = []
        for im in rt().images.list():
            if "dangling" in flt and (flt["dangling"] == ["true"]) != (not im.tags):
                continue
            if "reference" in flt and not any(t.split(":")[0] == ref.split(":")[0] and (":" not in ref or t == ref)
                                              for t in im.tags for ref in flt["reference"]):
                continue
            out.append(image_summary(rt(), im))
        return out

    def inspect(req: Request) -> dict[str, Any]:
        return image_inspect(rt().images.get(req.params["name"]))

    def delete(req: Request) -> list[dict[str, str]]:
        out = []
        for line in rt().images.remove(req.params["name"], req.qbool("force"), rt().containers_using_image):
            word, _, rest = line.partition(": ")
            out.append({word: rest})
        return out

    def tag(req: Request) -> Response:
        repo = req.q("repo")
        if not repo:
            raise ApiError(400, "repo: a repository name is required")
        target = repo + (":" + req.q("tag", "") if req.q("tag") else "")
        rt().images.tag(req.params["name"], target)
        return Response(201, b"", "text/plain")

    def load(req: Request) -> Response:
        with tempfile.NamedTemporaryFile(prefix="load-", suffix=".tar") as tmp:
            for chunk in req.chunks():
                tmp.write(chunk)
            tmp.flush()
            loaded = rt().images.load(Path(tmp.name))
        lines = []
        for im in loaded:
            for t in im.tags or [im.id]:
                word = "Loaded image: " if im.tags else "Loaded image ID: "
                lines.append(json.dumps({"stream": word + t + "\n"}))
        return Response(200, "".join(line + "\n" for line in lines).encode())

    def create(req: Request) -> Stream:
        src = req.q("fromImage")
        if req.q("fromSrc"):
            raise ApiError(400, "fromSrc: import through the API is not supported by pydock (use pydock import)")
        if not src:
            raise ApiError(400, "fromImage: an image to pull is required")
        tag = req.q("tag")
        ref = src if not tag else (f"{src}@{tag}" if tag.startswith("sha256:") else f"{src}:{tag}")
        from pydock.runtime.images.pull import pull

        auth = _registry_auth(req)
        platform = req.q("platform") or None
        return _progress_stream(lambda emit: pull(rt().images, ref, platform=platform, auth=auth, progress=emit)
                                and None)

    def push(req: Request) -> Stream:
        try:
            from pydock.runtime.images.push import push as do_push  # the images room's push
        except ImportError:
            raise ApiError(501, "push is not available in this pydock yet") from None
        name = req.params["name"]
        ref = name + (":" + req.q("tag", "") if req.q("tag") else "")
        auth = _registry_auth(req)
        return _progress_stream(lambda emit: do_push(rt().images, ref, auth=auth, progress=emit) and None)

    def get(req: Request) -> Stream:
        try:
            from pydock.runtime.images.save import save  # the images room's save
        except ImportError:
            raise ApiError(501, "image save is not available in this pydock yet") from None
        names = req.query.get("names") or ([req.params["name"]] if "name" in req.params else [])
        if not names:
            raise ApiError(400, "names: give at least one image")
        for n in names:
            rt().images.get(n)  # an unknown image is a 404 before the body starts
        with tempfile.TemporaryDirectory(prefix="save-") as d:
            out = Path(d) / "image.tar"
            save(rt().images, names, out)
            data = out.read_bytes()
        return Stream([data], "application/x-tar")

    def prune(req: Request) -> dict[str, Any]:
        from pydock.api.system import parse_filters

        flt = parse_filters(req, ("dangling",))
        dangling_only = flt.get("dangling", ["true"]) != ["false"]
        deleted: list[dict[str, str]] = []
        for im in rt().images.list():
            if (dangling_only and im.tags) or rt().containers_using_image(im.id):
                continue
            for line in rt().images.remove(im.id, True, rt().containers_using_image):
                word, _, rest = line.partition(": ")
                deleted.append({word: rest})
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": 0}

    r.add("GET", "/images/json", list_)
    r.add("POST", "/images/create", create)
    r.add("POST", "/images/load", load)
    r.add("GET", "/images/get", get)
    r.add("POST", "/images/prune", prune)
    r.add("GET", "/images/{name:path}/json", inspect)
    r.add("GET", "/images/{name:path}/get", get)
    r.add("POST", "/images/{name:path}/tag", tag)
    r.add("POST", "/images/{name:path}/push", push)
    r.add("DELETE", "/images/{name:path}", delete)
