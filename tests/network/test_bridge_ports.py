"""The default bridge and published ports, with real namespaces, veths and nftables (root).

A busybox httpd published with -p answers a real HTTP GET from the host on 127.0.0.1 and on the
host's own address; a second container reaches it by its bridge IP; the agent's receive bytes grow
with a request; ps, port and inspect show what Docker shows; 20 concurrent runs get 20 addresses and
leave nothing behind; a shim killed with -9 leaves leftovers that `system prune` clears.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import socket
import urllib.request

import pytest
from nethelpers import Net, veths, wait_for

pytestmark = pytest.mark.root
WEB = "mkdir -p /www && echo hello-pydock > /www/index.html && exec httpd -f -p 80 -h /www"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        return int(s.getsockname()[1])


def _host_ip() -> str:
    from pyroute2 import IPRoute

    with IPRoute() as ipr:
        for a in ipr.get_addr(family=2):
            ip = a.get_attr("IFA_ADDRESS")
            label = a.get_attr("IFA_LABEL") or ""
            if not ip.startswith(("127.", "10.231.")) and not label.startswith(("pd", "veth")):
                return str(ip)
    pytest.fail("the host has no address besides loopback")


def _get(url: str) -> str:
    last: Exception | None = None
    for _ in range(50):  # httpd may take a moment to listen
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                return r.read().decode()
        except OSError as exc:
            last = exc
            import time

            time.sleep(0.1)
    raise AssertionError(f"GET {url}: {last}")


def _rx_bytes(net: Net, name: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families
    from pydock.agent.exporter import collect_series
    from pydock.agent.exposition import render_text
    from pydock.agent.sampler import Sampler

    snap = Sampler(net.settings.root, cache_seconds=0, foreign=False, root=False).snapshot()
    text = render_text(collect_series(snap)).decode()
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == "container_network_receive_bytes_total" and s.labels.get("name") == name
               and s.labels.get("interface") == "eth0")


def test_published_port_from_host_and_peer(net: Net) -> None:
    port = _free_port()
    net.ok("run", "-d", "--name", "web", "-p", f"{port}:80", "busybox", "sh", "-c", WEB)  # -p: the default bridge
    assert _get(f"http://127.0.0.1:{port}/") == "hello-pydock\n"
    assert _get(f"http://{_host_ip()}:{port}/") == "hello-pydock\n"

    info = net.inspect("web")
    ns = info["NetworkSettings"]
    ip = ns["IPAddress"]
    assert ip.startswith("10.231.0.") and ns["Gateway"] == "10.231.0.1"
    assert ns["MacAddress"] == "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
    assert ns["Networks"]["bridge"]["IPAddress"] == ip
    assert ns["Networks"]["bridge"]["NetworkID"] == json.loads(net.ok("network", "inspect", "bridge"))[0]["Id"]
    assert info["HostConfig"]["NetworkMode"] == "bridge"
    assert info["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": str(port)}]}
    assert net.ok("port", "web") == f"80/tcp -> 0.0.0.0:{port}"
    assert f"0.0.0.0:{port}->80/tcp" in net.ok("ps")
    hosts = (net.settings.root / "containers" / info["Id"] / "hosts").read_text()
    assert hosts.startswith("127.0.0.1\tlocalhost\n") and hosts.endswith(f"{ip}\t{info['Id'][:12]}\n")

    rx = _rx_bytes(net, "web")
    assert rx > 0  # the GETs above came in through eth0
    out = net.ok("run", "--rm", "--network", "bridge", "busybox", "wget", "-qO-", f"http://{ip}/")
    assert out == "hello-pydock"
    assert _rx_bytes(net, "web") > rx
    host = _host_ip()  # a peer through the published port on the host's address (DNAT back into the bridge)
    assert net.ok("run", "--rm", "--network", "bridge", "busybox", "wget", "-qO-", f"http://{host}:{port}/") == "hello-pydock"

    # A port already published refuses the next container, and nothing is made.
    before = net.ok("ps", "-a", "-q")
    p = net("run", "-d", "--network", "bridge", "-p", f"{port}:80", "busybox", "true")
    assert p.returncode == 125 and p.stderr.strip() == (
        f"pydock: Bind for 0.0.0.0:{port} failed: port is already allocated")
    assert net.ok("ps", "-a", "-q") == before and len(net.endpoints()) == 1


def test_twenty_concurrent_runs_then_nothing_left(net: Net) -> None:
    def run(i: int) -> str:
        return net.ok("run", "-d", "--name", f"c{i}", "--network", "bridge", "-p", "80", "busybox", "sleep", "60",
                      timeout=120)

    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        ids = list(pool.map(run, range(20)))
    infos = [net.inspect(cid) for cid in ids]
    ips = {i["NetworkSettings"]["IPAddress"] for i in infos}
    ports = {i["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] for i in infos}
    assert len(ips) == 20 and len(ports) == 20
    mine = {f"veth{cid[:8]}0" for cid in ids}  # other sessions on this host may plumb containers too
    assert mine <= veths()
    assert net.nft().count("dnat to") == 20
    net.ok("rm", "-f", *ids, timeout=120)
    assert mine & veths() == set()
    assert "dnat to" not in net.nft()
    assert net.endpoints() == []
    assert list((net.settings.run / "netns").iterdir()) == []


def test_killed_shim_leftovers_are_pruned(net: Net) -> None:
    port = _free_port()
    cid = net.ok("run", "-d", "--network", "bridge", "-p", f"{port}:80", "busybox", "sleep", "60")
    state = json.loads((net.settings.root / "containers" / cid / "state.json").read_text())
    os.kill(state["ShimPid"], signal.SIGKILL)
    wait_for(lambda: json.loads(net.ok("inspect", cid))[0]["State"]["Status"] == "exited", what="exit")
    veth = f"veth{cid[:8]}0"
    assert os.path.exists(f"/sys/class/net/{veth}") and "dnat to" in net.nft()  # what -9 leaves
    net.ok("start", cid)  # the next start replaces the leftovers
    assert net.inspect(cid)["State"]["Running"] and net.nft().count("dnat to") == 1
    state = json.loads((net.settings.root / "containers" / cid / "state.json").read_text())
    os.kill(state["ShimPid"], signal.SIGKILL)
    wait_for(lambda: json.loads(net.ok("inspect", cid))[0]["State"]["Status"] == "exited", what="exit")
    net.ok("system", "prune", "-f")
    assert not os.path.exists(f"/sys/class/net/{veth}")
    assert "dnat to" not in net.nft() and not (net.settings.run / "netns" / cid).exists()
    assert net.endpoints() == []  # prune removed the stopped container, and with it its address


def test_mtu_dns_and_the_default_without_ports(net: Net) -> None:
    net.settings.config_file.write_text(json.dumps({"bip": "10.231.0.1/24", "mtu": 1400}))
    out = net.ok("run", "--rm", "--network", "bridge", "--dns", "9.9.9.9", "busybox", "sh", "-c",
                 "cat /sys/class/net/eth0/mtu /etc/resolv.conf")
    assert out.startswith("1400\n") and "nameserver 9.9.9.9" in out and "127.0.0.11" not in out
    cid = net.ok("create", "busybox", "true")
    assert net.inspect(cid)["HostConfig"]["NetworkMode"] == "none"
    assert net.ok("run", "--rm", "busybox", "ls", "/sys/class/net") == "lo"


def test_expose_is_metadata_until_publish_all(net: Net) -> None:
    net.ok("create", "--name", "meta", "--expose", "80", "--expose", "9000-9001/udp", "busybox", "true")
    exposed = net.inspect("meta")["Config"]["ExposedPorts"]
    assert set(exposed) == {"80/tcp", "9000/udp", "9001/udp"}
    assert not net.inspect("meta")["HostConfig"]["PortBindings"]
    net.ok("run", "-d", "--name", "web", "--expose", "80", "-P", "busybox", "sh", "-c", WEB)
    [binding] = net.inspect("web")["NetworkSettings"]["Ports"]["80/tcp"]
    assert _get(f"http://127.0.0.1:{binding['HostPort']}/") == "hello-pydock\n"
    p = net("run", "--rm", "--expose", "80-70", "busybox", "true")
    assert p.returncode == 125 and "invalid --expose '80-70'" in p.stderr
    p = net("run", "--rm", "--expose", "http", "busybox", "true")
    assert p.returncode == 125 and "invalid range format for --expose: 'http'" in p.stderr
