"""The public network API: create_network, remove_network, list_networks, inspect_network, connect,
disconnect, prune. The CLI (`pydock network ...`), the Engine API server and compose call these
same functions with plain arguments and get Docker's JSON shapes back.

The predefined networks `bridge` (the default bridge, `pydock0`), `host` and `none` are records too,
made on first use, so `network ls` shows what Docker's shows.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pydock.runtime.atomic import is_locked
from pydock.runtime.network import bridge, ipam, nat
from pydock.runtime.network.config import NetConfig, load
from pydock.runtime.network.store import PREDEFINED, NetworkStore
from pydock.runtime.store import SHIM_LOCK

from pydock.errors import ConflictError, NotFoundError, UsageError
from pydock.settings import Settings
from pydock.units import utc_iso

BRIDGE_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"


def _new_id() -> str:
    return os.urandom(32).hex()


def _record(name: str, driver: str, subnet: str = "", gateway: str = "", internal: bool = False,
            labels: dict[str, str] | None = None, options: dict[str, str] | None = None) -> dict[str, Any]:
    return {"Name": name, "Id": _new_id(), "Created": utc_iso(), "Scope": "local", "Driver": driver,
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {},
                     "Config": [{"Subnet": subnet, "Gateway": gateway}] if subnet else []},
            "Internal": internal, "Attachable": False, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Options": dict(options or {}), "Labels": dict(labels or {})}


def ensure_predefined(store: NetworkStore, cfg: NetConfig) -> None:
    """Makes the records of bridge, host and none if missing. Caller holds the network lock."""
    nets = {n["Name"]: n for n in store.list()}
    have = set(nets)
    old = nets.get("bridge")
    if old is not None and cfg.bip_explicit and not store.endpoints(old["Id"]) and \
            old["IPAM"]["Config"][0] != {"Subnet": str(cfg.bip_subnet), "Gateway": str(cfg.bip_gateway)}:
        # daemon.json's bip changed and nothing uses the old one: the bridge follows, as dockerd's at start
        store.delete(old["Id"])
        bridge.delete_link(old["Options"][BRIDGE_OPT])
        have.discard("bridge")
    if "bridge" not in have:
        subnet, gateway = cfg.bip_subnet, cfg.bip_gateway
        taken = ipam.host_routes() + [subnet_of(n)[0] for n in nets.values() if is_bridge(n) and n["Name"] != "bridge"]
        if not cfg.bip_explicit and ipam.overlapping(subnet, taken) is not None:
            subnet = ipam.choose_subnet(cfg.pools, taken)  # Docker's "172.17.0.0/16 unless taken"
            gateway = next(subnet.hosts())
        store.save(_record("bridge", "bridge", str(subnet), str(gateway), options={
            BRIDGE_OPT: cfg.bridge, "com.docker.network.bridge.default_bridge": "true",
            "com.docker.network.bridge.enable_ip_masquerade": "true", MTU_OPT: str(cfg.mtu)}))
    if "host" not in have:
        store.save(_record("host", "host"))
    if "none" not in have:
        store.save(_record("none", "null"))


def subnet_of(net: dict[str, Any]) -> tuple[IPv4Network, IPv4Address]:
    c = net["IPAM"]["Config"][0]
    return IPv4Network(c["Subnet"]), IPv4Address(c["Gateway"])


def is_bridge(net: dict[str, Any]) -> bool:
    return net["Driver"] == "bridge" and bool(net["IPAM"]["Config"])


def sync_rules(store: NetworkStore, force: bool = False) -> None:
    """Renders pydock's nftables table from the records (`force`: even if unchanged since the last
    render). Caller holds the network lock."""
    rules, dnats = [], []
    for net in store.list():
        if not is_bridge(net):
            continue
        eps = store.endpoints(net["Id"])
        if net["Name"] == "bridge" and not eps:
            continue  # an unused default bridge needs no rule: the table goes once nothing uses networks
        rules.append(nat.NetRule(net["Options"][BRIDGE_OPT], net["IPAM"]["Config"][0]["Subnet"], net["Internal"]))
        for ep in eps:
            if ep.get("Active"):
                for p in ep.get("Ports") or []:
                    dnats.append(nat.Dnat(p["HostIp"], int(p["HostPort"]), p["Proto"], ep["IPAddress"],
                                          int(p["ContainerPort"])))
    nat.apply(rules, dnats, force=force)


def create_network(settings: Settings, name: str, driver: str = "bridge", subnet: str = "", gateway: str = "",
                   internal: bool = False, labels: dict[str, str] | None = None,
                   options: dict[str, str] | None = None) -> dict[str, Any]:
    """`network create`: a bridge network with its own subnet, bridge and rules; its record."""
    from pydock.runtime.spec import check_name

    check_name(name)
    if driver != "bridge":
        raise UsageError(f"plugin \"{driver}\" not found: pydock has the bridge driver only")
    if gateway and not subnet:
        raise UsageError("invalid --gateway: a gateway needs --subnet too")
    cfg = load()
    store = NetworkStore(settings.root)
    with store.lock():
        ensure_predefined(store, cfg)
        if store.find(name) is not None and store.find(name)["Name"] == name:  # type: ignore[index]
            raise ConflictError(f"network with name {name} already exists")
        used = [subnet_of(n)[0] for n in store.list() if is_bridge(n)]
        if subnet:
            net = ipam.parse_subnet(subnet)
            clash = ipam.overlapping(net, used)
            if clash is not None:
                raise ConflictError(f"invalid pool request: Pool overlaps with other one on this address space "
                                    f"({net} overlaps {clash})")
        else:
            net = ipam.choose_subnet(cfg.pools, used + ipam.host_routes())
        gw = ipam.check_gateway(net, gateway) if gateway else next(net.hosts())
        opts = dict(options or {})
        rec = _record(name, "bridge", str(net), str(gw), internal, labels, opts)
        opts.setdefault(BRIDGE_OPT, "pd-" + rec["Id"][:12])
        opts.setdefault(MTU_OPT, str(cfg.mtu))
        rec["Options"] = opts
        try:
            bridge.ensure_bridge(opts[BRIDGE_OPT], gw, net, int(opts[MTU_OPT]))
            store.save(rec)
            sync_rules(store)
        except BaseException:
            store.delete(rec["Id"])
            bridge.delete_link(opts[BRIDGE_OPT])
            raise
    return rec


def _containers(store: NetworkStore, net: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for ep in store.endpoints(net["Id"]):
        subnet = subnet_of(net)[0]
        out[ep["ContainerID"]] = {"Name": ep["ContainerName"], "EndpointID": ep["EndpointID"],
                                  "MacAddress": ep["MacAddress"], "IPv4Address": f"{ep['IPAddress']}/{subnet.prefixlen}",
                                  "IPv6Address": ""}
    return out


def inspect_network(settings: Settings, ref: str) -> dict[str, Any]:
    store = NetworkStore(settings.root)
    if ref in PREDEFINED and store.find(ref) is None:
        with store.lock():
            ensure_predefined(store, load())
    net = store.get(ref)
    return {**net, "Containers": _containers(store, net) if is_bridge(net) else {}}


def list_networks(settings: Settings) -> list[dict[str, Any]]:
    store = NetworkStore(settings.root)
    if not all(store.find(n) for n in PREDEFINED):
        with store.lock():
            ensure_predefined(store, load())
    return [inspect_network(settings, n["Id"]) for n in store.list()]


def remove_network(settings: Settings, ref: str) -> str:
    store = NetworkStore(settings.root)
    with store.lock():
        net = store.get(ref)
        if net["Name"] in PREDEFINED:
            raise ConflictError(f"{net['Name']} is a pre-defined network and cannot be removed")
        if store.endpoints(net["Id"]):
            raise ConflictError(f"error while removing network: network {net['Name']} id {net['Id']} has active endpoints")
        store.delete(net["Id"])
        bridge.delete_link(net["Options"][BRIDGE_OPT])
        sync_rules(store)
    return str(net["Name"])


def prune(settings: Settings) -> list[str]:
    """Removes user networks no container uses, after clearing what killed shims left."""
    from pydock.runtime.network.endpoint import cleanup_stale

    cleanup_stale(settings)
    store = NetworkStore(settings.root)
    with store.lock():
        sync_rules(store, force=True)  # whatever happened to the kernel's table, it matches the records again
    gone = []
    for net in NetworkStore(settings.root).list():
        if net["Name"] not in PREDEFINED and not NetworkStore(settings.root).endpoints(net["Id"]):
            try:
                gone.append(remove_network(settings, net["Id"]))
            except (ConflictError, NotFoundError):  # a container joined it meanwhile
                continue
    return gone


def connect(settings: Settings, ref: str, container: str, aliases: tuple[str, ...] = (), ip: str = "") -> None:
    from pydock.runtime.network.endpoint import attach_live, new_endpoint
    from pydock.runtime.store import ContainerStore

    rec = ContainerStore(settings.root).get(container)
    store = NetworkStore(settings.root)
    with store.lock():
        net = store.get(ref)
        if not is_bridge(net):
            raise UsageError(f"container cannot be connected to network {net['Name']}: only bridge networks")
        mode = rec.config["HostConfig"].get("NetworkMode", "none")
        if mode in ("none", "host") or mode.startswith("container:"):
            raise ConflictError(f"container {rec.name} uses --network {mode}: it cannot join other networks")
        if store.endpoint(net["Id"], rec.id) is not None:
            raise ConflictError(f"endpoint with name {rec.name} already exists in network {net['Name']}")
        index = 1 + max((int(e.get("Index", 0)) for _, e in store.of_container(rec.id)), default=-1)
        ep = new_endpoint(store, net, rec.id, rec.name, aliases, ip, index)
        store.save_endpoint(net["Id"], ep)
        running = rec.running and (settings.run / "netns" / rec.id).exists()
    if running:
        attach_live(settings, rec.id, net, ep)


def disconnect(settings: Settings, ref: str, container: str, force: bool = False) -> None:
    from pydock.runtime.network.endpoint import detach_live
    from pydock.runtime.store import ContainerStore

    store = NetworkStore(settings.root)
    net = store.get(ref)
    try:
        rec_id = ContainerStore(settings.root).get(container).id
    except NotFoundError:
        if not force:
            raise
        rec_id = next((e["ContainerID"] for e in store.endpoints(net["Id"]) if e["ContainerName"] == container), "")
    ep = store.endpoint(net["Id"], rec_id)
    if ep is None:
        raise NotFoundError(f"container {container} is not connected to network {net['Name']}")
    detach_live(settings, rec_id, net, ep)


def shim_alive(settings: Settings, cid: str) -> bool:
    return is_locked(settings.containers / cid / SHIM_LOCK)
