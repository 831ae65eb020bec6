"""The collector's log store: one small protocol, two backends.

`LogRecord` is one shipped line as the agent sent it (internals §4); `LogQuery` the filters shared by
the query API, the live tail and the pages. `SQLiteLogStore` (SQLite + FTS5) is the embedded default;
`ElasticsearchLogStore` writes to a real Elasticsearch cluster through a local spool.
Every backend drops exact duplicates by (container_id, file_id, offset), so an agent that re-sends a
batch after a lost acknowledgement stores nothing twice.

At ingest each backend also reads JSON and logfmt lines into `fields` and detects a `level`
(structured.py); `LogQuery.text` takes field terms (`level=error status>=500`) beside its text.
`LineCounter` is an extra ability a backend may offer: exact counts in the store itself, which the
LogQL evaluator uses when a pipeline holds only substring line filters.
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
    level: str = ""  # normalised (structured.LEVELS) or "" when none was found
    fields: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

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
            "level": self.level,
            "fields": self.fields,
        }


@dataclass(frozen=True)
class LogQuery:
    """Filters; empty strings and zeros mean "any". `container` matches a name or an id prefix.
    `start_ns`/`end_ns` bound the line's time (end exclusive; 0 = unbounded). `text` is the backend's
    search syntax plus field terms (structured.split_terms); `level` a comma-separated list of levels
    ("none" for lines without one). `contains`/`excludes`: substrings (exact, case-sensitive) a line
    must hold / must not hold; a backend may skip them (callers re-check), SQLite applies them exactly."""

    text: str = ""
    container: str = ""
    host: str = ""
    stream: str = ""
    start_ns: int = 0
    end_ns: int = 0
    limit: int = 100
    cursor: str = ""
    level: str = ""
    contains: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()


@dataclass
class LogPage:
    """One page of results, newest first; `next_cursor` is empty on the last page. `cursors[i]`, when
    the backend fills it, continues right after `records[i]` (a caller that stops mid-page uses it)."""

    records: list[LogRecord] = field(default_factory=list)
    next_cursor: str = ""
    cursors: list[str] = field(default_factory=list)


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


StreamKey = tuple[str, str, str, str]  # host, container_id, container_name, stream


@runtime_checkable
class LineCounter(Protocol):
    def count_lines(self, q: LogQuery, base_ns: int, bucket_ns: int
                    ) -> list[tuple[StreamKey, int, int, int]]:
        """Lines matching `q` (its `contains`/`excludes` applied exactly) in [start_ns, end_ns),
        counted per stream and per bucket: (stream, bucket, lines, UTF-8 bytes), where bucket k holds
        times in (base_ns + k*bucket_ns, base_ns + (k+1)*bucket_ns]."""
        ...


class LogStoreError(PydockError):
    """A store cannot be opened or used (bad configuration, unreachable backend at start)."""


class BadQueryError(LogStoreError):
    """The text query is not valid for the backend (FTS5 syntax or ES query string)."""


def _setting(settings: Any, name: str, env: dict[str, str]) -> Any:
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = env.get("PYDOCK_" + name.upper()) or None
    return value


def _number(settings: Any, name: str, env: dict[str, str], kind: type[int | float]) -> Any:
    value = _setting(settings, name, env)
    if value is None:
        return None
    try:
        n = kind(value)
    except (TypeError, ValueError):
        raise LogStoreError(f"invalid {name} {value!r} (PYDOCK_{name.upper()}): expected a number") from None
    if n < 0:
        raise LogStoreError(f"invalid {name} {value!r} (PYDOCK_{name.upper()}): must not be negative")
    return n


def _es_api_key(settings: Any, env: dict[str, str]) -> str | None:
    """The API key from `es_api_key_file` (a secret kept off the command line) or `es_api_key`."""
    from pathlib import Path

    path = _setting(settings, "es_api_key_file", env)
    if path:
        try:
            key = Path(path).read_text().strip()
        except OSError as exc:
            raise LogStoreError(f"cannot read es_api_key_file {str(path)!r}: {exc.strerror}") from None
        if not key:
            raise LogStoreError(f"es_api_key_file {str(path)!r} is empty")
        return key
    key = _setting(settings, "es_api_key", env)
    return str(key) if key else None


def check_es_url(url: str) -> str:
    """An Elasticsearch endpoint: http(s)://host[:port][/path], without credentials in it."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise LogStoreError(f"invalid es_url {url!r}: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LogStoreError(f"invalid es_url {url!r}: expected http(s)://HOST:PORT, for example http://es:9200")
    if parts.username or parts.password:
        raise LogStoreError("invalid es_url: put credentials in es_api_key_file or PYDOCK_ES_BASIC_AUTH, "
                            "not in the URL")
    return url


def open_store(settings: Any, environ: dict[str, str] | None = None) -> LogStore:
    """The store the collector's settings ask for. Each setting is an attribute of `settings` (the
    `pydock collector` flags) or, when that is unset, the environment variable PYDOCK_<NAME>:
    `log_store` ("sqlite", the default, or "elasticsearch"), `log_retention_s` (default: the collector's
    `retention_s`, else 15 days), `log_max_bytes` (0: no size bound), `es_url`, `es_api_key_file` (a
    file holding the API key), `es_api_key`, `es_basic_auth` ("user:password").
    `data_dir` holds logs.sqlite, or the Elasticsearch spool logs-spool.sqlite."""
    import os
    from pathlib import Path

    env = dict(os.environ) if environ is None else environ
    kind = _setting(settings, "log_store", env) or "sqlite"
    data_dir = Path(getattr(settings, "data_dir", "."))
    age = float(_number(settings, "log_retention_s", env, float) or getattr(settings, "retention_s", 0)
                or 15 * 86400)
    size = int(_number(settings, "log_max_bytes", env, int) or 0)
    if kind == "sqlite":
        from .sqlite import SQLiteLogStore

        return SQLiteLogStore(data_dir / "logs.sqlite", max_age_s=age, max_bytes=size, retention_interval_s=300)
    if kind == "elasticsearch":
        from .elastic import ElasticsearchLogStore

        url = _setting(settings, "es_url", env)
        if not url:
            raise LogStoreError("log_store elasticsearch needs es_url (--es-url or PYDOCK_ES_URL), "
                                "for example http://es:9200")
        basic = _setting(settings, "es_basic_auth", env)
        if basic and ":" not in str(basic):
            raise LogStoreError("invalid es_basic_auth (PYDOCK_ES_BASIC_AUTH): expected user:password")
        auth = tuple(str(basic).split(":", 1)) if basic else None
        return ElasticsearchLogStore(check_es_url(str(url)), data_dir / "logs-spool.sqlite",
                                     api_key=_es_api_key(settings, env), basic_auth=auth,  # type: ignore[arg-type]
                                     max_age_s=age, max_bytes=size)
    raise LogStoreError(f"unknown log store {kind!r}: expected sqlite or elasticsearch")
