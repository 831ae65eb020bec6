"""A container's side of networking: checks at create, the address and ports it is given (recorded
as its endpoints, under the network lock), its /etc files, the plumbing its shim does at start and
undoes at exit, release at `rm`, and cleanup of what a shim killed with -9 left.

Lifecycle and the shim call this module with a few lines; nothing here imports pyroute2 unless a
container actually has a network to plumb.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Address
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydock.runtime.network import ipam, ports
from pydock.runtime.network.store import NetworkStore

from pydock.errors import ConflictError, NotFoundError, UsageError
from pydock.settings import Settings

if TYPE_CHECKING:
    from pydock.runtime.spec import ContainerSpec
    from pydock.runtime.store import ContainerRecord

USER_ONLY = "supported on user defined networks only"


def _mode(spec: ContainerSpec) -> str:
    """The network mode of a spec. Without --network Docker's default is the bridge; pydock's is the
    bridge only for a container that publishes ports, else none: every state root on a host shares
    the default bridge's name, subnet and nft table, so parallel roots (the test suite, several
    users) would hand out one address twice and overwrite each other's rules (docs/network.md)."""
    if spec.network:
        return "bridge" if spec.network == "default" else spec.network  # Docker's API says "default"
    return "bridge" if spec.publish or spec.publish_all else "none"


def bridged(mode: str) -> bool:
    return mode not in ("none", "host") and not mode.startswith("container:")


def check_spec(settings: Settings, spec: ContainerSpec) -> None:
    """Refuses a bad network request before anything is made (one-line errors)."""
    mode = _mode(spec)
    for p in spec.publish:
        ports.parse_publish(p)
    ports.expose_keys(spec.expose)
    for h in spec.add_hosts:
        name, sep, addr = h.partition(":")
        if not sep or not name or not addr:
            raise UsageError(f"invalid argument {h!r} for --add-host: expected HOST:IP")
        if addr != "host-gateway":
            _ipv4(addr, "--add-host")
    for d in spec.dns:
        _ipv4(d, "--dns")
    user = bridged(mode) and mode != "bridge"
    if spec.ip and not user:
        raise UsageError(f"user specified IP address is {USER_ONLY}")
    if spec.network_aliases and not user:
        raise UsageError(f"network-scoped alias is {USER_ONLY}")
    if mode.startswith("container:"):
        if spec.publish or spec.publish_all:
            raise UsageError("conflicting options: port publishing and the container type network mode")
        if spec.hostname or spec.add_hosts or spec.dns:
            raise UsageError("conflicting options: --hostname, --add-host and --dns cannot be used with "
                             "the container network mode")
        from pydock.runtime.store import ContainerStore

        ContainerStore(settings.root).get(mode.partition(":")[2])
    elif user:
        NetworkStore(settings.root).get(mode)


def _ipv4(text: str, flag: str) -> str:
    try:
        return str(IPv4Address(text))
    except ValueError:
        raise UsageError(f"invalid {flag} value {text!r}: not an IPv4 address") from None


def new_endpoint(store: NetworkStore, net: dict[str, Any], cid: str, name: str, aliases: tuple[str, ...],
                 ip: str, index: int) -> dict[str, Any]:
    """An endpoint (the allocation) on `net`; caller holds the lock and saves it."""
    from pydock.runtime.network.networks import subnet_of

    subnet, gw = subnet_of(net)
    taken = [e["IPAddress"] for e in store.endpoints(net["Id"])]
    addr = ipam.allocate(subnet, gw, taken, ip)
    return {"ContainerID": cid, "ContainerName": name, "EndpointID": os.urandom(32).hex(),
            "NetworkID": net["Id"], "IPAddress": str(addr), "IPPrefixLen": subnet.prefixlen,
            "Gateway": str(gw), "MacAddress": ipam.mac_for(addr), "Aliases": list(aliases),
            "Index": index, "HostIf": f"veth{cid[:8]}{index}", "Ports": [], "Active": False,
            "IPAMConfig": {"IPv4Address": ip} if ip else None}


def _all_bindings(store: NetworkStore) -> list[ports.Binding]:
    return [ports.Binding.from_json(p) for n in store.list() for e in store.endpoints(n["Id"])
            for p in e.get("Ports") or []]


def allocate(settings: Settings, cid: str, name: str, spec: ContainerSpec,
             exposed: dict[str, Any]) -> dict[str, Any]:
    """Records the container's endpoint (address, ports) and returns its HostConfig/Config additions."""
    mode = _mode(spec)
    extra: dict[str, Any] = {"ExtraHosts": list(spec.add_hosts) or None, "Dns": list(spec.dns),
                             "DnsOptions": [], "DnsSearch": [], "PublishAllPorts": spec.publish_all}
    requests = [r for p in spec.publish for r in ports.parse_publish(p)]
    extra["PortBindings"] = {f"{r.container_port}/{r.proto}": [{"HostIp": r.host_ip, "HostPort": str(r.host_port or "")}]
                             for r in requests}
    all_exposed = {**exposed, **{f"{r.container_port}/{r.proto}": {} for r in requests}}
    if mode.startswith("container:"):
        from pydock.runtime.store import ContainerStore

        other = ContainerStore(settings.root).get(mode.partition(":")[2])
        return {"HostConfig": {**extra, "NetworkMode": f"container:{other.id}"}, "ExposedPorts": all_exposed}
    if not bridged(mode):
        return {"HostConfig": {**extra, "NetworkMode": mode}, "ExposedPorts": all_exposed}
    if spec.publish_all:
        requests += [r for r in ports.parse_exposed(exposed)
                     if all((r.container_port, r.proto) != (q.container_port, q.proto) for q in requests)]
    # imported only for a bridged container: networks brings nftables code, shutil and subprocess
    # (~14 ms of `run --network none`, docs/performance.md)
    from pydock.runtime.network.config import load
    from pydock.runtime.network.networks import ensure_predefined

    store = NetworkStore(settings.root)
    with store.lock():
        ensure_predefined(store, load())
        net = store.get(mode)
        ep = new_endpoint(store, net, cid, name, tuple(spec.network_aliases), spec.ip, 0)
        ep["Ports"] = [b.to_json() for b in ports.reserve(requests, _all_bindings(store))]
        store.save_endpoint(net["Id"], ep)
    return {"HostConfig": {**extra, "NetworkMode": mode}, "ExposedPorts": all_exposed}


# -- /etc files -------------------------------------------------------------------------------------

_HOSTS_HEAD = ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
               "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n")


def _host_resolv(path: Path = Path("/etc/resolv.conf")) -> tuple[list[str], list[str]]:
    """(nameservers, other lines such as search/options) of the host's resolv.conf."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return [], []
    ns = [ln.split()[1] for ln in lines if ln.startswith("nameserver") and len(ln.split()) > 1]
    rest = [ln for ln in lines if ln.split()[:1] in (["search"], ["options"])]
    return ns, rest


def upstreams(dns: list[str]) -> list[str]:
    from pydock.runtime.network.config import load

    return dns or list(load().dns) or _host_resolv()[0] or ["8.8.8.8", "8.8.4.4"]


def write_etc(settings: Settings, cdir: Path, cid: str, hostname: str, host_config: dict[str, Any]) -> bool:
    """Writes hostname, hosts and resolv.conf as Docker does for a bridged or container: container;
    False when the caller's own files apply (none, host)."""
    mode = host_config.get("NetworkMode", "none")
    if mode.startswith("container:"):
        import shutil

        src = settings.containers / mode.partition(":")[2]
        for n in ("hostname", "hosts", "resolv.conf"):
            shutil.copyfile(src / n, cdir / n)
        return True
    if not bridged(mode):
        return False
    store = NetworkStore(settings.root)
    eps = store.of_container(cid)
    gateway = eps[0][1]["Gateway"] if eps else ""
    extra = []
    for h in host_config.get("ExtraHosts") or []:
        name, _, addr = h.partition(":")
        extra.append(f"{gateway if addr == 'host-gateway' else addr}\t{name}\n")
    own = "".join(f"{ep['IPAddress']}\t{hostname}\n" for _, ep in eps[:1])
    (cdir / "hostname").write_text(hostname + "\n")
    (cdir / "hosts").write_text(_HOSTS_HEAD + "".join(extra) + own)
    dns = list(host_config.get("Dns") or [])
    ns, rest = _host_resolv()
    head = "# Generated by pydock (as Docker Engine writes it).\n\n"
    if mode != "bridge":  # a user network: the embedded resolver, which forwards to the upstreams
        body = "nameserver 127.0.0.11\n" + "".join(ln + "\n" for ln in rest if ln.startswith("search")) + \
               "options ndots:0\n\n# ExtServers: [" + " ".join(upstreams(dns)) + "]\n"
    else:  # the default bridge: the host's servers, less those only the host's loopback can reach
        servers = dns or [s for s in ns if not s.startswith("127.") and s != "::1"] or ["8.8.8.8", "8.8.4.4"]
        body = "".join(f"nameserver {s}\n" for s in servers) + "".join(ln + "\n" for ln in rest)
    (cdir / "resolv.conf").write_text(head + body)
    return True


# -- namespaces: start, exit, rm ----------------------------------------------------------------

def netns_path(settings: Settings, record: ContainerRecord) -> str:
    """The namespace container_init joins: '' for none/host (it unshares or stays), the container's
    own netns file when bridged, the other container's for container:NAME."""
    mode = record.config["HostConfig"].get("NetworkMode", "none")
    if mode.startswith("container:"):
        from pydock.runtime.store import ContainerStore

        try:
            other = ContainerStore(settings.root).get(mode.partition(":")[2])
        except NotFoundError:
            raise ConflictError(f"cannot join network of a non running container: {mode.partition(':')[2]}") from None
        if not other.running or other.pid <= 0:
            raise ConflictError(f"cannot join network of a non running container: {other.name}")
        return f"/proc/{other.pid}/ns/net"
    return str(settings.run / "netns" / record.id) if bridged(mode) else ""


class Attachment:
    """What the shim holds while its container runs: the netns, its veths, the DNS responder."""

    def __init__(self, settings: Settings, cid: str) -> None:
        self.settings = settings
        self.cid = cid
        self.netns = settings.run / "netns" / cid
        self.dns: Any = None

    def close(self) -> None:
        if self.dns is not None:
            self.dns.close()
            self.dns = None
        teardown(self.settings, self.cid, release=False)


def plumb(settings: Settings, record: ContainerRecord) -> Attachment | None:
    """In the shim, before the container starts: its netns with a veth per network, live rules."""
    mode = record.config["HostConfig"].get("NetworkMode", "none")
    if not bridged(mode):
        return None
    from pydock.runtime.network import bridge
    from pydock.runtime.network.networks import sync_rules

    att = Attachment(settings, record.id)
    store = NetworkStore(settings.root)
    bridge.make_netns(att.netns)
    try:
        eps = store.of_container(record.id)
        if not eps:
            raise NotFoundError(f"container {record.name} has no network endpoint: remove it and run it again")
        for net, ep in eps:
            _plumb_one(att.netns, net, ep)
        with store.lock():
            for net, ep in eps:
                ep["Active"] = True
                store.save_endpoint(net["Id"], ep)
            sync_rules(store)
        if any(net["Name"] != "bridge" for net, _ in eps):
            from pydock.runtime.network.dns import Responder

            att.dns = Responder(settings, record.id, att.netns,
                                upstreams(list(record.config["HostConfig"].get("Dns") or [])))
    except BaseException:
        att.close()
        raise
    return att


def _plumb_one(netns: Path, net: dict[str, Any], ep: dict[str, Any]) -> None:
    from pydock.runtime.network import bridge
    from pydock.runtime.network.networks import BRIDGE_OPT, MTU_OPT, subnet_of

    subnet, gw = subnet_of(net)
    mtu = int(net["Options"].get(MTU_OPT, 1500))
    bridge.ensure_bridge(net["Options"][BRIDGE_OPT], gw, subnet, mtu)
    route = None if net["Internal"] or int(ep.get("Index", 0)) else gw  # one default route: the first network's
    bridge.add_veth(netns, ep["HostIf"], f"eth{ep.get('Index', 0)}", net["Options"][BRIDGE_OPT],
                    IPv4Address(ep["IPAddress"]), subnet.prefixlen, route, ep["MacAddress"], mtu)


def attach_live(settings: Settings, cid: str, net: dict[str, Any], ep: dict[str, Any]) -> None:
    """`network connect` of a running container: plumbed now, in its netns."""
    from pydock.runtime.network.networks import sync_rules

    store = NetworkStore(settings.root)
    try:
        _plumb_one(settings.run / "netns" / cid, net, ep)
    except BaseException:
        with store.lock():
            store.delete_endpoint(net["Id"], cid)
        raise
    with store.lock():
        ep["Active"] = True
        store.save_endpoint(net["Id"], ep)
        sync_rules(store)


def detach_live(settings: Settings, cid: str, net: dict[str, Any], ep: dict[str, Any]) -> None:
    from pydock.runtime.network import bridge
    from pydock.runtime.network.networks import sync_rules

    store = NetworkStore(settings.root)
    if Path(f"/sys/class/net/{ep['HostIf']}").exists():
        bridge.delete_link(ep["HostIf"])
    with store.lock():
        store.delete_endpoint(net["Id"], cid)
        sync_rules(store)


def teardown(settings: Settings, cid: str, release: bool) -> None:
    """Undoes the plumbing of `cid` (veths, netns, live rules); with `release`, frees its endpoints
    too (`rm`). Cheap for a container that never had a network: no netlink, no nft."""
    store = NetworkStore(settings.root)
    eps = store.of_container(cid)
    netns = settings.run / "netns" / cid
    if not eps and not netns.exists():
        return
    from pydock.runtime.network import bridge
    from pydock.runtime.network.networks import sync_rules

    for _, ep in eps:
        if Path(f"/sys/class/net/{ep['HostIf']}").exists():
            bridge.delete_link(ep["HostIf"])
    if netns.exists():
        bridge.delete_netns(netns)
    with store.lock():
        for net, ep in store.of_container(cid):
            if release:
                store.delete_endpoint(net["Id"], cid)
            elif ep.get("Active"):
                ep["Active"] = False
                store.save_endpoint(net["Id"], ep)
        sync_rules(store)


def release(settings: Settings, cid: str) -> None:
    teardown(settings, cid, release=True)


def cleanup_stale(settings: Settings) -> list[str]:
    """What shims killed with -9 left (netns files, veths, live rules) and allocations of containers
    whose create crashed; the ids cleaned. Safe while other containers run."""
    from pydock.runtime.atomic import Lock
    from pydock.runtime.network.networks import shim_alive

    cleaned = set()
    try:
        for cid in os.listdir(settings.run / "netns"):
            if not shim_alive(settings, cid):
                teardown(settings, cid, release=not (settings.containers / cid / "config.json").exists())
                cleaned.add(cid)
    except FileNotFoundError:
        pass
    store = NetworkStore(settings.root)
    # A create holds containers.lock until config.json is written: under it, an endpoint without
    # one belongs to a create that crashed.
    settings.root.mkdir(parents=True, exist_ok=True)
    with Lock(settings.root / "containers.lock"):
        for net in store.list():
            for ep in store.endpoints(net["Id"]):
                cid = ep["ContainerID"]
                if not (settings.containers / cid / "config.json").exists():
                    release(settings, cid)
                    cleaned.add(cid)
                elif ep.get("Active") and not shim_alive(settings, cid):
                    teardown(settings, cid, release=False)
                    cleaned.add(cid)
    return sorted(cleaned)


# -- what inspect, ps and port show ---------------------------------------------------------------

def bindings(root: Path, cid: str) -> list[ports.Binding]:
    return [ports.Binding.from_json(p) for _, ep in NetworkStore(root).of_container(cid)
            for p in ep.get("Ports") or []]


def _root_of(record: ContainerRecord) -> Path:
    return record.dir.parent.parent  # $ROOT/containers/<id>


def ps_ports(record: ContainerRecord) -> str:
    """The PORTS column of `ps`: published ports, then exposed ones (a running container only)."""
    if not record.running:
        return ""
    exposed = record.config.get("Config", {}).get("ExposedPorts") or {}
    return ports.ps_column(bindings(_root_of(record), record.id), exposed)


def network_settings(record: ContainerRecord, run: Path | None = None) -> dict[str, Any]:
    """Docker's `NetworkSettings` of a container (the legacy top-level fields: the default bridge's)."""
    root = _root_of(record)
    if run is None:
        run = Settings.from_env().run
    eps = NetworkStore(root).of_container(record.id)
    exposed = record.config.get("Config", {}).get("ExposedPorts") or {}
    port_map: dict[str, Any] = {k: None for k in exposed}
    if record.running:
        port_map.update(ports.port_bindings(bindings(root, record.id)))
    nets = {}
    for net, ep in eps:
        nets[net["Name"]] = {"IPAMConfig": ep.get("IPAMConfig"), "Links": None,
                             "Aliases": (ep.get("Aliases") or None) if net["Name"] != "bridge" else None,
                             "MacAddress": ep["MacAddress"], "DriverOpts": None, "NetworkID": net["Id"],
                             "EndpointID": ep["EndpointID"], "Gateway": ep["Gateway"], "IPAddress": ep["IPAddress"],
                             "IPPrefixLen": ep["IPPrefixLen"], "IPv6Gateway": "", "GlobalIPv6Address": "",
                             "GlobalIPv6PrefixLen": 0,
                             "DNSNames": [record.name, record.id[:12], *(ep.get("Aliases") or [])]
                             if net["Name"] != "bridge" else None}
    mode = record.config["HostConfig"].get("NetworkMode", "none")
    if mode in ("none", "host"):
        nets[mode] = {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "NetworkID": "",
                      "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                      "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DriverOpts": None, "DNSNames": None}
    default = nets.get("bridge") or {}
    netns = run / "netns" / record.id
    return {"Bridge": "", "SandboxID": record.id if netns.exists() else "",
            "SandboxKey": str(netns) if netns.exists() else "", "HairpinMode": False,
            "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "Ports": port_map,
            "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
            "EndpointID": default.get("EndpointID", ""), "Gateway": default.get("Gateway", ""),
            "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "IPAddress": default.get("IPAddress", ""),
            "IPPrefixLen": default.get("IPPrefixLen", 0), "IPv6Gateway": "",
            "MacAddress": default.get("MacAddress", ""), "Networks": nets}
