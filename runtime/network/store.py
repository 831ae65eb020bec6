"""Network records: one directory per network under `$ROOT/networks/<id>/`.

`network.json` is what `network create` asked (Docker's inspect shape, less `Containers`);
`endpoints/<container id>.json` is one container's attachment: its address, MAC, aliases, published
ports and host-side veth name. An endpoint is the IPAM allocation itself, written under
`networks.lock` (one lock for the whole root), so concurrent `run`s never get one address twice, and
a crash leaves a file naming its container that cleanup can match against the container records.
"""

from __future__ import annotations

import builtins
import os
from pathlib import Path
from typing import Any

from pydock.runtime.atomic import Lock, read_json, write_json

from pydock.errors import NotFoundError

PREDEFINED = ("bridge", "host", "none")


class NetworkStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "networks"

    def lock(self) -> Lock:
        self.root.mkdir(parents=True, exist_ok=True)
        return Lock(self.root / "networks.lock")

    # -- networks ------------------------------------------------------------------------------

    def list(self) -> list[dict[str, Any]]:
        out = []
        try:
            names = sorted(os.listdir(self.dir))
        except FileNotFoundError:
            return []
        for nid in names:
            try:
                out.append(read_json(self.dir / nid / "network.json"))
            except (FileNotFoundError, ValueError):  # half-made by a crashed create: prune removes it
                continue
        return out

    def find(self, ref: str) -> dict[str, Any] | None:
        nets = self.list()
        for n in nets:
            if n["Name"] == ref or n["Id"] == ref:
                return n
        prefixed = [n for n in nets if len(ref) >= 3 and n["Id"].startswith(ref)]
        return prefixed[0] if len(prefixed) == 1 else None

    def get(self, ref: str) -> dict[str, Any]:
        n = self.find(ref)
        if n is None:
            raise NotFoundError(f"network {ref} not found")
        return n

    def save(self, net: dict[str, Any]) -> None:
        d = self.dir / net["Id"]
        (d / "endpoints").mkdir(parents=True, exist_ok=True)
        write_json(d / "network.json", net)

    def delete(self, net_id: str) -> None:
        import shutil

        shutil.rmtree(self.dir / net_id, ignore_errors=True)

    # -- endpoints (allocations) ---------------------------------------------------------------

    def endpoints(self, net_id: str) -> builtins.list[dict[str, Any]]:
        d = self.dir / net_id / "endpoints"
        out = []
        try:
            names = sorted(os.listdir(d))
        except FileNotFoundError:
            return []
        for name in names:
            if name.endswith(".json"):
                try:
                    out.append(read_json(d / name))
                except (FileNotFoundError, ValueError):
                    continue
        return out

    def endpoint(self, net_id: str, cid: str) -> dict[str, Any] | None:
        try:
            ep: dict[str, Any] = read_json(self.dir / net_id / "endpoints" / f"{cid}.json")
            return ep
        except (FileNotFoundError, ValueError):
            return None

    def save_endpoint(self, net_id: str, ep: dict[str, Any]) -> None:
        (self.dir / net_id / "endpoints").mkdir(parents=True, exist_ok=True)
        # Durable: after a host crash the address must still be known as taken.
        write_json(self.dir / net_id / "endpoints" / f"{ep['ContainerID']}.json", ep)

    def delete_endpoint(self, net_id: str, cid: str) -> None:
        (self.dir / net_id / "endpoints" / f"{cid}.json").unlink(missing_ok=True)

    def of_container(self, cid: str) -> builtins.list[tuple[dict[str, Any], dict[str, Any]]]:
        """(network, endpoint) for each network the container is attached to, in attach order."""
        out = []
        for net in self.list():
            ep = self.endpoint(net["Id"], cid)
            if ep is not None:
                out.append((net, ep))
        return sorted(out, key=lambda ne: int(ne[1].get("Index", 0)))
