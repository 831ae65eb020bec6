"""The embedded DNS of user networks: Docker answers on 127.0.0.11 inside the container; pydock has
no daemon, so each container's shim runs a small responder bound inside that container's netns.

It answers the names, aliases and short ids of the containers on the networks it shares with its own
container, read from the endpoint records at each query (so `network connect` and new containers are
seen at once), and forwards every other name to the host's resolvers (or `--dns`) through a socket
opened in the host's namespace, so a resolver on the host's loopback works too. An --internal
network's names resolve, but nothing is forwarded out of it, as in Docker. UDP only (TCP fallback for
answers over 512 bytes is not served). dnslib parses and builds the messages: it is small, pure
Python and has no dependencies.
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

from pydock.runtime import syscalls
from pydock.runtime.network.store import NetworkStore

from pydock.settings import Settings

ADDRESS = ("127.0.0.11", 53)


class Responder:
    def __init__(self, settings: Settings, cid: str, netns: Path, upstreams: list[str]) -> None:
        self.store = NetworkStore(settings.root)
        self.cid = cid
        self.upstreams = upstreams
        self.sock = self._bind(netns)
        self.closed = False
        self.thread = threading.Thread(target=self._serve, name="dns", daemon=True)
        self.thread.start()

    @staticmethod
    def _bind(netns: Path) -> socket.socket:
        """A UDP socket on 127.0.0.11:53 of the container's namespace (made by a thread inside it)."""
        box: dict[str, object] = {}

        def work() -> None:
            try:
                fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
                try:
                    syscalls.setns(fd, syscalls.CLONE_NEWNET)
                finally:
                    os.close(fd)
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.bind(ADDRESS)  # lo holds 127.0.0.0/8: no address to add
                box["s"] = s
            except OSError as exc:
                box["e"] = exc

        t = threading.Thread(target=work)
        t.start()
        t.join()
        if "e" in box:
            from pydock.errors import RuntimeFailure

            raise RuntimeFailure(f"embedded DNS: cannot bind {ADDRESS[0]}:53 in the container: {box['e']}")
        return box["s"]  # type: ignore[return-value]

    def close(self) -> None:
        self.closed = True
        self.sock.close()

    def _serve(self) -> None:
        while not self.closed:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            threading.Thread(target=self._answer, args=(data, peer), daemon=True).start()

    def lookup(self, name: str) -> tuple[list[str], bool]:
        """(addresses of `name` on our networks, whether forwarding is allowed)."""
        name = name.rstrip(".").lower()
        found: list[str] = []
        forward = False
        for net, _ep in self.store.of_container(self.cid):
            if net["Name"] == "bridge":
                forward = True
                continue
            forward = forward or not net.get("Internal")
            for ep in self.store.endpoints(net["Id"]):
                names = {ep["ContainerName"].lower(), ep["ContainerID"][:12], *(a.lower() for a in ep.get("Aliases") or [])}
                if name in names and ep["IPAddress"] not in found:
                    found.append(ep["IPAddress"])
        return found, forward

    def _answer(self, data: bytes, peer: tuple[str, int]) -> None:
        from dnslib import QTYPE, RCODE, RR, A, DNSRecord

        try:
            q = DNSRecord.parse(data)
        except Exception:  # noqa: BLE001 - dnslib raises several kinds on junk: ignore the packet
            return
        qname = str(q.q.qname)
        addrs, forward = self.lookup(qname)
        reply = q.reply()
        if addrs:
            if q.q.qtype in (QTYPE.A, QTYPE.ANY):
                for a in addrs:
                    reply.add_answer(RR(q.q.qname, QTYPE.A, rdata=A(a), ttl=600))
            self._send(reply.pack(), peer)
            return
        if forward and self.upstreams:
            answer = self._forward(data)
            if answer is not None:
                self._send(answer, peer)
                return
            reply.header.rcode = RCODE.SERVFAIL
        else:
            reply.header.rcode = RCODE.NXDOMAIN
        self._send(reply.pack(), peer)

    def _forward(self, data: bytes) -> bytes | None:
        # This socket is made in a thread of the host's namespace (the shim's), not the container's.
        for server in self.upstreams:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(2.0)
                try:
                    s.sendto(data, (server, 53))
                    return s.recv(4096)
                except OSError:
                    continue
        return None

    def _send(self, payload: bytes, peer: tuple[str, int]) -> None:
        try:
            self.sock.sendto(payload, peer)
        except OSError:
            pass
