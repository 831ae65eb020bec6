"""Volume routes (moby's api/server/router/volume): list, create, inspect, remove, prune."""

from __future__ import annotations

from typing import Any

from pydock.api.backend import Backend, body_dict
from pydock.api.http import ApiError, Request, Response, Router, json_response


def volume_json(v: Any) -> dict[str, Any]:
    return {**v.inspect(), "Status": None, "UsageData": None}


def register(r: Router, b: Backend) -> None:
    def store() -> Any:
        return b.runtime.volumes

    def list_(req: Request) -> dict[str, Any]:
        from pydock.api.system import parse_filters

        flt = parse_filters(req, ("name", "label", "dangling", "driver"))
        out = []
        for v in store().list():
            if "name" in flt and not any(n in v.name for n in flt["name"]):
                continue
            if "driver" in flt and "local" not in flt["driver"]:
                continue
            if "dangling" in flt:
                unused = not b.runtime.containers_using_volume(v.name)
                if (flt["dangling"][-1] in ("true", "1")) != unused:
                    continue
            if "label" in flt and not all(
                    k in v.labels and (not eq or v.labels[k] == val)
                    for k, eq, val in (f.partition("=") for f in flt["label"])):
                continue
            out.append(volume_json(v))
        return {"Volumes": out, "Warnings": []}

    def create(req: Request) -> Response:
        body = body_dict(req.json({}), "body")
        driver = body.get("Driver") or "local"
        if driver != "local":
            raise ApiError(400, f"Driver: volume driver {driver!r} is not supported by pydock (local only)")
        if body.get("DriverOpts"):
            raise ApiError(400, "DriverOpts: local volume options are not supported by pydock")
        labels = body.get("Labels") or {}
        if not isinstance(labels, dict):
            raise ApiError(400, "Labels: expected an object")
        v = store().create(str(body.get("Name") or ""), {str(k): str(x) for k, x in labels.items()})
        return json_response(volume_json(v), 201)

    def inspect(req: Request) -> dict[str, Any]:
        return volume_json(store().get(req.params["name"]))

    def remove(req: Request) -> Response:
        store().remove(req.params["name"], b.runtime.containers_using_volume, force=req.qbool("force"))
        return Response(204)

    def prune(req: Request) -> dict[str, Any]:
        from pydock.api.system import parse_filters

        flt = parse_filters(req, ("all", "label"))
        if "label" in flt:
            raise ApiError(400, "prune filter 'label' is not supported by pydock")
        all_volumes = flt.get("all", ["false"])[-1] in ("true", "1")
        gone = store().prune(b.runtime.containers_using_volume, all_volumes=all_volumes)
        return {"VolumesDeleted": gone or None, "SpaceReclaimed": 0}

    r.add("GET", "/volumes", list_)
    r.add("POST", "/volumes/create", create)
    r.add("POST", "/volumes/prune", prune)
    r.add("GET", "/volumes/{name}", inspect)
    r.add("DELETE", "/volumes/{name}", remove)
