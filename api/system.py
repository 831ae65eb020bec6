"""System routes (moby's api/server/router/system): /_ping, /version, /info, /events, /system/df."""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Iterator
from importlib.metadata import version as pkg_version
from typing import Any

from pydock.api.backend import Backend, client_gone
from pydock.api.http import API_VERSION, MIN_API_VERSION, ApiError, Request, Response, Router, Stream

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}


def go_arch() -> str:
    m = platform.machine()
    return _GO_ARCH.get(m, m)


def parse_filters(req: Request, allowed: tuple[str, ...] | None = None) -> dict[str, list[str]]:
    """Docker's `filters` query: `{"key": {"value": true}}` (current) or `{"key": ["value"]}` (old)."""
    raw = req.qjson("filters")
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid filters: expected a JSON object")
    out: dict[str, list[str]] = {}
    for key, values in raw.items():
        if allowed is not None and key not in allowed:
            raise ApiError(400, f"invalid filter '{key}'")
        if isinstance(values, dict):
            out[key] = [str(v) for v, on in values.items() if on]
        elif isinstance(values, list):
            out[key] = [str(v) for v in values]
        else:
            raise ApiError(400, f"invalid filter '{key}': expected an object or a list")
    return out


def ping(req: Request) -> Response:
    return Response(200, b"OK", "text/plain; charset=utf-8",
                    {"Cache-Control": "no-cache, no-store, must-revalidate", "Pragma": "no-cache",
                     "Builder-Version": "1", "Swarm": "inactive"})


def version(req: Request) -> dict[str, Any]:
    v = pkg_version("pydock")
    details = {"ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": go_arch(),
               "KernelVersion": platform.release(), "GitCommit": "", "GoVersion": "python" + platform.python_version(),
               "BuildTime": "", "Experimental": "false"}
    return {"Platform": {"Name": "pydock"}, "Components": [{"Name": "Engine", "Version": v, "Details": details}],
            "Version": v, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "GitCommit": "",
            "GoVersion": details["GoVersion"], "Os": "linux", "Arch": go_arch(),
            "KernelVersion": platform.release(), "BuildTime": ""}


def make_info(b: Backend) -> Any:
    def info(req: Request) -> dict[str, Any]:
        from pydock.logdrivers import registry
        from pydock.runtime.info import collect_info

        data = collect_info(b.settings)
        data.pop("DefaultUlimits", None)  # Docker's Info has no such field (and another type would break Go)
        try:
            drivers = sorted(registry.names())
        except AttributeError:
            drivers = []
        data.update({
            "ID": data.get("Name", ""), "OSType": "linux", "IndexServerAddress": "https://index.docker.io/v1/",
            "Swarm": {"LocalNodeState": "inactive", "ControlAvailable": False},
            "Runtimes": {"pydock": {"path": "pydock"}}, "DefaultRuntime": "pydock", "SecurityOptions": [],
            "Plugins": {"Volume": ["local"], "Network": ["host", "null"], "Log": drivers},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "CPUSet": True, "PidsLimit": True, "OomKillDisable": False,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "Warnings": [],
        })
        return data
    return info


def make_events(b: Backend) -> Any:
    def events(req: Request) -> Stream:
        from pydock.runtime.events import FILTER_KEYS, EventJournal

        from pydock.units import timestamp

        now = time.time()
        since = req.q("since")
        until = req.q("until")
        try:
            since_ts = timestamp(since, "since", now=now) if since else None
            until_ts = timestamp(until, "until", now=now) if until else None
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None
        flt = parse_filters(req, FILTER_KEYS)
        journal = EventJournal(b.settings.root)

        def gen() -> Iterator[bytes]:
            if until_ts is not None and until_ts <= now:
                events = journal.read(since_ts, until_ts, flt)
            else:
                conn = req.conn
                events = journal.follow(since=since_ts, until=until_ts, filters=flt,
                                        stop=(lambda: client_gone(conn)) if conn is not None else None)
            for ev in events:
                yield json.dumps(ev.to_json()).encode() + b"\n"
        return Stream(gen())
    return events


def make_df(b: Backend) -> Any:
    def df(req: Request) -> dict[str, Any]:
        from pydock.api.containers import summary
        from pydock.api.images import image_summary
        from pydock.api.volumes import volume_json

        rt = b.runtime
        containers = [summary(b, r) for r in rt.store.list()]
        images = [image_summary(rt, i) for i in rt.images.list()]
        vols = []
        for v in rt.volumes.list():
            j = volume_json(v)
            j["UsageData"] = {"Size": _du(str(v.mountpoint)), "RefCount": len(rt.containers_using_volume(v.name))}
            vols.append(j)
        return {"LayersSize": sum(i["Size"] for i in images), "Images": images, "Containers": containers,
                "Volumes": vols, "BuildCache": []}
    return df


def _du(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def register(r: Router, b: Backend) -> None:
    r.add("GET", "/_ping", ping)
    r.add("GET", "/version", version)
    r.add("GET", "/info", make_info(b))
    r.add("GET", "/events", make_events(b))
    r.add("GET", "/system/df", make_df(b))
