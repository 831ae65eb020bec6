"""Networks: the default bridge, user-defined bridge networks, published ports, embedded DNS.

The public API (the CLI, the Engine API server and compose call these): `create_network`,
`remove_network`, `list_networks`, `inspect_network`, `connect`, `disconnect`, `prune`. The rest:
`store.py` (records), `ipam.py` (subnets, addresses), `ports.py` (-p), `bridge.py` (netlink),
`nat.py` (nftables), `dns.py` (the resolver on 127.0.0.11), `endpoint.py` (a container's side).
"""

from __future__ import annotations

from pydock.runtime.network.networks import (
    connect,
    create_network,
    disconnect,
    inspect_network,
    list_networks,
    prune,
    remove_network,
)

__all__ = ["connect", "create_network", "disconnect", "inspect_network", "list_networks", "prune", "remove_network"]
