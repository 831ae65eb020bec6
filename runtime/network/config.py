"""The host-wide network settings: daemon.json's `bip`, `mtu`, `default-address-pools`, `dns`, and the
names pydock gives its kernel objects.

`PYDOCK_BRIDGE` (default `pydock0`) names the default bridge and `PYDOCK_NFT_TABLE` (default
`pydock`) the nftables table, so a test or a second state root on one host can keep its own.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from pydock.runtime.network import ipam

from pydock.errors import ConfigError, UsageError

_BIP_NET, _BIP_GW = IPv4Network("172.17.0.0/16"), IPv4Address("172.17.0.1")


@dataclass(frozen=True)
class NetConfig:
    bridge: str = "pydock0"
    bip_subnet: IPv4Network = _BIP_NET
    bip_gateway: IPv4Address = _BIP_GW
    pools: tuple[tuple[str, int], ...] = ipam.DEFAULT_POOLS
    mtu: int = 1500
    dns: tuple[str, ...] = ()
    table: str = "pydock"
    bip_explicit: bool = False  # daemon.json names bip: use it even if a host route overlaps it


def load() -> NetConfig:
    from pydock import daemon_config

    cfg = daemon_config.load()
    raw = cfg.network
    src = cfg.source or "daemon.json"
    kw: dict[str, object] = {"bridge": os.environ.get("PYDOCK_BRIDGE", "pydock0"),
                             "table": os.environ.get("PYDOCK_NFT_TABLE", "pydock")}
    if len(str(kw["bridge"])) > 15:
        raise ConfigError(f"PYDOCK_BRIDGE {kw['bridge']!r}: an interface name has at most 15 characters")
    try:
        if "bip" in raw:
            kw["bip_subnet"], kw["bip_gateway"] = ipam.parse_bip(str(raw["bip"]))
            kw["bip_explicit"] = True
        if "mtu" in raw:
            mtu = raw["mtu"]
            if not isinstance(mtu, int) or not 68 <= mtu <= 65535:
                raise ConfigError(f"{src}: 'mtu' must be an integer from 68 to 65535, not {mtu!r}")
            kw["mtu"] = mtu
        if "default-address-pools" in raw:
            pools = []
            for p in raw["default-address-pools"]:
                if not isinstance(p, dict) or "base" not in p or not isinstance(p.get("size"), int):
                    raise ConfigError(f"{src}: default-address-pools entries need 'base' and an integer 'size'")
                base = IPv4Network(p["base"])
                if not base.prefixlen <= p["size"] <= 30:
                    raise ConfigError(f"{src}: default-address-pools size {p['size']} does not fit base {base}")
                pools.append((str(base), int(p["size"])))
            kw["pools"] = tuple(pools)
        if "dns" in raw:
            kw["dns"] = tuple(str(ipaddress.IPv4Address(d)) for d in raw["dns"])
    except (ValueError, TypeError, UsageError) as exc:
        raise ConfigError(f"{src}: invalid network setting: {exc}") from exc
    return NetConfig(**kw)  # type: ignore[arg-type]
