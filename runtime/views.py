"""Docker's views of a container record, shared by the CLI and the Engine API server (api/).

`inspect_record` is `docker inspect`'s shape, `status_text` the STATUS column of `docker ps`
("Up 3 minutes", "Exited (0) 2 seconds ago"), `ps_row` a row of `docker ps`, `matches` the `ps
--filter` keys. They were in pydock/cli/containers.py; they live here so the API server answers with
the same words without importing the CLI. The network views are imported where they are needed:
`ps` of stopped containers, the CLI's fast path (pydock/cli/fastcontainers.py), never loads them.
"""

from __future__ import annotations

import time

from pydock.errors import PydockError

TYPE_CHECKING = False  # typing costs ~3 ms to import; mypy reads this name as typing's
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

PS_FILTERS = ("name", "id", "status", "label", "ancestor")
PS_COLUMNS = (("CONTAINER ID", "ID"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("CREATED", "RunningFor"),
              ("STATUS", "Status"), ("PORTS", "Ports"), ("NAMES", "Names"))


def _dur(ts: float) -> str:
    from pydock.cli.formatting import human_duration  # no click: a plain formatting helper

    return human_duration(time.time() - ts)


def ago(text: str) -> str:
    from pydock.units import parse_iso

    try:
        return _dur(parse_iso(text)) + " ago"
    except PydockError:
        return ""


def status_text(rec: Any) -> str:
    """`docker ps`'s STATUS column for a record."""
    from pydock.units import parse_iso

    st = rec.state
    status = rec.status
    if status == "running":
        health = (st.get("Health") or {}).get("Status")  # runtime depth: Docker's health suffix
        suffix = {"starting": " (health: starting)", "healthy": " (healthy)", "unhealthy": " (unhealthy)"}
        return "Up " + _dur(parse_iso(st.get("StartedAt", ""))) + suffix.get(health or "", "")
    if status == "paused":
        return "Up " + _dur(parse_iso(st.get("StartedAt", ""))) + " (Paused)"
    if status == "restarting":
        return f"Restarting ({st.get('ExitCode', 0)}) " + ago(st.get("FinishedAt", ""))
    if status == "exited":
        fin = st.get("FinishedAt", "")
        return f"Exited ({st.get('ExitCode', 0)}) " + (ago(fin) if not fin.startswith("0001") else "")
    return status.capitalize()


def ps_row(rec: Any, no_trunc: bool) -> dict[str, Any]:
    """A row of `docker ps` (the fields its `--format` templates name)."""
    cmd = " ".join([rec.config.get("Path", ""), *rec.config.get("Args", [])])
    shown = cmd if no_trunc or len(cmd) <= 20 else cmd[:19] + "…"
    if rec.running:  # ps_ports is empty for a stopped container; the network views cost ~5 ms to import
        from pydock.runtime.network.endpoint import ps_ports

        ports = ps_ports(rec)
    else:
        ports = ""
    return {"ID": rec.id if no_trunc else rec.short_id, "Image": rec.image, "Command": f'"{shown}"',
            "CreatedAt": rec.created, "RunningFor": ago(rec.created), "Ports": ports, "State": rec.status,
            "Status": status_text(rec), "Names": rec.name, "Size": "",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(rec.labels.items())),
            "Mounts": ",".join(m.get("Name") or m.get("Source", "") for m in rec.config.get("Mounts", [])),
            "Networks": rec.config.get("HostConfig", {}).get("NetworkMode", "")}


def matches(rec: Any, filters: Mapping[str, list[str]], images: Any) -> bool:
    """`docker ps --filter` (name, id, status, label, ancestor); `images` resolves ancestors."""
    import re

    for key, values in filters.items():
        if key == "name" and not any(re.search(v.lstrip("/"), rec.name) for v in values):
            return False
        if key == "id" and not any(rec.id.startswith(v) for v in values):
            return False
        if key == "status" and rec.status not in values:
            return False
        if key == "label":
            for v in values:
                k, eq, val = v.partition("=")
                if k not in rec.labels or (eq and rec.labels[k] != val):
                    return False
        if key == "ancestor":
            ok = False
            for v in values:
                try:
                    ok = ok or images.resolve(v) == rec.image_id
                except PydockError:
                    ok = ok or v == rec.image
            if not ok:
                return False
    return True


def inspect_record(rec: Any) -> dict[str, Any]:
    """Docker's `inspect` shape for one container."""
    from pydock.runtime.network.endpoint import network_settings
    c = rec.config
    state = {k: v for k, v in rec.state.items() if k not in ("ShimPid", "CgroupPaths", "LogDrops", "RestartCount")}
    return {
        "Id": rec.id, "Created": rec.created, "Path": c.get("Path"), "Args": c.get("Args", []),
        "State": state, "Image": rec.image_id,
        "ResolvConfPath": str(rec.dir / "resolv.conf"), "HostnamePath": str(rec.dir / "hostname"),
        "HostsPath": str(rec.dir / "hosts"), "LogPath": rec.log_path, "Name": "/" + rec.name,
        "RestartCount": rec.state.get("RestartCount", 0), "Driver": c.get("Driver", ""), "Platform": "linux",
        "HostConfig": c.get("HostConfig", {}), "GraphDriver": c.get("GraphDriver", {}),
        "Mounts": [{k: v for k, v in m.items() if k not in ("Anonymous", "NoCopy")} for m in c.get("Mounts", [])],
        "Config": c.get("Config", {}),
        "NetworkSettings": network_settings(rec),  # network room: Docker's shape (runtime/network/endpoint.py)
    }
