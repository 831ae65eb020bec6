"""Elasticsearch log store (the scale-out backend), through the official `elasticsearch` client (8.x).

Targets Elasticsearch 8.x (tested against an in-process stand-in of the bulk, index-template, search
and index APIs; a real cluster is needed in production). Writes go first to a local spool (`Spool`),
which is what the push API's acknowledgement covers; a flusher thread drains it with `_bulk`:
- daily indices `pydock-logs-YYYY.MM.DD` (UTC, by the line's own time) under an index template with
  explicit mappings, put before the first write;
- `create` actions with `_id` derived from (container, file_id, offset), so a re-sent line is a 409
  conflict (counted as stored), never a second document;
- per-item results: 2xx and 409 leave the spool, 429 and 5xx stay for a retry with backoff, anything
  else (a mapping error) moves to the spool's dead table with its reason.

Structured fields (structured.py) go in two objects of the document: `fields`, a `flattened` field
holding every value as a keyword (`fields.user.id: "42"`: term and string-range queries, no mapping
growth, no conflict between `user` and `user.id`), and `fields_num`, the numeric values only, mapped
as doubles by a dynamic template with `subobjects: false` (dotted keys stay leaf fields), for numeric
ranges. `level` is a keyword.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import BadQueryError, LogPage, LogQuery, LogRecord, LogStoreError
from .spool import Spool
from .structured import FieldTerm, analyse, normalise_level, split_terms

log = logging.getLogger("pydock.collector.logstore.elastic")

PREFIX = "pydock-logs-"
TEMPLATE = "pydock-logs"
MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "@timestamp": {"type": "date_nanos"},
        "time_ns": {"type": "long"},
        "ingest_ns": {"type": "long"},
        "host": {"type": "keyword"},
        "container_id": {"type": "keyword"},
        "container_name": {"type": "keyword"},
        "stream": {"type": "keyword"},
        "line": {"type": "text"},
        "file_id": {"type": "keyword"},
        "offset": {"type": "long"},
        "level": {"type": "keyword"},
        "fields": {"type": "flattened"},
        "fields_num": {"type": "object", "subobjects": False, "dynamic": True},
    },
    "dynamic_templates": [
        {"fields_num_double": {"path_match": "fields_num.*", "mapping": {"type": "double"}}},
    ],
}
RETRY_STATUSES = {429, 500, 502, 503, 504}


def index_for(time_ns: int) -> str:
    return PREFIX + time.strftime("%Y.%m.%d", time.gmtime(time_ns // 1_000_000_000))


def doc_id(r: LogRecord) -> str:
    return f"{r.container_id}-{r.file_id}-{r.offset}"


def _body(resp: Any) -> dict[str, Any]:
    """The JSON body of a client response (`ObjectApiResponse`), or a plain dict from a test double."""
    body = resp.body if hasattr(resp, "body") else resp
    return body if isinstance(body, dict) else {}


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


class ElasticsearchLogStore:
    """`url`: the cluster (or a list); `spool_path`: the local spool's SQLite file; `client`: an
    `elasticsearch.Elasticsearch` to use instead of building one (tests, custom TLS)."""

    def __init__(
        self,
        url: str | list[str],
        spool_path: Path | str,
        *,
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        max_age_s: float = 0,
        max_bytes: int = 0,
        batch: int = 2000,
        client: Any = None,
        shards: int = 1,
        replicas: int = 1,
        start_flusher: bool = True,
        parse_structured: bool = True,
    ) -> None:
        from elasticsearch import Elasticsearch

        self.es = client or Elasticsearch(
            url, api_key=api_key, basic_auth=basic_auth, request_timeout=30, max_retries=0
        )
        self.spool = Spool(spool_path)
        self.parse_structured = parse_structured
        self.max_age_s = max_age_s
        self.max_bytes = max_bytes
        self.batch = batch
        self.settings = {"number_of_shards": shards, "number_of_replicas": replicas}
        self._template_ok = False
        self._last_ns = 0
        self._ns_lock = threading.Lock()
        self._stop = threading.Event()
        self.flushed = 0
        self.retried = 0
        self._thread: threading.Thread | None = None
        if start_flusher:
            self._thread = threading.Thread(target=self._flush_loop, name="es-flusher", daemon=True)
            self._thread.start()

    # -- writes --------------------------------------------------------------------------------
    def _ingest_ns(self) -> int:
        with self._ns_lock:
            self._last_ns = max(self._last_ns + 1, time.time_ns())
            return self._last_ns

    def append(self, records: Sequence[LogRecord]) -> int:
        rows = []
        for r in records:
            body = {
                "@timestamp": _iso(r.time_ns),
                "time_ns": r.time_ns,
                "ingest_ns": self._ingest_ns(),
                "host": r.host,
                "container_id": r.container_id,
                "container_name": r.container_name,
                "stream": r.stream,
                "line": r.line,
                "file_id": r.file_id,
                "offset": r.offset,
            }
            level, fields = analyse(r.line) if self.parse_structured else (r.level, r.fields)
            if level:
                body["level"] = level
            if fields:
                body["fields"] = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
                nums = {k: v for k, v in fields.items() if isinstance(v, (int, float))}
                if nums:
                    body["fields_num"] = nums
            rows.append((doc_id(r), index_for(r.time_ns), json.dumps(body)))
        return self.spool.put(rows)

    def ensure_template(self) -> None:
        if self._template_ok:
            return
        self.es.indices.put_index_template(
            name=TEMPLATE,
            index_patterns=[PREFIX + "*"],
            priority=200,
            template={"settings": self.settings, "mappings": MAPPINGS},
            meta={"managed_by": "pydock"},
        )
        self._template_ok = True

    def flush_once(self) -> int:
        """Send one batch from the spool; returns how many rows left it (stored or dead).
        Raises the client's error when the cluster cannot be reached or refuses the whole request."""
        rows = self.spool.take(self.batch)
        if not rows:
            return 0
        self.ensure_template()
        ops: list[dict[str, Any]] = []
        for _, did, index, body in rows:
            ops.append({"create": {"_index": index, "_id": did}})
            ops.append(json.loads(body))
        resp = self.es.bulk(operations=ops)
        items = _body(resp).get("items", [])
        if len(items) != len(rows):
            raise LogStoreError(f"bulk answered {len(items)} items for {len(rows)} actions")
        done: list[int] = []
        retry: list[int] = []
        dead: list[tuple[int, str]] = []
        for (seq, _, _, _), item in zip(rows, items):
            res = next(iter(item.values()))
            status = int(res.get("status", 500))
            if 200 <= status < 300 or status == 409:  # 409: this _id is already there
                done.append(seq)
            elif status in RETRY_STATUSES:
                retry.append(seq)
            else:
                dead.append((seq, json.dumps(res.get("error", {}))[:2000]))
        if done:
            self.spool.done(done)
        if dead:
            log.error("elasticsearch refused %d log lines for good; kept in the spool's dead table", len(dead))
            self.spool.bury(dead)
        if retry:
            self.spool.retry_later(retry)
            self.retried += len(retry)
        self.flushed += len(done)
        return len(done) + len(dead)

    def _flush_loop(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                n = self.flush_once()
            except Exception as e:  # noqa: BLE001 - any failure of the cluster: keep the spool, back off
                backoff = min(max(backoff * 2, 0.2), 30.0)
                log.warning("elasticsearch flush failed (%s); retrying in %.1fs", e, backoff)
                self._stop.wait(backoff)
                continue
            if n == 0:
                backoff = min(max(backoff * 2, 0.2), 30.0) if self.spool.pending() else 0.0
                self.spool.has_work.clear()
                if self.spool.pending():
                    self._stop.wait(backoff)  # only retries left: wait before sending them again
                else:
                    self.spool.has_work.wait(1.0)
            else:
                backoff = 0.0

    def wait_flushed(self, timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if not self.spool.pending():
                return True
            time.sleep(0.02)
        return not self.spool.pending()

    # -- reads ---------------------------------------------------------------------------------
    def _filters(self, q: LogQuery) -> dict[str, Any]:
        flt: list[dict[str, Any]] = []
        if q.container:
            flt.append({"bool": {"minimum_should_match": 1, "should": [
                {"term": {"container_name": q.container}},
                {"prefix": {"container_id": q.container}},
            ]}})
        if q.host:
            flt.append({"term": {"host": q.host}})
        if q.stream:
            flt.append({"term": {"stream": q.stream}})
        rng: dict[str, int] = {}
        if q.start_ns:
            rng["gte"] = q.start_ns
        if q.end_ns:
            rng["lt"] = q.end_ns
        if rng:
            flt.append({"range": {"time_ns": rng}})
        text, terms = split_terms(q.text) if q.text else ("", [])
        must_not: list[dict[str, Any]] = []
        for t in terms:
            cond = self._field_term(t)
            if t.op == "!=":
                must_not.append(cond)
            else:
                flt.append(cond)
        if q.level:
            want = [lv.strip().lower() for lv in q.level.split(",") if lv.strip()]
            should: list[dict[str, Any]] = [{"terms": {"level": [lv for lv in want if lv != "none"]}}]
            if "none" in want:
                should.append({"bool": {"must_not": [{"exists": {"field": "level"}}]}})
            flt.append({"bool": {"minimum_should_match": 1, "should": should}})
        boolq: dict[str, Any] = {"filter": flt}
        if must_not:
            boolq["must_not"] = must_not
        if text.strip():
            boolq["must"] = [{"query_string": {"query": text, "default_field": "line",
                                               "default_operator": "AND"}}]
        return {"bool": boolq}

    @staticmethod
    def _field_term(t: FieldTerm) -> dict[str, Any]:
        """The positive form of a term (`!=` goes under must_not): as SQLite's, numbers compare with
        the numeric values (`fields_num`), text with the keyword values (`fields`)."""
        if t.key == "level":
            if t.op == "!=":
                return {"term": {"level": normalise_level(t.value) or t.value.lower()}}
            return {"terms": {"level": t.level_set()}}
        if t.op in ("=", "!="):
            if t.number is not None:
                return {"term": {"fields_num." + t.key: t.number}}
            return {"term": {"fields." + t.key: t.value}}
        rng = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}[t.op]
        if t.number is not None:
            return {"range": {"fields_num." + t.key: {rng: t.number}}}
        return {"range": {"fields." + t.key: {rng: t.value}}}

    def _search(self, **kw: Any) -> list[dict[str, Any]]:
        from elasticsearch import BadRequestError, NotFoundError

        try:
            resp = self.es.search(index=PREFIX + "*", ignore_unavailable=True, allow_no_indices=True,
                                  track_total_hits=False, **kw)
        except BadRequestError as e:
            raise BadQueryError(f"bad search text: {e}") from e
        except NotFoundError:
            return []
        return list(_body(resp).get("hits", {}).get("hits", []))

    @staticmethod
    def _rec(src: dict[str, Any]) -> LogRecord:
        fields: dict[str, Any] = dict(src.get("fields") or {})
        fields.update(src.get("fields_num") or {})
        return LogRecord(src["host"], src["container_id"], src["container_name"], src["stream"],
                         int(src["time_ns"]), src["line"], src["file_id"], int(src["offset"]),
                         src.get("level", ""), fields)

    def query(self, q: LogQuery) -> LogPage:
        limit = max(1, min(q.limit, 5000))
        kw: dict[str, Any] = {
            "query": self._filters(q),
            "sort": [{"time_ns": "desc"}, {"ingest_ns": "desc"}],
            "size": limit + 1,
        }
        if q.cursor:
            try:
                kw["search_after"] = json.loads(base64.urlsafe_b64decode(q.cursor + "=" * (-len(q.cursor) % 4)))
            except ValueError as e:
                raise BadQueryError(f"bad cursor {q.cursor!r}") from e
        hits = self._search(**kw)
        page = LogPage([self._rec(h["_source"]) for h in hits[:limit]],
                       cursors=[base64.urlsafe_b64encode(json.dumps(h["sort"]).encode()).decode().rstrip("=")
                                for h in hits[:limit]])
        if len(hits) > limit:
            page.next_cursor = page.cursors[-1]
        return page

    def tail(self, q: LogQuery, after: str) -> tuple[list[tuple[str, LogRecord]], str]:
        if not after:
            return [], str(self._ingest_ns())
        try:
            pos = int(after)
        except ValueError as e:
            raise BadQueryError(f"bad tail position {after!r}") from e
        query = self._filters(q)
        query["bool"]["filter"].append({"range": {"ingest_ns": {"gt": pos}}})
        hits = self._search(query=query, sort=[{"ingest_ns": "asc"}], size=max(1, min(q.limit, 5000)))
        if not hits:
            return [], str(pos)
        return ([(str(h["_source"]["ingest_ns"]), self._rec(h["_source"])) for h in hits],
                str(hits[-1]["_source"]["ingest_ns"]))

    # -- retention and stats -------------------------------------------------------------------
    def enforce_retention(self) -> int:
        """Deletes whole daily indices: older than `max_age_s`, then the oldest while the total size is
        over `max_bytes`. Returns the number of documents in the deleted indices."""
        resp = self.es.indices.stats(index=PREFIX + "*", metric=["docs", "store"])
        indices = _body(resp).get("indices", {})
        names = sorted(n for n in indices if n.startswith(PREFIX))
        doomed: list[str] = []
        if self.max_age_s:
            cutoff = time.strftime("%Y.%m.%d", time.gmtime(time.time() - self.max_age_s))
            doomed += [n for n in names if n[len(PREFIX):] < cutoff]
        if self.max_bytes:
            size = sum(indices[n]["primaries"]["store"]["size_in_bytes"] for n in names if n not in doomed)
            for n in names:
                if size <= self.max_bytes:
                    break
                if n not in doomed:
                    doomed.append(n)
                    size -= indices[n]["primaries"]["store"]["size_in_bytes"]
        removed = 0
        for n in doomed:
            self.es.indices.delete(index=n)
            removed += int(indices[n]["primaries"]["docs"]["count"])
        return removed

    def stats(self) -> dict[str, Any]:
        return {"backend": "elasticsearch", "spooled": self.spool.pending(), "flushed": self.flushed,
                "retried": self.retried, "dead": len(self.spool.dead())}

    def close(self) -> None:
        self._stop.set()
        self.spool.has_work.set()
        if self._thread:
            self._thread.join(10)
        self.spool.close()
        self.es.close()
