"""An in-process stand-in for the parts of Elasticsearch 8's REST API that the log store calls:
`GET /`, `PUT /_index_template/<name>`, `PUT|POST /_bulk` (create actions, with per-item failures
and whole-request errors on demand), `POST /<pattern>/_search` (bool filter/must with term, prefix,
range and a small query_string, sort, search_after), `GET /<pattern>/_stats/...`, `DELETE /<index>`.
It answers with the `X-Elastic-Product` header the official client checks."""

from __future__ import annotations

import fnmatch
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit


class QueryError(Exception):
    pass


def _qs_match(query: str, text: str) -> bool:
    if query.count('"') % 2 or re.search(r"(^|\s)(AND|OR)\s*$", query) or query.strip() in ("AND", "OR"):
        raise QueryError(f"Failed to parse query [{query}]")
    low = text.lower()
    for alt in re.split(r"\s+OR\s+", query):
        terms = re.findall(r'"([^"]+)"|(\S+)', alt)
        if all((p or w).lower() in low for p, w in terms if (p or w) != "AND"):
            return True
    return False


def _get(doc: dict[str, Any], field: str) -> Any:
    """A field's value; `fields.<key>` (flattened) and `fields_num.<key>` (subobjects: false) hold
    dotted keys as they are."""
    for obj in ("fields.", "fields_num."):
        if field.startswith(obj):
            return (doc.get(obj[:-1]) or {}).get(field[len(obj):])
    return doc.get(field)


def _match(q: dict[str, Any], doc: dict[str, Any]) -> bool:
    (kind, spec), = q.items()
    if kind == "bool":
        for f in spec.get("filter", []) + spec.get("must", []):
            if not _match(f, doc):
                return False
        if any(_match(f, doc) for f in spec.get("must_not", [])):
            return False
        should = spec.get("should", [])
        return not should or sum(_match(s, doc) for s in should) >= int(spec.get("minimum_should_match", 1))
    if kind == "term":
        (field, value), = spec.items()
        v = _get(doc, field)
        # a flattened field answers with keywords: numbers sent in it compare as their text
        return v == value if not field.startswith("fields.") else v is not None and str(v) == str(value)
    if kind == "terms":
        (field, values), = spec.items()
        return _get(doc, field) in values
    if kind == "exists":
        return _get(doc, spec["field"]) is not None
    if kind == "prefix":
        (field, value), = spec.items()
        return str(doc.get(field, "")).startswith(value)
    if kind == "range":
        (field, r), = spec.items()
        v = _get(doc, field)
        if field.startswith("fields.") and v is not None:
            v = str(v)  # keywords: ranges compare text
        return v is not None and type(v) is not bool and all(
            {"gt": v > b, "gte": v >= b, "lt": v < b, "lte": v <= b}[op] for op, b in r.items())
    if kind == "query_string":
        return _qs_match(spec["query"], str(doc.get(spec.get("default_field", "line"), "")))
    if kind == "match_all":
        return True
    raise QueryError(f"unknown query [{kind}]")


class FakeES:
    def __init__(self, port: int = 0) -> None:
        self.templates: dict[str, Any] = {}
        self.indices: dict[str, dict[str, dict[str, Any]]] = {}
        self.bulk_requests = 0
        self.fail_requests: list[int] = []  # statuses for the next whole bulk requests
        self.item_status: dict[str, list[int]] = {}  # _id -> statuses for its next attempts
        self.reject: set[str] = set()  # _id refused with a mapping error every time
        self.authorizations: set[str] = set()  # every Authorization header seen
        self.lock = threading.Lock()
        self.port = port
        self.httpd: ThreadingHTTPServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def docs(self) -> list[dict[str, Any]]:
        with self.lock:
            return [d for idx in self.indices.values() for d in idx.values()]

    def start(self) -> FakeES:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self) -> bytes:
                n = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(n) if n else b""

            def do_GET(self) -> None:
                self._route("GET")

            def do_PUT(self) -> None:
                self._route("PUT")

            def do_POST(self) -> None:
                self._route("POST")

            def do_DELETE(self) -> None:
                self._route("DELETE")

            def do_HEAD(self) -> None:
                self._route("HEAD")

            def _route(self, method: str) -> None:
                path = unquote(urlsplit(self.path).path)
                body = self._body()
                if self.headers.get("Authorization"):
                    with fake.lock:
                        fake.authorizations.add(self.headers["Authorization"])
                try:
                    status, resp = fake.handle(method, path, body)
                except QueryError as e:
                    status, resp = 400, {"error": {"type": "search_phase_execution_exception", "reason": str(e)},
                                         "status": 400}
                self._send(status, resp)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if not parts:
            return 200, {"name": "fake", "cluster_name": "fake", "version": {"number": "8.15.0"},
                         "tagline": "You Know, for Search"}
        if parts[0] == "_index_template" and method == "PUT":
            self.templates[parts[1]] = json.loads(body)
            return 200, {"acknowledged": True}
        if parts[0] == "_bulk":
            return self._bulk(body)
        if len(parts) == 2 and parts[1] == "_search":
            return self._search(parts[0], json.loads(body or b"{}"))
        if len(parts) >= 2 and parts[1] == "_stats":
            with self.lock:
                names = [n for n in self.indices if fnmatch.fnmatch(n, parts[0])]
                return 200, {"indices": {n: {"primaries": {
                    "docs": {"count": len(self.indices[n])},
                    "store": {"size_in_bytes": sum(len(json.dumps(d)) for d in self.indices[n].values())}}}
                    for n in names}}
        if len(parts) == 1 and method == "DELETE":
            with self.lock:
                if parts[0] not in self.indices:
                    return 404, {"error": {"type": "index_not_found_exception"}, "status": 404}
                del self.indices[parts[0]]
            return 200, {"acknowledged": True}
        return 404, {"error": {"type": "not_found", "reason": f"{method} {path}"}, "status": 404}

    def _bulk(self, body: bytes) -> tuple[int, Any]:
        with self.lock:
            self.bulk_requests += 1
            if self.fail_requests:
                status = self.fail_requests.pop(0)
                return status, {"error": {"type": "es_rejected_execution_exception" if status == 429 else
                                          "unavailable"}, "status": status}
            lines = [json.loads(x) for x in body.split(b"\n") if x.strip()]
            items = []
            for action, doc in zip(lines[::2], lines[1::2]):
                (op, meta), = action.items()
                assert op == "create", op
                idx, did = meta["_index"], meta["_id"]
                pending = self.item_status.get(did)
                if pending:
                    st = pending.pop(0)
                    items.append({op: {"_index": idx, "_id": did, "status": st,
                                       "error": {"type": "es_rejected_execution_exception" if st == 429
                                                 else "unavailable_shards_exception"}}})
                    continue
                if did in self.reject:
                    items.append({op: {"_index": idx, "_id": did, "status": 400,
                                       "error": {"type": "mapper_parsing_exception", "reason": "bad field"}}})
                    continue
                unknown = self._strict_unknown(doc)
                if unknown:  # the template's "dynamic": "strict", as a real cluster applies it
                    items.append({op: {"_index": idx, "_id": did, "status": 400, "error": {
                        "type": "strict_dynamic_mapping_exception",
                        "reason": f"mapping set to strict, dynamic introduction of [{unknown}] is not allowed"}}})
                    continue
                index = self.indices.setdefault(idx, {})
                if did in index:
                    items.append({op: {"_index": idx, "_id": did, "status": 409,
                                       "error": {"type": "version_conflict_engine_exception"}}})
                    continue
                index[did] = doc
                items.append({op: {"_index": idx, "_id": did, "status": 201, "result": "created"}})
            return 200, {"took": 1, "errors": any(next(iter(i.values()))["status"] >= 300 for i in items),
                         "items": items}

    def _strict_unknown(self, doc: dict[str, Any]) -> str:
        for tpl in self.templates.values():
            mappings = tpl.get("template", {}).get("mappings", {})
            if mappings.get("dynamic") == "strict":
                props = mappings.get("properties", {})
                for k in doc:
                    if k not in props:
                        return k
        return ""

    def _search(self, pattern: str, req: dict[str, Any]) -> tuple[int, Any]:
        with self.lock:
            docs = [(d, did) for n, idx in self.indices.items() if fnmatch.fnmatch(n, pattern)
                    for did, d in idx.items()]
        q = req.get("query", {"match_all": {}})
        hits = [(d, did) for d, did in docs if _match(q, d)]
        sort = [next(iter(s.items())) for s in req.get("sort", [])]

        def key(d: dict[str, Any]) -> tuple:
            return tuple(d[f] if o == "asc" else -d[f] for f, o in sort)

        hits.sort(key=lambda h: key(h[0]))
        after = req.get("search_after")
        if after is not None:
            ak = tuple(v if o == "asc" else -v for v, (_, o) in zip(after, sort))
            hits = [h for h in hits if key(h[0]) > ak]
        size = int(req.get("size", 10))
        return 200, {"hits": {"hits": [{"_id": did, "_source": d, "sort": [d[f] for f, _ in sort]}
                                       for d, did in hits[:size]]}}
