"""Container routes (moby's api/server/router/container): list, create, inspect, start, stop,
restart, kill, wait, top, remove, prune, rename, pause, unpause, update, resize.

Each calls the runtime's public function (`Runtime.*`, `runtime.resources.*`); the shapes are
Docker's (api/types/container). Logs, stats and attach are in streams.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from pydock.api.backend import Backend, body_dict
from pydock.api.http import ApiError, NotModified, Request, Response, Router, Stream

from pydock.errors import NotFoundError, PydockError
from pydock.units import parse_iso


def _created(rec: Any) -> int:
    try:
        return int(parse_iso(rec.created))
    except PydockError:
        return 0


def _mounts(rec: Any) -> list[dict[str, Any]]:
    out = []
    for m in rec.config.get("Mounts", []):
        out.append({"Type": m["Type"], "Name": m.get("Name", ""), "Source": m.get("Source", ""),
                    "Destination": m["Destination"], "Driver": m.get("Driver", ""),
                    "Mode": "" if m.get("RW", True) else "ro", "RW": m.get("RW", True), "Propagation": ""})
    return out


def summary(b: Backend, rec: Any) -> dict[str, Any]:
    """One entry of `GET /containers/json` (api/types/container.Summary)."""
    from pydock.runtime.network.endpoint import network_settings
    from pydock.runtime.views import status_text

    c = rec.config
    mode = c.get("HostConfig", {}).get("NetworkMode", "none")
    net = network_settings(rec, b.settings.run)
    ports = []
    for key, binds in (net.get("Ports") or {}).items():
        port, _, proto = key.partition("/")
        for bnd in binds or [None]:
            p: dict[str, Any] = {"PrivatePort": int(port), "Type": proto or "tcp"}
            if bnd:
                p.update(IP=bnd.get("HostIp", ""), PublicPort=int(bnd.get("HostPort") or 0))
            ports.append(p)
    return {"Id": rec.id, "Names": ["/" + rec.name], "Image": rec.image, "ImageID": rec.image_id,
            "Command": " ".join([c.get("Path", ""), *c.get("Args", [])]), "Created": _created(rec),
            "Ports": ports, "Labels": rec.labels, "State": rec.status, "Status": status_text(rec),
            "HostConfig": {"NetworkMode": mode},
            "NetworkSettings": {"Networks": net.get("Networks") or {}},
            "Mounts": _mounts(rec)}


def inspect(b: Backend, rec: Any) -> dict[str, Any]:
    from pydock.runtime.views import inspect_record

    out = inspect_record(rec)
    out["State"] = {"Status": rec.status, "Running": False, "Paused": False, "Restarting": False,
                    "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
                    "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z", **out["State"]}
    out["Mounts"] = _mounts(rec)
    gd = out.get("GraphDriver") or {}
    # Docker's GraphDriver.Data is map[string]string: overlay's LowerDir is one ':'-joined string.
    data = {("LowerDir" if k == "LowerDirs" else k): (":".join(v) if isinstance(v, list) else str(v))
            for k, v in (gd.get("Data") or {}).items()}
    out["GraphDriver"] = {"Name": gd.get("Name", ""), "Data": data}
    out.setdefault("AppArmorProfile", "")
    out.setdefault("ExecIDs", [i for i, e in b.execs.items() if e.container_id == rec.id] or None)
    return out


def _list(b: Backend) -> Any:
    def handler(req: Request) -> list[dict[str, Any]]:
        from pydock.api.system import parse_filters
        from pydock.runtime.views import PS_FILTERS, matches

        flt = parse_filters(req, PS_FILTERS)
        rt = b.runtime
        show_all = req.qbool("all") or "status" in flt
        limit = req.qint("limit", -1) or -1
        recs = [r for r in rt.store.list() if (show_all or r.running) and matches(r, flt, rt.images)]
        if limit > 0:
            recs = recs[:limit]
        return [summary(b, r) for r in recs]
    return handler


def _create(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        from pydock.api.create import spec_from_body
        from pydock.api.http import json_response

        if (req.q("platform") or "linux").split("/")[0] != "linux":
            raise ApiError(400, f"platform {req.q('platform')!r} is not supported: pydock runs linux containers")
        spec = spec_from_body(req.json({}), req.q("name") or "")
        rec = b.runtime.create(spec)
        return json_response({"Id": rec.id, "Warnings": []}, 201)
    return handler


def _start(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        from pydock.api.streams import start_container

        rec = b.record(req.params["id"])
        if rec.running:
            raise NotModified
        start_container(b, rec)
        return Response(204)
    return handler


def _timeout(req: Request) -> int | None:
    t = req.q("t", req.q("timeout"))
    if t in (None, ""):
        return None
    try:
        return int(t)
    except ValueError:
        raise ApiError(400, f"invalid value for t: {t!r} is not an integer") from None


def _no_signal(req: Request) -> None:
    if req.q("signal"):
        raise ApiError(400, "signal: stopping with a signal other than the container's StopSignal is not "
                            "supported by pydock (set it at create)")


def _stop(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        _no_signal(req)
        rec = b.record(req.params["id"])
        if not rec.running:
            raise NotModified
        b.runtime.stop(rec.id, _timeout(req))
        return Response(204)
    return handler


def _restart(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        _no_signal(req)
        b.runtime.restart(b.record(req.params["id"]).id, _timeout(req))
        return Response(204)
    return handler


def _kill(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        b.runtime.kill(req.params["id"], req.q("signal") or "SIGKILL")
        return Response(204)
    return handler


def _wait(b: Backend) -> Any:
    def handler(req: Request) -> Stream:
        condition = req.q("condition") or "not-running"
        if condition not in ("not-running", "next-exit", "removed"):
            raise ApiError(400, f"invalid condition: {condition!r} (not-running, next-exit, removed)")
        rec = b.record(req.params["id"])
        rt = b.runtime

        def gen() -> Iterator[bytes]:
            # Headers go out at once (as dockerd flushes them) so the client knows the wait is set
            # before it starts the container; the body comes when the condition is met.
            yield b" "  # a JSON body may begin with whitespace; an empty chunk would end the body
            if condition == "not-running" and not rec.running:
                code = int(rec.state.get("ExitCode", 0))
            else:
                code = rt.wait(rec.id)
            if condition == "removed":
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    try:
                        rt.store.get(rec.id)
                    except NotFoundError:
                        break
                    time.sleep(0.05)
            yield json.dumps({"StatusCode": code, "Error": None}).encode() + b"\n"
        return Stream(gen())
    return handler


def _inspect(b: Backend) -> Any:
    def handler(req: Request) -> dict[str, Any]:
        return inspect(b, b.record(req.params["id"]))
    return handler


def _top(b: Backend) -> Any:
    def handler(req: Request) -> dict[str, Any]:
        from pydock.runtime.resources import TOP_TITLES, top

        args = req.q("ps_args") or "-ef"
        if args != "-ef":
            raise ApiError(400, f"ps_args {args!r} is not supported by pydock (only -ef)")
        rows = top(b.settings, req.params["id"])
        return {"Titles": list(TOP_TITLES),
                "Processes": [[r.uid, str(r.pid), str(r.ppid), str(r.c), r.stime, r.tty, r.time, r.cmd] for r in rows]}
    return handler


def _delete(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        if req.qbool("link"):
            raise ApiError(400, "link: container links are not supported by pydock")
        b.runtime.remove(req.params["id"], force=req.qbool("force"), volumes=req.qbool("v"))
        return Response(204)
    return handler


def _prune(b: Backend) -> Any:
    def handler(req: Request) -> dict[str, Any]:
        from pydock.api.system import parse_filters

        flt = parse_filters(req)
        if flt:
            raise ApiError(400, f"prune filter {next(iter(flt))!r} is not supported by pydock")
        return {"ContainersDeleted": b.runtime.prune() or None, "SpaceReclaimed": 0}
    return handler


def _rename(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        name = req.q("name")
        if not name:
            raise ApiError(400, "name: a new name is required")
        from pydock.runtime.rename import rename

        rename(b.settings, req.params["id"], name)
        return Response(204)
    return handler


def _pause(b: Backend, resume: bool) -> Any:
    def handler(req: Request) -> Response:
        from pydock.runtime import resources

        (resources.unpause if resume else resources.pause)(b.settings, req.params["id"])
        return Response(204)
    return handler


_UPDATE_KEYS = {"Memory": "memory", "MemorySwap": "memory_swap", "MemoryReservation": "memory_reservation",
                "NanoCpus": "cpus", "CpuShares": "cpu_shares", "CpusetCpus": "cpuset_cpus", "PidsLimit": "pids_limit",
                "BlkioWeight": "blkio_weight"}


def _update(b: Backend) -> Any:
    def handler(req: Request) -> dict[str, Any]:
        from pydock.runtime import cgroups
        from pydock.runtime.resources import update
        from pydock.runtime.restart import RestartPolicy

        body = body_dict(req.json({}), "body")
        flags: dict[str, str] = {}
        policy = None
        for key, value in body.items():
            if key == "RestartPolicy":
                rp = body_dict(value, "RestartPolicy")
                if rp.get("Name"):
                    text = str(rp["Name"]) + (f":{int(rp['MaximumRetryCount'])}" if rp.get("MaximumRetryCount") else "")
                    policy = RestartPolicy.parse(text)
            elif key in _UPDATE_KEYS:
                if value in (None, 0, ""):
                    continue
                if key == "CpusetCpus":
                    flags[_UPDATE_KEYS[key]] = str(value)
                elif not isinstance(value, int | float):
                    raise ApiError(400, f"invalid {key}: expected a number")
                else:
                    flags[_UPDATE_KEYS[key]] = str(value / 1e9) if key == "NanoCpus" else str(int(value))
            elif value not in (None, 0, "", [], {}, False):
                raise ApiError(400, f"{key} cannot be updated by pydock (got {value!r})")
        change = cgroups.limits_from_flags(**flags)
        if change.is_empty() and policy is None:
            raise ApiError(400, "nothing to update: give a limit or a RestartPolicy")
        update(b.settings, req.params["id"], change, policy)
        return {"Warnings": []}
    return handler


def _resize(b: Backend) -> Any:
    def handler(req: Request) -> Response:
        from pydock.api.streams import resize_tty

        rec = b.record(req.params["id"])
        h, w = req.qint("h", 0) or 0, req.qint("w", 0) or 0
        if rec.config.get("Config", {}).get("Tty") and rec.running and h > 0 and w > 0:
            resize_tty(b, rec, h, w)
        return Response(200, b"", "text/plain")
    return handler


def register(r: Router, b: Backend) -> None:
    r.add("GET", "/containers/json", _list(b))
    r.add("POST", "/containers/create", _create(b))
    r.add("POST", "/containers/prune", _prune(b))
    r.add("GET", "/containers/{id}/json", _inspect(b))
    r.add("GET", "/containers/{id}/top", _top(b))
    r.add("POST", "/containers/{id}/start", _start(b))
    r.add("POST", "/containers/{id}/stop", _stop(b))
    r.add("POST", "/containers/{id}/restart", _restart(b))
    r.add("POST", "/containers/{id}/kill", _kill(b))
    r.add("POST", "/containers/{id}/wait", _wait(b))
    r.add("POST", "/containers/{id}/rename", _rename(b))
    r.add("POST", "/containers/{id}/pause", _pause(b, False))
    r.add("POST", "/containers/{id}/unpause", _pause(b, True))
    r.add("POST", "/containers/{id}/update", _update(b))
    r.add("POST", "/containers/{id}/resize", _resize(b))
    r.add("DELETE", "/containers/{id}", _delete(b))
