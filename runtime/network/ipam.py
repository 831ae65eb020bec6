"""IPAM: which subnet a network gets and which address a container gets in it.

Docker's defaults: the default bridge takes `bip` (172.17.0.1/16); user networks are carved from
`default-address-pools` (172.17-31.0.0/16, then 192.168.0.0/16 in /20s), skipping any subnet that
overlaps another network or a route of the host ("unless taken"). Addresses are handed out lowest
first, never the network, gateway or broadcast address. Callers hold the network lock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from pydock.errors import ConflictError, UsageError

DEFAULT_BIP = "172.17.0.1/16"
# libnetwork ipamutils: 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/16 cut into /20s.
DEFAULT_POOLS: tuple[tuple[str, int], ...] = (*((f"172.{n}.0.0/16", 16) for n in range(17, 32)),
                                              ("192.168.0.0/16", 20))


def host_routes(proc: Path = Path("/proc")) -> list[IPv4Network]:
    """The IPv4 destinations in the host's main routing table (/proc/net/route), default route excluded."""
    out = []
    try:
        lines = (proc / "net" / "route").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in lines:
        f = line.split()
        if len(f) < 8:
            continue
        dest = IPv4Address(bytes.fromhex(f[1])[::-1])
        mask = IPv4Address(bytes.fromhex(f[7])[::-1])
        net = IPv4Network(f"{dest}/{mask}", strict=False)
        if net.prefixlen:
            out.append(net)
    return out


def parse_subnet(text: str, what: str = "--subnet") -> IPv4Network:
    try:
        net = IPv4Network(text, strict=False)
    except ValueError:
        raise UsageError(f"invalid {what} {text!r}: expected an IPv4 CIDR like 10.1.0.0/24") from None
    if net.prefixlen > 30:
        raise UsageError(f"invalid {what} {text!r}: a /{net.prefixlen} has no room for containers")
    return net


def parse_bip(text: str) -> tuple[IPv4Network, IPv4Address]:
    """daemon.json `bip`: the bridge's own address with its prefix, e.g. 172.17.0.1/16."""
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        raise UsageError(f"invalid bip {text!r}: expected an address with a prefix like 172.17.0.1/16") from None
    return iface.network, iface.ip


def overlapping(net: IPv4Network, others: Iterable[IPv4Network]) -> IPv4Network | None:
    return next((o for o in others if net.overlaps(o)), None)


def choose_subnet(pools: Iterable[tuple[str, int]], used: list[IPv4Network]) -> IPv4Network:
    for base, size in pools:
        for cand in IPv4Network(base).subnets(new_prefix=size):
            if overlapping(cand, used) is None:
                return cand
    raise ConflictError("could not find an available, non-overlapping IPv4 address pool among the "
                        "defaults to assign to the network")


def check_gateway(net: IPv4Network, gateway: str) -> IPv4Address:
    try:
        gw = IPv4Address(gateway)
    except ValueError:
        raise UsageError(f"invalid --gateway {gateway!r}: not an IPv4 address") from None
    if gw not in net or gw in (net.network_address, net.broadcast_address):
        raise UsageError(f"invalid --gateway {gateway}: not a host address of subnet {net}")
    return gw


def allocate(net: IPv4Network, gateway: IPv4Address, taken: Iterable[str], wanted: str = "") -> IPv4Address:
    """An address of `net` not in `taken`: `wanted` (--ip) if free, else the lowest free one."""
    used = {IPv4Address(t) for t in taken} | {gateway}
    if wanted:
        try:
            ip = IPv4Address(wanted)
        except ValueError:
            raise UsageError(f"invalid --ip {wanted!r}: not an IPv4 address") from None
        if ip not in net or ip in (net.network_address, net.broadcast_address):
            raise UsageError(f"invalid --ip {wanted}: not in the network's subnet {net}")
        if ip in used:
            raise ConflictError(f"Address already in use: {wanted}")
        return ip
    for ip in net.hosts():
        if ip not in used:
            return ip
    raise ConflictError(f"no available IPv4 addresses on this network's address pools: {net}")


def mac_for(ip: IPv4Address) -> str:
    """Docker's MAC for an address: 02:42 then the address's four bytes (locally administered)."""
    return "02:42:" + ":".join(f"{b:02x}" for b in ip.packed)
