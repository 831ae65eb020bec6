"""Unit tests of -p parsing, port reservation and IPAM (no root needed)."""

from __future__ import annotations

import socket
from ipaddress import IPv4Address, IPv4Network

import pytest
from pydock.runtime.network import ipam
from pydock.runtime.network.ports import Binding, PortRequest, parse_publish, port_lines, ps_column, reserve

from pydock.errors import ConflictError, UsageError


def test_publish_forms() -> None:
    assert parse_publish("8080:80") == [PortRequest(80, "tcp", "", 8080)]
    assert parse_publish("127.0.0.1:8080:80/udp") == [PortRequest(80, "udp", "127.0.0.1", 8080)]
    assert parse_publish("80") == [PortRequest(80)]
    assert parse_publish("127.0.0.1::80") == [PortRequest(80, "tcp", "127.0.0.1")]
    assert [r.host_port for r in parse_publish("9000-9002:80-82")] == [9000, 9001, 9002]
    assert parse_publish("9000-9010:80") == [PortRequest(80, "tcp", "", 9000, 9010)]


@pytest.mark.parametrize("bad, word", [("80/sctp", "protocol"), ("x:80", "invalid port"), ("0:80", "invalid port"),
                                       ("1.2.3:80:80", "IP address"), ("9000-9001:80-82", "differ"),
                                       ("1:2:3:4", "expected"), ("8080:", "expected"), ("90-80:80", "end")])
def test_bad_publish(bad: str, word: str) -> None:
    with pytest.raises(UsageError, match=word):
        parse_publish(bad)


def test_reserve_refuses_taken_ports() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConflictError, match=f"Bind for 127.0.0.1:{port} failed: port is already allocated"):
            reserve([PortRequest(80, "tcp", "127.0.0.1", port)], [])
    taken = [Binding(80, "tcp", "", port)]
    with pytest.raises(ConflictError, match="already allocated"):
        reserve([PortRequest(81, "tcp", "127.0.0.1", port)], taken)
    assert reserve([PortRequest(81, "udp", "", port)], taken)[0].host_port == port  # another protocol
    (b,) = reserve([PortRequest(80)], taken)
    assert b.host_port > 0 and b.host_port != port


def test_ps_column_and_port_lines() -> None:
    bs = [Binding(80, "tcp", "", 8080), Binding(81, "tcp", "", 8081), Binding(53, "udp", "127.0.0.1", 5353)]
    assert ps_column(bs, ["443/tcp", "80/tcp"]) == "0.0.0.0:8080-8081->80-81/tcp, 127.0.0.1:5353->53/udp, 443/tcp"
    assert port_lines(bs[:1]) == ["80/tcp -> 0.0.0.0:8080"]


def test_ipam() -> None:
    net = IPv4Network("10.9.0.0/29")
    gw = IPv4Address("10.9.0.1")
    assert ipam.allocate(net, gw, []) == IPv4Address("10.9.0.2")
    assert ipam.allocate(net, gw, ["10.9.0.2"]) == IPv4Address("10.9.0.3")
    with pytest.raises(ConflictError, match="in use"):
        ipam.allocate(net, gw, ["10.9.0.5"], "10.9.0.5")
    with pytest.raises(UsageError, match="not in the network's subnet"):
        ipam.allocate(net, gw, [], "10.8.0.5")
    with pytest.raises(ConflictError, match="no available"):
        ipam.allocate(net, gw, [f"10.9.0.{i}" for i in range(2, 7)])
    assert ipam.mac_for(IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"
    used = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.0.0/16")]
    assert ipam.choose_subnet(ipam.DEFAULT_POOLS, used) == IPv4Network("172.19.0.0/16")
    with pytest.raises(UsageError):
        ipam.check_gateway(net, "10.9.0.7")
