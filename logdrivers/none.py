"""The `none` driver: the container's output is read and discarded; `pydock logs` refuses.

As in Docker, any option is accepted with `none` (the registry checks nothing for it) and no
dual-logging cache is kept. Lines are still counted in logstats.json by the layer above.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydock.logdrivers.base import LogInfo, LogMessage


class NoneDriver:
    name = "none"

    def __init__(self, info: LogInfo, opts: Mapping[str, str]):
        self.info = info

    def log(self, msg: LogMessage) -> None:
        return None

    def log_chunk(self, source: str, data: bytes, timestamp_ns: int) -> None:
        return None

    def close(self) -> None:
        return None
