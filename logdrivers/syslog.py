"""The syslog driver: Docker's options and message layouts, over udp, tcp, tcp+tls, unix, unixgram.

Layouts (srslog's, as Docker uses them; `TAG` defaults to `{{.ID}}`):
- default: `<PRI>Mmm _d hh:mm:ss TAG[PID]: MSG`
- rfc3164: `<PRI>Mmm _d hh:mm:ss HOSTNAME TAG[PID]: MSG`
- rfc5424: `<PRI>1 TIMESTAMP HOSTNAME TAG PID TAG - MSG` (APP-NAME and MSGID both the tag, as Docker)
- rfc5424micro: the same with microseconds.
PRI = facility * 8 + severity (info for stdout, err for stderr); empty lines are not sent; every
message ends in a newline. PID is the shim's. Where pydock differs, on purpose:
- the time is the copier's (when the container wrote the line), not the time of sending;
- every stream transport (tcp, tcp+tls) uses octet-counting framing (`LEN SP MSG`, RFC 6587/5425)
  for all formats, so a receiver never mistakes part of a message for the next one; unix stream
  sockets keep newline framing (local daemons expect it);
- `syslog-tls-skip-verify` is a boolean: `false` keeps verification (Docker skips it whenever the
  key is present);
- the endpoint need not be up when the container starts (Docker refuses to start: moby#21966).
"""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Mapping
from datetime import datetime

from pydock.logdrivers import netio, options, tag
from pydock.logdrivers.base import LogInfo, LogMessage
from pydock.logdrivers.jsonfile import DUMMY_INFO

from pydock.errors import LogOptError

NAME = "syslog"
OWN_OPTS = frozenset({"syslog-address", "syslog-facility", "syslog-tls-ca-cert", "syslog-tls-cert",
                      "syslog-tls-key", "syslog-tls-skip-verify", "syslog-format"}) | options.ATTR_OPTS
SCHEMES = ("udp", "tcp", "tcp+tls", "unix", "unixgram")
FORMATS = ("", "rfc3164", "rfc5424", "rfc5424micro")
LOCAL_PATHS = ("/dev/log", "/var/run/syslog", "/var/run/log")
FACILITIES = {name: i for i, name in enumerate(
    ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp"])}
FACILITIES.update({f"local{i}": 16 + i for i in range(8)})
SEV_INFO, SEV_ERR = 6, 3
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def parse_facility(opts: Mapping[str, str]) -> int:
    value = opts.get("syslog-facility", "")
    if not value:
        return FACILITIES["daemon"]
    if value in FACILITIES:
        return FACILITIES[value]
    if re.fullmatch(r"[+-]?[0-9]+", value) and 0 <= int(value) <= 23:  # Go's Atoi: ASCII digits
        return int(value)
    raise LogOptError(f"invalid value {value!r} for log opt 'syslog-facility': use a name such as daemon "
                      "or local0, or a number 0-23")


def _local_address() -> netio.Address:
    for path in LOCAL_PATHS:
        for kind, scheme in ((socket.SOCK_DGRAM, "unixgram"), (socket.SOCK_STREAM, "unix")):
            s = socket.socket(socket.AF_UNIX, kind)
            try:
                s.connect(path)
                return netio.Address(scheme, path=path)
            except OSError:
                continue
            finally:
                s.close()
    raise LogOptError("syslog-address is not set and no local syslog socket accepts connections "
                      f"({', '.join(LOCAL_PATHS)})")


def parse_address(opts: Mapping[str, str]) -> netio.Address | None:
    """None means the local syslog socket (found when the driver starts)."""
    value = opts.get("syslog-address", "")
    if not value:
        return None
    addr = netio.parse_address(value, "syslog-address", SCHEMES, default_port=514)
    if addr.path and not os.path.exists(addr.path):
        raise LogOptError(f"invalid value {value!r} for log opt 'syslog-address': {addr.path} does not exist")
    return addr


class Formatter:
    """Builds the bytes of each message; the header is made once per (stream, time) of a chunk."""

    def __init__(self, fmt: str, facility: int, hostname: str, tag_: str, pid: int, octet_counting: bool):
        self.fmt = fmt
        self.facility = facility
        self.hostname = hostname
        self.tag = tag_
        self.pid = pid
        self.octet_counting = octet_counting

    def _stamp(self, ns: int) -> str:
        sec, frac = divmod(ns, 1_000_000_000)
        if self.fmt in ("", "rfc3164"):
            t = time.localtime(sec)
            return f"{_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
        dt = datetime.fromtimestamp(sec).astimezone()
        off = dt.utcoffset()
        minutes = int(off.total_seconds()) // 60 if off else 0
        zone = "Z" if minutes == 0 else f"{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
        micro = f".{frac // 1000:06d}" if self.fmt == "rfc5424micro" else ""
        return dt.strftime("%Y-%m-%dT%H:%M:%S") + micro + zone

    def header(self, source: str, ns: int) -> bytes:
        pri = self.facility * 8 + (SEV_ERR if source == "stderr" else SEV_INFO)
        stamp = self._stamp(ns)
        if self.fmt == "":
            text = f"<{pri}>{stamp} {self.tag}[{self.pid}]: "
        elif self.fmt == "rfc3164":
            text = f"<{pri}>{stamp} {self.hostname} {self.tag}[{self.pid}]: "
        else:
            text = f"<{pri}>1 {stamp} {self.hostname} {self.tag} {self.pid} {self.tag} - "
        return text.encode()

    def frame(self, head: bytes, line: bytes) -> bytes:
        msg = head + line + b"\n"
        return b"%d " % len(msg) + msg if self.octet_counting else msg


class SyslogDriver:
    name = NAME

    @classmethod
    def validate(cls, opts: Mapping[str, str]) -> None:
        options.check_keys(NAME, opts, OWN_OPTS)
        parse_address(opts)
        parse_facility(opts)
        if opts.get("syslog-format", "") not in FORMATS:
            raise LogOptError(f"invalid value {opts['syslog-format']!r} for log opt 'syslog-format': "
                              "use rfc3164, rfc5424 or rfc5424micro")
        options.parse_bool(opts, "syslog-tls-skip-verify", False)
        for key in ("syslog-tls-ca-cert", "syslog-tls-cert", "syslog-tls-key"):
            if opts.get(key) and not os.path.isfile(opts[key]):
                raise LogOptError(f"invalid value {opts[key]!r} for log opt '{key}': no such file")
        options.extra_attributes(DUMMY_INFO, opts)
        tag.tag(DUMMY_INFO, dict(opts))

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.validate(opts)
        addr = parse_address(opts) or _local_address()
        self.address = addr
        stream = addr.scheme in ("tcp", "tcp+tls", "unix")
        self.formatter = Formatter(opts.get("syslog-format", ""), parse_facility(opts),
                                   netio.host_name(info.hostname), tag.tag(info, dict(opts)), os.getpid(),
                                   octet_counting=addr.scheme in ("tcp", "tcp+tls"))
        self.dropped = 0
        self._stream: netio.StreamSender | None = None
        self._dgram: netio.DatagramSender | None = None
        if stream:
            tls = None
            if addr.scheme == "tcp+tls":
                tls = netio.tls_context(opts.get("syslog-tls-ca-cert"), opts.get("syslog-tls-cert"),
                                        opts.get("syslog-tls-key"),
                                        options.parse_bool(opts, "syslog-tls-skip-verify", False), "syslog-tls-ca-cert")
            self._stream = netio.StreamSender(netio.connector(addr, tls))
        else:
            self._dgram = netio.DatagramSender(addr)

    def _send(self, frames: list[bytes]) -> None:
        if not frames:
            return
        if self._stream is not None:
            if not self._stream.send(b"".join(frames)):
                self.dropped += len(frames)
        elif self._dgram is not None:
            self.dropped += self._dgram.send_many(frames)

    def log(self, msg: LogMessage) -> None:
        if msg.line:
            f = self.formatter
            self._send([f.frame(f.header(msg.source, msg.timestamp_ns), msg.line)])

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        f = self.formatter
        head = f.header(source, timestamp_ns)
        self._send([f.frame(head, line) for line in data[:-1].split(b"\n") if line])

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._dgram is not None:
            self._dgram.close()
