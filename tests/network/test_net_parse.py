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


def test_nft_render_isolation_internal_and_dnat() -> None:
    from pydock.runtime.network.nat import Dnat, NetRule, render

    text = render("t", [NetRule("a0", "10.1.0.0/24", False), NetRule("b0", "10.2.0.0/24", True)],
                  [Dnat("", 8080, "tcp", "10.1.0.2", 80), Dnat("127.0.0.1", 53, "udp", "10.1.0.2", 53)])
    assert "    tcp dport 8080 dnat to 10.1.0.2:80\n" in text
    assert "    ip daddr 127.0.0.1 udp dport 53 dnat to 10.1.0.2:53\n" in text
    assert '    ip saddr 10.1.0.0/24 oifname != "a0" masquerade\n' in text
    assert "10.2.0.0/24" not in text  # internal: no masquerade out
    assert '    iifname "b0" oifname != "b0" drop\n' in text and '    oifname "b0" iifname != "b0" drop\n' in text
    assert '    iifname "a0" oifname { "b0" } drop\n' in text
    assert text.count("fib daddr type local jump ports") == 2  # from outside and from the host itself


def test_daemon_json_network_keys(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from pydock.runtime.network.config import load

    from pydock.errors import ConfigError

    cfg = tmp_path / "daemon.json"
    monkeypatch.setenv("PYDOCK_CONFIG", str(cfg))
    cfg.write_text(json.dumps({"bip": "10.77.0.1/16", "mtu": 1400,
                               "default-address-pools": [{"base": "10.80.0.0/16", "size": 24}], "dns": ["1.1.1.1"]}))
    c = load()
    assert (str(c.bip_subnet), str(c.bip_gateway), c.mtu, c.pools, c.dns) == (
        "10.77.0.0/16", "10.77.0.1", 1400, (("10.80.0.0/16", 24),), ("1.1.1.1",))
    assert ipam.choose_subnet(c.pools, [IPv4Network("10.80.0.0/24")]) == IPv4Network("10.80.1.0/24")
    for bad, word in (({"mtu": 10}, "mtu"), ({"bip": "nope"}, "bip"), ({"default-address-pools": [{"base": "10.0.0.0/16"}]},
                                                                         "default-address-pools")):
        cfg.write_text(json.dumps(bad))
        with pytest.raises(ConfigError, match=word):
            load()


def test_publish_all_takes_exposed_ports_and_records_them(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """-P gives each EXPOSEd port a free host port; an explicit -p of the same port wins (no kernel needed)."""
    from pydock.runtime.network.endpoint import allocate, release
    from pydock.runtime.network.store import NetworkStore
    from pydock.runtime.spec import ContainerSpec

    from pydock.settings import Settings

    monkeypatch.setenv("PYDOCK_CONFIG", str(tmp_path / "daemon.json"))
    (tmp_path / "daemon.json").write_text('{"bip": "10.239.0.1/24"}')
    settings = Settings(tmp_path / "root", tmp_path / "run", tmp_path / "daemon.json")
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        fixed = s.getsockname()[1]
    spec = ContainerSpec(image="busybox", publish_all=True, publish=(f"{fixed}:80",))
    out = allocate(settings, "a" * 64, "web", spec, {"80/tcp": {}, "53/udp": {}})
    assert out["HostConfig"]["NetworkMode"] == "bridge" and out["HostConfig"]["PublishAllPorts"] is True
    assert set(out["ExposedPorts"]) == {"80/tcp", "53/udp"}
    ((_, ep),) = NetworkStore(settings.root).of_container("a" * 64)
    got = {(p["ContainerPort"], p["Proto"]): p["HostPort"] for p in ep["Ports"]}
    assert got[(80, "tcp")] == fixed and got[(53, "udp")] > 0 and len(got) == 2
    assert ep["IPAddress"] == "10.239.0.2" and ep["MacAddress"] == "02:42:0a:ef:00:02"
    release(settings, "a" * 64)
    assert NetworkStore(settings.root).of_container("a" * 64) == []
