"""Netlink plumbing with pyroute2: bridges, a container's network namespace, veth pairs.

Why a bind-mounted netns file and not an unshare in container_init: without a daemon, someone must
set the namespace up before the container's command runs and tear it down after; a namespace that
is a file ($PYDOCK_RUN/netns/<id>) exists before the container does, so the shim plumbs it with
plain netlink calls from the host side, container_init only setns's into it, `--network container:`
and `exec` join it the same way, and a shim killed with -9 leaves a file that cleanup finds by name.

Network namespaces are per thread on Linux (setns/unshare with CLONE_NEWNET change only the calling
thread), and a netlink socket lives in the namespace of the thread that opened it. So work inside a
namespace runs in a short-lived thread that enters it first: no fork, no `ip netns exec`.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any, TypeVar

from pydock.runtime import syscalls

from pydock.errors import PydockError, RuntimeFailure

T = TypeVar("T")


def _iproute() -> Any:
    from pyroute2 import IPRoute  # about 0.1 s to import: only containers with a network pay it

    return IPRoute()


def _in_thread(fn: Callable[[], T], netns: Path | None = None, new: bool = False) -> T:
    """Runs `fn` in a thread of its own inside `netns` (or a fresh namespace with `new`)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            if new:
                syscalls.unshare(syscalls.CLONE_NEWNET)
            elif netns is not None:
                fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    syscalls.setns(fd, syscalls.CLONE_NEWNET)
                finally:
                    os.close(fd)
            box["v"] = fn()
        except BaseException as exc:  # noqa: BLE001 - carried to the caller's thread and raised there
            box["e"] = exc

    t = threading.Thread(target=work, name="netns")
    t.start()
    t.join()
    if "e" in box:
        exc = box["e"]
        if isinstance(exc, PydockError):
            raise exc
        raise RuntimeFailure(f"network setup: {exc}") from exc
    return box["v"]  # type: ignore[no-any-return]


def _index(ipr: Any, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else 0


def sysctl(path: str, value: str) -> None:
    p = Path("/proc/sys") / path
    try:
        if p.read_text().strip() != value:
            p.write_text(value)
    except OSError as exc:
        raise RuntimeFailure(f"cannot set {path.replace('/', '.')}={value}: {exc.strerror}") from exc


def ensure_bridge(name: str, gateway: IPv4Address, subnet: IPv4Network, mtu: int) -> None:
    """The bridge `name` up with the gateway address; made if missing (idempotent)."""
    with _iproute() as ipr:
        idx = _index(ipr, name)
        if not idx:
            try:
                ipr.link("add", ifname=name, kind="bridge")
            except Exception as exc:  # pyroute2's NetlinkError: EEXIST when a concurrent run made it
                if getattr(exc, "code", 0) != errno.EEXIST:
                    raise RuntimeFailure(f"cannot create bridge {name}: {exc}") from exc
            idx = _index(ipr, name)
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=idx, family=2)}
        if (str(gateway), subnet.prefixlen) not in have:
            try:
                ipr.addr("add", index=idx, address=str(gateway), prefixlen=subnet.prefixlen)
            except Exception as exc:
                if getattr(exc, "code", 0) != errno.EEXIST:
                    raise RuntimeFailure(f"cannot add {gateway}/{subnet.prefixlen} to {name}: {exc}") from exc
        ipr.link("set", index=idx, state="up", mtu=mtu)
    sysctl("net/ipv4/ip_forward", "1")
    # The loopback path (-p reached on 127.0.0.1): DNAT in the output hook sends 127.0.0.1-sourced
    # packets out of the bridge, which the kernel drops as martians unless route_localnet is on.
    sysctl(f"net/ipv4/conf/{name}/route_localnet", "1")


def delete_link(name: str) -> bool:
    with _iproute() as ipr:
        idx = _index(ipr, name)
        if not idx:
            return False
        try:
            ipr.link("del", index=idx)
        except Exception as exc:
            if getattr(exc, "code", 0) != errno.ENODEV:
                raise RuntimeFailure(f"cannot delete {name}: {exc}") from exc
        return True


def link_names() -> list[str]:
    with _iproute() as ipr:
        return [str(link.get_attr("IFLA_IFNAME")) for link in ipr.get_links()]


def make_netns(path: Path) -> None:
    """A new network namespace bound on `path` (a file), with its loopback up."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        delete_netns(path)  # left by a shim killed with -9
    path.touch()

    def work() -> None:
        syscalls.mount(f"/proc/self/task/{threading.get_native_id()}/ns/net", path, None, syscalls.MS_BIND)
        syscalls.link_up("lo")

    try:
        _in_thread(work, new=True)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def delete_netns(path: Path) -> None:
    try:
        syscalls.umount(path, syscalls.MNT_DETACH)
    except RuntimeFailure:
        pass  # not mounted (a half-made one)
    path.unlink(missing_ok=True)


def add_veth(netns: Path, host_if: str, inner_if: str, bridge: str, ip: IPv4Address, prefix: int,
             gateway: IPv4Address | None, mac: str, mtu: int) -> None:
    """A veth pair: `host_if` on `bridge`, its peer renamed `inner_if` inside `netns` with `ip`, `mac`,
    and a default route via `gateway` (None: an --internal network, no route out)."""
    tmp = "pt" + host_if[4:]  # the peer's name until it is inside the namespace
    with _iproute() as ipr:
        br = _index(ipr, bridge)
        if not br:
            raise RuntimeFailure(f"bridge {bridge} is missing")
        if _index(ipr, host_if):
            ipr.link("del", index=_index(ipr, host_if))  # left by a killed shim
        ipr.link("add", ifname=host_if, kind="veth", peer=tmp)
        try:
            h = _index(ipr, host_if)
            ipr.link("set", index=h, master=br, mtu=mtu)
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ipr.link("set", index=_index(ipr, tmp), net_ns_fd=fd)
            finally:
                os.close(fd)

            def inside() -> None:
                with _iproute() as inner:
                    i = _index(inner, tmp)
                    inner.link("set", index=i, ifname=inner_if, address=mac, mtu=mtu)
                    inner.addr("add", index=i, address=str(ip), prefixlen=prefix)
                    inner.link("set", index=i, state="up")
                    if gateway is not None and not inner.get_default_routes(family=2):
                        inner.route("add", dst="0.0.0.0/0", gateway=str(gateway))

            _in_thread(inside, netns)
            ipr.link("set", index=h, state="up")
        except BaseException:
            if _index(ipr, host_if):
                ipr.link("del", index=_index(ipr, host_if))
            raise


def remove_inner(netns: Path, inner_if: str) -> None:
    """Deletes `inner_if` inside `netns` (disconnect): its host end goes with it."""
    def work() -> None:
        with _iproute() as inner:
            i = _index(inner, inner_if)
            if i:
                inner.link("del", index=i)

    _in_thread(work, netns)
