"""The collector's log store: one small protocol, two backends.

`LogRecord` is one shipped line as the agent sent it (internals §4); `LogQuery` the filters shared by
the query API, the live tail and the pages. `SQLiteLogStore` (SQLite + FTS5) is the embedded default;
`ElasticsearchLogStore` writes to a real Elasticsearch cluster through a local spool.
Every backend drops exact duplicates by (container_id, file_id, offset), so an agent that re-sends a
batch after a lost acknowledgement stores nothing twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydock.errors import PydockError


@dataclass(frozen=True)
class LogRecord:
    host: str
    container_id: str
    container_name: str
    stream: str
    time_ns: int
    line: str
    file_id: str
    offset: int

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "container_id": self.container_id,
            "container_name": self.container_name,
            "stream": self.stream,
            "time_ns": self.time_ns,
            "line": self.line,
            "file_id": self.file_id,
            "offset": self.offset,
        }


@dataclass(frozen=True)
class LogQuery:
    """Filters; empty strings and zeros mean "any". `container` matches a name or an id prefix.
    `start_ns`/`end_ns` bound the line's time (end exclusive; 0 = unbounded)."""

    text: str = ""
    container: str = ""
    host: str = ""
    stream: str = ""
    start_ns: int = 0
    end_ns: int = 0
    limit: int = 100
    cursor: str = ""


@dataclass
class LogPage:
    """One page of results, newest first; `next_cursor` is empty on the last page."""

    records: list[LogRecord] = field(default_factory=list)
    next_cursor: str = ""


@runtime_checkable
class LogStore(Protocol):
    def append(self, records: Sequence[LogRecord]) -> int:
        """Store the records durably (they survive a crash once this returns); return how many were new."""
        ...

    def query(self, q: LogQuery) -> LogPage: ...

    def tail(self, q: LogQuery, after: str) -> tuple[list[tuple[str, LogRecord]], str]:
        """Records stored after the position `after`, oldest first, each with its own position, and
        the position to ask from next; `after=""` means "from now": no records, the current position."""
        ...

    def enforce_retention(self) -> int:
        """Drop what is older or bigger than the configured limits; return how many lines went."""
        ...

    def stats(self) -> dict[str, Any]: ...

    def close(self) -> None: ...


class LogStoreError(PydockError):
    """A store cannot be opened or used (bad configuration, unreachable backend at start)."""


class BadQueryError(LogStoreError):
    """The text query is not valid for the backend (FTS5 syntax or ES query string)."""


def _setting(settings: Any, name: str, env: dict[str, str]) -> Any:
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = env.get("PYDOCK_" + name.upper())
    return value


def open_store(settings: Any, environ: dict[str, str] | None = None) -> LogStore:
    """The store the collector's settings ask for. Each setting is an attribute of `settings` or,
    when absent, the environment variable PYDOCK_<NAME>: `log_store` ("sqlite", the default, or
    "elasticsearch"), `log_retention_s` (default: the collector's `retention_s`, else 15 days),
    `log_max_bytes` (0: no size bound), `es_url`, `es_api_key`, `es_basic_auth` ("user:password").
    `data_dir` holds logs.sqlite, or the Elasticsearch spool logs-spool.sqlite."""
    import os
    from pathlib import Path

    env = dict(os.environ) if environ is None else environ
    kind = _setting(settings, "log_store", env) or "sqlite"
    data_dir = Path(getattr(settings, "data_dir", "."))
    age = float(_setting(settings, "log_retention_s", env) or getattr(settings, "retention_s", 0) or 15 * 86400)
    size = int(_setting(settings, "log_max_bytes", env) or 0)
    if kind == "sqlite":
        from .sqlite import SQLiteLogStore

        return SQLiteLogStore(data_dir / "logs.sqlite", max_age_s=age, max_bytes=size, retention_interval_s=300)
    if kind == "elasticsearch":
        from .elastic import ElasticsearchLogStore

        url = _setting(settings, "es_url", env)
        if not url:
            raise LogStoreError("log_store elasticsearch needs es_url (PYDOCK_ES_URL), for example http://es:9200")
        basic = _setting(settings, "es_basic_auth", env)
        auth = tuple(str(basic).split(":", 1)) if basic else None
        return ElasticsearchLogStore(url, data_dir / "logs-spool.sqlite", api_key=_setting(settings, "es_api_key", env),
                                     basic_auth=auth, max_age_s=age, max_bytes=size)  # type: ignore[arg-type]
    raise LogStoreError(f"unknown log store {kind!r}: expected sqlite or elasticsearch")
