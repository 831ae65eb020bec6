"""User-defined networks with real bridges, nftables and the embedded DNS (root).

Two containers on one network reach each other by name and alias (busybox nslookup and ping); a
third on another network resolves neither and cannot reach the first's address; an --internal
network has no route out; connect/disconnect plumb a running container; --network container:NAME
shares the namespace; bad input is refused in one line with nothing made.
"""

from __future__ import annotations

import json

import pytest
from nethelpers import Net

pytestmark = pytest.mark.root


def test_names_aliases_and_isolation(net: Net) -> None:
    net.ok("network", "create", "--subnet", "10.232.0.0/24", "--label", "team=a", "appnet")
    net.ok("network", "create", "--subnet", "10.233.0.0/24", "other")
    net.ok("run", "-d", "--name", "db", "--network", "appnet", "--network-alias", "database", "busybox", "sleep", "60")
    db_ip = net.inspect("db")["NetworkSettings"]["Networks"]["appnet"]["IPAddress"]
    assert db_ip.startswith("10.232.0.")

    out = net.ok("run", "--rm", "--network", "appnet", "busybox", "sh", "-c",
                 "nslookup db && nslookup database && ping -c1 -W2 database && cat /etc/resolv.conf")
    assert out.count(f"Address: {db_ip}") == 2 and "1 packets received" in out
    assert "nameserver 127.0.0.11" in out and "options ndots:0" in out

    p = net("run", "--rm", "--network", "other", "busybox", "sh", "-c",
            f"nslookup db; ping -c1 -W1 {db_ip} && echo REACHED")
    assert "NXDOMAIN" in p.stdout and "REACHED" not in p.stdout and "0 packets received" in p.stdout

    nets = json.loads(net.ok("network", "inspect", "appnet"))[0]
    assert nets["Labels"] == {"team": "a"} and nets["IPAM"]["Config"] == [{"Subnet": "10.232.0.0/24",
                                                                           "Gateway": "10.232.0.1"}]
    assert [c["Name"] for c in nets["Containers"].values()] == ["db"]
    assert net.inspect("db")["NetworkSettings"]["Networks"]["appnet"]["Aliases"] == ["database"]
    assert {"appnet", "other", "bridge", "host", "none"} <= set(net.ok("network", "ls", "--format", "{{.Name}}").split())


def test_internal_has_no_route_out(net: Net) -> None:
    net.ok("network", "create", "--internal", "--subnet", "10.234.0.0/24", "sealed")
    out = net("run", "--rm", "--network", "sealed", "busybox", "sh", "-c",
              "ip route; ping -c1 -W1 192.0.2.1 || echo NO-ROUTE")
    assert "default" not in out.stdout and "NO-ROUTE" in out.stdout
    assert 'iifname "' in net.nft() and "oifname !=" in net.nft()


def test_connect_disconnect_and_container_mode(net: Net) -> None:
    net.ok("network", "create", "--subnet", "10.235.0.0/24", "front")
    net.ok("network", "create", "--subnet", "10.236.0.0/24", "back")
    net.ok("run", "-d", "--name", "api", "--network", "front", "busybox", "sleep", "60")
    net.ok("run", "-d", "--name", "store", "--network", "back", "busybox", "sleep", "60")
    net.ok("network", "connect", "--alias", "gw", "back", "api")
    addrs = net.ok("exec", "api", "ip", "-o", "-4", "addr")
    assert "eth0" in addrs and "eth1" in addrs and "10.236.0." in addrs
    assert "1 packets received" in net.ok("exec", "api", "ping", "-c1", "-W2", "store")
    p = net("network", "connect", "back", "api")
    assert p.returncode != 0 and "already exists" in p.stderr
    net.ok("network", "disconnect", "back", "api")
    assert "eth1" not in net.ok("exec", "api", "ip", "-o", "-4", "addr")
    assert "back" not in net.inspect("api")["NetworkSettings"]["Networks"]

    p = net("network", "rm", "front")
    assert p.returncode == 1 and "has active endpoints" in p.stderr
    side = net.ok("run", "--rm", "--network", "container:api", "busybox", "ip", "-o", "-4", "addr")
    assert net.inspect("api")["NetworkSettings"]["Networks"]["front"]["IPAddress"] in side


@pytest.mark.parametrize("args, message", [
    (("run", "--network", "nosuch", "busybox", "true"), "pydock: network nosuch not found"),
    (("run", "--network", "bridge", "-p", "80:99999", "busybox", "true"),
     "pydock: invalid port '99999' in --publish '80:99999': must be a number from 1 to 65535"),
    (("run", "--network", "bridge", "-p", "1:2:3:4", "busybox", "true"),
     "pydock: invalid --publish '1:2:3:4': expected [IP:][HOST_PORT:]CONTAINER_PORT[/PROTO]"),
    (("run", "--network", "bridge", "--ip", "10.231.0.9", "busybox", "true"),
     "pydock: user specified IP address is supported on user defined networks only"),
    (("run", "--add-host", "nocolon", "busybox", "true"),
     "pydock: invalid argument 'nocolon' for --add-host: expected HOST:IP"),
    (("network", "create", "--subnet", "10.231.0.0/16", "overlap"),
     ("pydock: invalid pool request: Pool overlaps with other one on this address space "
      "(10.231.0.0/16 overlaps 10.231.0.0/24)")),
    (("network", "create", "--subnet", "10.237.0.0/24", "--gateway", "10.9.9.9", "badgw"),
     "pydock: invalid --gateway 10.9.9.9: not a host address of subnet 10.237.0.0/24"),
])
def test_bad_input_one_line_nothing_made(net: Net, args: tuple[str, ...], message: str) -> None:
    net.ok("network", "ls")  # the predefined networks exist; the default bridge's subnet is taken
    rules = net.nft()
    p = net(*args)
    assert p.returncode == 125, p.stderr
    assert p.stderr.strip() == message
    assert net.ok("ps", "-a", "-q") == "" and net.endpoints() == []
    assert sorted(n for n in net.ok("network", "ls", "--format", "{{.Name}}").split()) == ["bridge", "host", "none"]
    assert net.nft() == rules  # no rule for a half-made network or container


def test_ip_and_etc_files(net: Net) -> None:
    net.ok("network", "create", "--subnet", "10.238.0.0/24", "--gateway", "10.238.0.254", "fixed")
    out = net.ok("run", "--rm", "--network", "fixed", "--ip", "10.238.0.50", "--hostname", "box",
                 "--add-host", "gateway.local:host-gateway", "--add-host", "db.local:10.1.2.3",
                 "busybox", "sh", "-c", "ip -o -4 addr show eth0; ip route; cat /etc/hosts /etc/hostname")
    assert "10.238.0.50/24" in out and "default via 10.238.0.254" in out
    assert "10.238.0.254\tgateway.local" in out and "10.1.2.3\tdb.local" in out
    assert "10.238.0.50\tbox" in out and out.endswith("box")
    p = net("run", "--network", "fixed", "--ip", "10.238.0.254", "busybox", "true")
    assert p.returncode == 125 and p.stderr.strip() == "pydock: Address already in use: 10.238.0.254"


def test_other_names_are_forwarded_to_the_host_resolvers(net: Net) -> None:
    """The embedded DNS forwards what it does not know, from the host's namespace (so a resolver on
    the host's loopback works): a dnslib server on 127.0.0.77:53 stands in for the host's resolver."""
    import socket
    import threading

    from dnslib import QTYPE, RR, A, DNSRecord

    srv = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    srv.bind(("127.0.0.77", 53))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = srv.recvfrom(4096)
            except OSError:
                continue
            q = DNSRecord.parse(data)
            reply = q.reply()
            if str(q.q.qname) == "outside.example." and q.q.qtype == QTYPE.A:
                reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A("192.0.2.99"), ttl=60))
            srv.sendto(reply.pack(), peer)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    try:
        net.ok("network", "create", "--subnet", "10.239.0.0/24", "fwd")
        out = net.ok("run", "--rm", "--network", "fwd", "--dns", "127.0.0.77", "busybox", "nslookup",
                     "outside.example")
        assert "Address: 192.0.2.99" in out
    finally:
        stop.set()
        t.join()
        srv.close()
