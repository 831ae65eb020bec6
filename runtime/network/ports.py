"""Published ports: Docker's `-p` syntax, the host-side reservation, and how `ps`/`port` print them.

`-p [IP:][HOST_PORT[-END]:]CONT_PORT[-END][/tcp|udp]`; a missing host port is chosen at create.
A binding is reserved twice over before the container exists: against pydock's own endpoints (a
DNAT rule holds no socket, so the kernel cannot tell us) and against the host's sockets (a test bind),
so a port already taken refuses the container with Docker's message and nothing is made.
"""

from __future__ import annotations

import errno
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pydock.errors import ConflictError, UsageError

PROTOS = ("tcp", "udp")


@dataclass(frozen=True)
class PortRequest:
    """One `-p` item before a host port is chosen: `host_port` 0 means "any free one"."""

    container_port: int
    proto: str = "tcp"
    host_ip: str = ""
    host_port: int = 0
    host_end: int = 0  # a host range for a single container port: the first free one in it


@dataclass(frozen=True)
class Binding:
    container_port: int
    proto: str
    host_ip: str
    host_port: int

    def to_json(self) -> dict[str, object]:
        return {"ContainerPort": self.container_port, "Proto": self.proto, "HostIp": self.host_ip,
                "HostPort": self.host_port}

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Binding:
        return cls(int(d["ContainerPort"]), str(d["Proto"]), str(d["HostIp"]), int(d["HostPort"]))  # type: ignore[call-overload]


def _port(text: str, spec: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"invalid port {text!r} in --publish {spec!r}: must be a number from 1 to 65535")
    return int(text)


def _range(text: str, spec: str) -> tuple[int, int]:
    lo, dash, hi = text.partition("-")
    a = _port(lo, spec)
    b = _port(hi, spec) if dash else a
    if b < a:
        raise UsageError(f"invalid port range {text!r} in --publish {spec!r}: the end is below the start")
    return a, b


def parse_publish(spec: str) -> list[PortRequest]:
    """One `-p` value as PortRequests (several for a range); UsageError naming the bad part."""
    body, slash, proto = spec.partition("/")
    proto = proto.lower() if slash else "tcp"
    if proto not in PROTOS:
        raise UsageError(f"invalid protocol {proto!r} in --publish {spec!r}: must be tcp or udp")
    if body.startswith("["):
        raise UsageError(f"invalid --publish {spec!r}: pydock publishes IPv4 ports only")
    parts = body.split(":")
    if len(parts) > 3 or not parts[-1]:
        raise UsageError(f"invalid --publish {spec!r}: expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]")
    host_ip = parts[0] if len(parts) == 3 else ""
    if host_ip:
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise UsageError(f"invalid IP address {host_ip!r} in --publish {spec!r}") from None
    host = parts[-2] if len(parts) >= 2 else ""
    c_lo, c_hi = _range(parts[-1], spec)
    if not host:
        return [PortRequest(p, proto, host_ip) for p in range(c_lo, c_hi + 1)]
    h_lo, h_hi = _range(host, spec)
    if c_lo == c_hi:
        return [PortRequest(c_lo, proto, host_ip, h_lo, h_hi if h_hi != h_lo else 0)]
    if h_hi - h_lo != c_hi - c_lo:
        raise UsageError(f"invalid --publish {spec!r}: the host and container port ranges differ in length")
    return [PortRequest(c, proto, host_ip, h_lo + i) for i, c in enumerate(range(c_lo, c_hi + 1))]


def expose_keys(values: Iterable[str]) -> dict[str, dict[str, Any]]:
    """`--expose 80`, `80/udp`, `8000-8010/tcp` as Config.ExposedPorts keys (`80/tcp`), as Docker's
    nat.ParsePortRange; a bad port or protocol is refused naming the value."""
    out: dict[str, dict[str, Any]] = {}
    for value in values:
        text, _, proto = str(value).partition("/")
        proto = proto or "tcp"
        lo, _, hi = text.partition("-")
        try:
            a, b = int(lo), int(hi or lo)
        except ValueError:
            raise UsageError(f"invalid range format for --expose: {value!r}") from None
        if proto not in ("tcp", "udp", "sctp") or not 0 < a <= b <= 65535:
            raise UsageError(f"invalid --expose {value!r}: ports 1-65535, protocol tcp, udp or sctp")
        out.update({f"{p}/{proto}": {} for p in range(a, b + 1)})
    return out


def parse_exposed(exposed: Iterable[str]) -> list[PortRequest]:
    """The image's ExposedPorts keys (`80/tcp`) for `-P`: each gets a random host port."""
    out = []
    for key in exposed:
        port, _, proto = key.partition("/")
        out += parse_publish(f"{port}/{proto or 'tcp'}")
    return out


def _bindable(host_ip: str, port: int, proto: str) -> bool:
    import socket  # here: its enum set-up costs every shim and `run` ~5 ms, used only to probe ports

    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind((host_ip or "0.0.0.0", port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES):
                return False
            if exc.errno == errno.EADDRNOTAVAIL:
                raise UsageError(f"cannot publish on {host_ip}:{port}: {host_ip} is not an address of this host") from None
            raise
    return True


def _clash(a_ip: str, b_ip: str) -> bool:
    return not a_ip or not b_ip or a_ip == b_ip


def reserve(requests: list[PortRequest], taken: list[Binding]) -> list[Binding]:
    """Host ports for `requests`, none in `taken` (pydock's) nor bound on the host. Call under the
    network lock so two `run`s never get one port. ConflictError (Docker's words) if one is taken."""
    out: list[Binding] = []
    for r in requests:
        busy = taken + out

        def free(port: int, r: PortRequest = r, busy: list[Binding] = busy) -> bool:
            if any(b.host_port == port and b.proto == r.proto and _clash(b.host_ip, r.host_ip) for b in busy):
                return False
            return _bindable(r.host_ip, port, r.proto)

        if r.host_port and not r.host_end:
            if not free(r.host_port):
                raise ConflictError(f"Bind for {r.host_ip or '0.0.0.0'}:{r.host_port} failed: port is already allocated")
            port = r.host_port
        elif r.host_port:
            port = next((p for p in range(r.host_port, r.host_end + 1) if free(p)), 0)
            if not port:
                raise ConflictError(f"Bind for {r.host_ip or '0.0.0.0'}:{r.host_port}-{r.host_end} failed: "
                                    "every port in the range is already allocated")
        else:
            port = _ephemeral(r, free)
        out.append(Binding(r.container_port, r.proto, r.host_ip, port))
    return out


def _ephemeral(r: PortRequest, free: object) -> int:
    import socket

    kind = socket.SOCK_STREAM if r.proto == "tcp" else socket.SOCK_DGRAM
    for _ in range(64):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind((r.host_ip or "0.0.0.0", 0))  # the kernel's choice is free on the host right now
            port = int(s.getsockname()[1])
        if free(port):  # type: ignore[operator]
            return port
    raise ConflictError("no free host port left to publish on")


def port_bindings(bindings: list[Binding]) -> dict[str, list[dict[str, str]]]:
    """Docker's `HostConfig.PortBindings` / `NetworkSettings.Ports` shape."""
    out: dict[str, list[dict[str, str]]] = {}
    for b in bindings:
        out.setdefault(f"{b.container_port}/{b.proto}", []).append(
            {"HostIp": b.host_ip or "0.0.0.0", "HostPort": str(b.host_port)})
    return out


def ps_column(bindings: list[Binding], exposed: Iterable[str] = ()) -> str:
    """`docker ps`'s PORTS: `0.0.0.0:8080->80/tcp, 443/tcp` (consecutive ports folded into ranges)."""
    items = sorted(bindings, key=lambda b: (b.proto, b.host_ip, b.container_port))
    parts: list[str] = []
    i = 0
    while i < len(items):
        b = items[i]
        j = i
        while (j + 1 < len(items) and items[j + 1].proto == b.proto and items[j + 1].host_ip == b.host_ip
               and items[j + 1].container_port == items[j].container_port + 1
               and items[j + 1].host_port == items[j].host_port + 1):
            j += 1
        e = items[j]
        hp = f"{b.host_port}" if j == i else f"{b.host_port}-{e.host_port}"
        cp = f"{b.container_port}" if j == i else f"{b.container_port}-{e.container_port}"
        parts.append(f"{b.host_ip or '0.0.0.0'}:{hp}->{cp}/{b.proto}")
        i = j + 1
    published = {f"{b.container_port}/{b.proto}" for b in bindings}
    parts += sorted(k if "/" in k else f"{k}/tcp" for k in exposed if (k if "/" in k else f"{k}/tcp") not in published)
    return ", ".join(parts)


def port_lines(bindings: list[Binding]) -> list[str]:
    """`docker port NAME`: `80/tcp -> 0.0.0.0:8080`."""
    return [f"{b.container_port}/{b.proto} -> {b.host_ip or '0.0.0.0'}:{b.host_port}"
            for b in sorted(bindings, key=lambda b: (b.container_port, b.proto))]
