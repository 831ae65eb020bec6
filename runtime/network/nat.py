"""nftables rules of pydock: outbound masquerade, forwarding isolation, --internal, DNAT for -p.

Why nft and not iptables-legacy: the whole table is replaced in one `nft -f` transaction, so there
is never a moment with half the rules; it is a table of pydock's own (`ip pydock`, or
`PYDOCK_NFT_TABLE`), removed whole with one command and never mixed into other tools' chains; and
Debian 12's iptables is itself the nf_tables backend, where legacy x_tables rules would run in an
order nobody can see from one tool.

The table is rendered from the records every time something changes (a network made or removed, a
container's endpoint plumbed or torn down), under the network lock: the records are the truth and
the kernel's rules are a function of them, so a crash can leave nothing that the next render keeps.

The path from the host itself to a published port is the route_localnet hairpin, not a userland
proxy: DNAT in the `output` hook catches 127.0.0.1 and the host's own addresses, route_localnet on
the bridge lets 127.0.0.1-sourced packets out, and masquerade gives them the bridge's address. No
process per port to copy bytes (nothing dies with a `kill -9` of a shim), and the cost is the
kernel's forwarding only (bench/network.py measures it against the bridge IP).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pydock.errors import RuntimeFailure


@dataclass(frozen=True)
class NetRule:
    bridge: str
    subnet: str
    internal: bool


@dataclass(frozen=True)
class Dnat:
    host_ip: str
    host_port: int
    proto: str
    container_ip: str
    container_port: int


def table_name() -> str:
    return os.environ.get("PYDOCK_NFT_TABLE", "pydock")


def _q(name: str) -> str:
    return json.dumps(name)  # an interface name as an nft string literal


def render(table: str, nets: list[NetRule], dnats: list[Dnat]) -> str:
    bridges = [n.bridge for n in nets]
    ports = []
    for d in dnats:
        match = f"ip daddr {d.host_ip} " if d.host_ip and d.host_ip != "0.0.0.0" else ""
        ports.append(f"    {match}{d.proto} dport {d.host_port} dnat to {d.container_ip}:{d.container_port}")
    post = []
    forward = []
    for n in nets:
        post.append(f"    oifname {_q(n.bridge)} ip saddr 127.0.0.0/8 masquerade")
        # A container reaching a published port through a host address: DNAT sends it back out of the
        # same bridge, and without br_netfilter the reply would go straight to the peer, bypassing the
        # un-NAT; masquerading makes the reply come back through the host.
        post.append(f"    iifname {_q(n.bridge)} oifname {_q(n.bridge)} ct status dnat masquerade")
        if n.internal:
            forward.append(f"    iifname {_q(n.bridge)} oifname != {_q(n.bridge)} drop")
            forward.append(f"    oifname {_q(n.bridge)} iifname != {_q(n.bridge)} drop")
        else:
            post.append(f"    ip saddr {n.subnet} oifname != {_q(n.bridge)} masquerade")
        others = [b for b in bridges if b != n.bridge]
        if others:
            forward.append(f"    iifname {_q(n.bridge)} oifname {{ {', '.join(_q(b) for b in others)} }} drop")
    body = "\n".join([
        f"table ip {table} {{",
        "  chain ports {", *ports, "  }",
        "  chain prerouting {", "    type nat hook prerouting priority dstnat; policy accept;",
        "    fib daddr type local jump ports", "  }",
        "  chain output {", "    type nat hook output priority -100; policy accept;",
        "    fib daddr type local jump ports", "  }",
        "  chain postrouting {", "    type nat hook postrouting priority srcnat; policy accept;", *post, "  }",
        "  chain forward {", "    type filter hook forward priority filter; policy accept;", *forward, "  }",
        "}",
    ])
    return body + "\n"


# The last script applied per table, in /run (a tmpfs: gone at reboot, with the kernel's tables), so
# a start or exit that changes no rule (a bridged container without -p) spends no nft transaction.
APPLIED = Path("/run/pydock-nft")


def apply(nets: list[NetRule], dnats: list[Dnat], table: str | None = None, force: bool = False) -> None:
    """Replaces pydock's table with the rules for `nets` and `dnats` in one transaction (or deletes
    the table when no network is left); skipped when the same rules were applied last, unless `force`."""
    table = table or table_name()
    script = f"table ip {table}\ndelete table ip {table}\n"  # declare first: delete needs it to exist
    if nets:
        script += render(table, nets, dnats)
    cache = APPLIED / table
    try:
        if not force and cache.read_text() == script:
            return
    except OSError:
        pass
    cache.unlink(missing_ok=True)  # while the kernel and the cache may differ, no cache
    _nft(script)
    APPLIED.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}")
    tmp.write_text(script)
    tmp.replace(cache)


def delete_table(table: str | None = None) -> None:
    table = table or table_name()
    (APPLIED / table).unlink(missing_ok=True)
    _nft(f"table ip {table}\ndelete table ip {table}\n")


def _nft(script: str) -> None:
    nft = shutil.which("nft") or "/usr/sbin/nft"
    try:
        p = subprocess.run([nft, "-f", "-"], check=False, input=script.encode(), capture_output=True, timeout=30)
    except FileNotFoundError:
        raise RuntimeFailure("nft not found: pydock's networks need nftables (apt-get install nftables)") from None
    if p.returncode != 0:
        raise RuntimeFailure(f"nft refused pydock's rules: {p.stderr.decode(errors='replace').strip()}")


def list_table(table: str | None = None) -> str:
    """The table as nft prints it ('' when absent): for tests and `pydock network inspect` debugging."""
    table = table or table_name()
    nft = shutil.which("nft") or "/usr/sbin/nft"
    p = subprocess.run([nft, "list", "table", "ip", table], check=False, capture_output=True, timeout=30)
    return p.stdout.decode() if p.returncode == 0 else ""
