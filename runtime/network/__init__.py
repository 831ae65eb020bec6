"""Networks: the default bridge, user-defined bridge networks, published ports, embedded DNS.

The public API (the CLI, the Engine API server and compose call these): `create_network`,
`remove_network`, `list_networks`, `inspect_network`, `connect`, `disconnect`, `prune`. The rest:
`store.py` (records), `ipam.py` (subnets, addresses), `ports.py` (-p), `bridge.py` (netlink),
`nat.py` (nftables), `dns.py` (the resolver on 127.0.0.11), `endpoint.py` (a container's side).

The API is imported on first use (PEP 562): the shim and `run` import `endpoint` for a container
without a network, and networks.py (nftables, netlink) would cost them ~1.4 MB and ~10 ms.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        from pydock.runtime.network import networks

        return getattr(networks, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
