"""Real peers for the network driver tests: rsyslog, and a throwaway CA with openssl.

Every peer is started with a config of the test's own in the test's directory, on loopback ports
picked free, and stopped by its PID when the test ends, whatever happened.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_pid(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def wait_tcp(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


@dataclass
class TLSFiles:
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


def make_ca(d: Path) -> TLSFiles:
    """A throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    d.mkdir(parents=True, exist_ok=True)

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=pydock test CA")
    for name, cn in (("server", "localhost"), ("client", "pydock-client")):
        (d / f"{name}.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
             "-subj", f"/CN={cn}")
        ossl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return TLSFiles(d / "ca.pem", d / "server.pem", d / "server.key", d / "client.pem", d / "client.key")


RSYSLOG_TEMPLATE = """
template(name="j" type="list") {
  constant(value="{\\"host\\":\\"") property(name="hostname" format="json")
  constant(value="\\",\\"app\\":\\"") property(name="app-name" format="json")
  constant(value="\\",\\"procid\\":\\"") property(name="procid" format="json")
  constant(value="\\",\\"msgid\\":\\"") property(name="msgid" format="json")
  constant(value="\\",\\"tag\\":\\"") property(name="syslogtag" format="json")
  constant(value="\\",\\"sev\\":\\"") property(name="syslogseverity" format="json")
  constant(value="\\",\\"fac\\":\\"") property(name="syslogfacility" format="json")
  constant(value="\\",\\"ts\\":\\"") property(name="timereported" dateFormat="rfc3339" format="json")
  constant(value="\\",\\"input\\":\\"") property(name="inputname" format="json")
  constant(value="\\",\\"msg\\":\\"") property(name="msg" format="json")
  constant(value="\\"}\\n")
}
"""


@dataclass
class Rsyslog:
    out: Path
    udp: int
    tcp: int
    tls: int

    def records(self, n: int, timeout: float = 10.0) -> list[dict[str, str]]:
        """Wait for at least `n` parsed messages and return them all."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.out.read_text().splitlines() if self.out.exists() else []
            if len(lines) >= n or time.monotonic() > deadline:
                return [json.loads(x) for x in lines]
            time.sleep(0.02)


@contextmanager
def rsyslog(d: Path, tls: TLSFiles | None = None, tcp: int = 0) -> Iterator[Rsyslog]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "work").mkdir(exist_ok=True)
    udp, tcp, tlsport = free_port(socket.SOCK_DGRAM), tcp or free_port(), free_port()
    out = d / "out.log"
    conf = [f'global(workDirectory="{d}/work" parser.escapeControlCharactersOnReceive="off" maxMessageSize="64k"'
            + (f' DefaultNetstreamDriverCAFile="{tls.ca}" DefaultNetstreamDriverCertFile="{tls.cert}"'
               f' DefaultNetstreamDriverKeyFile="{tls.key}"' if tls else "") + ")",
            'module(load="imudp")', 'module(load="imtcp" MaxSessions="50")', RSYSLOG_TEMPLATE,
            f'input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="t")',
            f'input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="t" name="tcp")']
    if tls:
        conf.append(f'input(type="imtcp" address="127.0.0.1" port="{tlsport}" ruleset="t" name="tls"'
                    ' StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")')
    conf.append(f'ruleset(name="t") {{ action(type="omfile" file="{out}" template="j") }}')
    path = d / "rsyslog.conf"
    path.write_text("\n".join(conf) + "\n")
    check = subprocess.run(["rsyslogd", "-N1", "-f", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr + check.stdout
    with open(d / "rsyslogd.err", "wb") as err:
        proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(path), "-i", str(d / "rsyslogd.pid")],
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        wait_tcp(tcp)
        if tls:
            wait_tcp(tlsport)
        yield Rsyslog(out, udp, tcp, tlsport)
    finally:
        stop_pid(proc)


JOURNALD_CONF = """[Journal]
Storage=persistent
ReadKMsg=no
ForwardToSyslog=no
ForwardToWall=no
Audit=no
SyncIntervalSec=1s
"""


@dataclass
class Journald:
    socket: Path
    journal_dir: Path

    def entries(self, n: int, match: str, timeout: float = 10.0) -> list[dict[str, object]]:
        """`journalctl -o json --all` of entries whose MESSAGE... contains `match` (as bytes or text)."""
        deadline = time.monotonic() + timeout
        while True:
            dirs = list(self.journal_dir.glob("*.pydock"))
            found: list[dict[str, object]] = []
            if dirs:
                out = subprocess.run(["journalctl", "-D", str(dirs[0]), "-o", "json", "--all", "--no-pager"],
                                     capture_output=True, check=False).stdout
                for line in out.splitlines():
                    e = json.loads(line)
                    if match in json.dumps(e):
                        found.append(e)
            if len(found) >= n or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@contextmanager
def journald(d: Path) -> Iterator[Journald]:
    """systemd-journald as journal namespace `pydock` in a private mount namespace (PEERS.md): the
    test's directories are bound over /run/systemd, /run/log, /var/log and /etc/systemd in there."""
    binds = {"run": "/run/systemd", "runlog": "/run/log", "var": "/var/log", "etc": "/etc/systemd"}
    for sub in binds:
        (d / sub).mkdir(parents=True, exist_ok=True)
    (d / "etc" / "journald@pydock.conf").write_text(JOURNALD_CONF)
    script = " && ".join(f"mount --bind {d / sub} {target}" for sub, target in binds.items())
    with open(d / "journald.err", "wb") as err:
        proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                 f"{script} && exec /lib/systemd/systemd-journald pydock"],
                                stdout=subprocess.DEVNULL, stderr=err)
    sock = d / "run" / "journal.pydock" / "socket"
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"journald did not start: {(d / 'journald.err').read_text()}")
            time.sleep(0.02)
        yield Journald(sock, d / "var" / "journal")
    finally:
        stop_pid(proc)
