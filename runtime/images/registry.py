"""A client for the distribution API v2 (Docker Registry HTTP API), over httpx.

Transport: HTTPS verified against the system CAs plus `<certs.d>/HOST[:PORT]/*.crt` (and a client
certificate `client.cert`/`client.key` there). Plain HTTP only for a loopback registry or one listed
in daemon.json `insecure-registries`: for a loopback one HTTPS is tried first, still verified (a
certificate that does not verify is an error, not a reason to go plain), then HTTP when the server
does not speak TLS; for an insecure-registries entry HTTPS without verification, then HTTP, as
dockerd does. The certs.d root is `/etc/pydock/certs.d`, or `PYDOCK_CERTS_D`.

Auth: a request answered 401 is retried once with what its `WWW-Authenticate` asks: a Bearer token
fetched from the realm (with `service` and `scope`, basic credentials if we have them), or basic
credentials. Tokens are cached per scope for the client's life.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import ssl
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Self

# httpx's package imports its command-line client (httpx._main) whenever rich, click and pygments
# are installed: some 40 ms of imports per `pydock pull` for nothing a registry client uses. Marked
# absent, httpx falls back to its stub `httpx.main` (its CLI entry point, which pydock never calls).
if "httpx" not in sys.modules:
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
import httpcore
import httpx
from pydock.runtime.images import manifest as mf
from pydock.runtime.images.auth import HUB_REGISTRY, Credentials, parse_challenge

from pydock.errors import AuthError, NotFoundError, RegistryError

DEFAULT_CERTS_D = "/etc/pydock/certs.d"
CHUNK = 1 << 20
# httpcore receives at most 64 KiB per recv(), and each read costs h11 an event to parse: for a
# layer blob that overhead is as much CPU as the recv itself. 1 MiB reads halve a blob's CPU cost
# on the wire (bench/pull.py); recv returns what has arrived, so small responses are not delayed.
httpcore._sync.http11.HTTP11Connection.READ_NUM_BYTES = max(
    httpcore._sync.http11.HTTP11Connection.READ_NUM_BYTES, CHUNK)


def certs_root() -> Path:
    return Path(os.environ.get("PYDOCK_CERTS_D", DEFAULT_CERTS_D))


def registry_host(domain: str) -> str:
    """The host to talk to: Docker Hub's API lives at registry-1.docker.io."""
    return HUB_REGISTRY if domain in ("docker.io", "index.docker.io") else domain


def insecure_registries(daemon_json: Path) -> tuple[str, ...]:
    """daemon.json's `insecure-registries` (a missing file or key: none)."""
    import json

    try:
        data = json.loads(daemon_json.read_text() or "{}")
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        raise RegistryError(f"{daemon_json}: cannot read insecure-registries: {exc}") from exc
    value = data.get("insecure-registries", []) if isinstance(data, dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise RegistryError(f"{daemon_json}: insecure-registries must be a list of strings")
    return tuple(value)


def _hostname(host: str) -> str:
    if host.startswith("["):
        return host[1:host.find("]")]
    return host.rsplit(":", 1)[0] if ":" in host else host


def is_loopback(host: str) -> bool:
    name = _hostname(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_insecure(host: str, insecure: tuple[str, ...] = ()) -> bool:
    """Whether daemon.json `insecure-registries` (host[:port] or CIDR entries) lists the host."""
    name = _hostname(host)
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        ip = None
    for entry in insecure:
        if entry in (host, name):
            return True
        if ip is not None and "/" in entry:
            try:
                if ip in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
    return False


def tls_context(host: str, verify: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    d = certs_root() / host
    if d.is_dir():
        for crt in sorted(d.glob("*.crt")):
            try:
                ctx.load_verify_locations(cafile=str(crt))
            except (ssl.SSLError, OSError) as exc:
                raise RegistryError(f"{crt}: not a usable CA certificate: {exc}") from exc
        cert, key = d / "client.cert", d / "client.key"
        if cert.is_file() and key.is_file():
            ctx.load_cert_chain(str(cert), str(key))
    return ctx


def _speaks_tls(host: str, timeout: float = 10.0) -> bool:
    """Whether the server at `host` completes a TLS handshake. Its certificate is not looked at
    here: this only tells a plain-HTTP loopback registry from one that speaks TLS, which is then
    verified as any other. Anything but a refusal of TLS itself (refused, timed out) answers True,
    so the verified attempt runs and reports it as before."""
    import socket

    name = _hostname(host)
    port = 443
    rest = host[host.find("]") + 1:] if host.startswith("[") else host
    if ":" in rest:
        port = int(rest.rsplit(":", 1)[1])
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((name, port), timeout) as sock, ctx.wrap_socket(sock):
            return True
    except ssl.SSLError:
        return False
    except (OSError, ValueError):
        return True


def _error_text(resp: httpx.Response) -> str:
    """distribution's `{"errors": [{"code", "message"}]}` as Docker prints it: `manifest unknown: ...`."""
    try:
        errs = resp.json().get("errors") or []
        parts = [f"{e.get('code', '').lower().replace('_', ' ')}: {e.get('message', '')}".strip(": ")
                 for e in errs if isinstance(e, dict)]
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError):
        pass
    return f"HTTP {resp.status_code} {resp.reason_phrase}".strip()


class RegistryClient:
    """One registry, possibly several repositories; reuses one connection pool."""

    def __init__(self, domain: str, credentials: Credentials | None = None,
                 insecure_registries: tuple[str, ...] = (), timeout: float = 30.0) -> None:
        self.domain = domain
        self.host = registry_host(domain)
        self.credentials = credentials
        self.insecure = is_insecure(self.host, insecure_registries)
        self.loopback = is_loopback(self.host)
        self.timeout = timeout
        self._base: str | None = None
        self._client: httpx.Client | None = None
        self._tokens: dict[str, str] = {}
        self._basic = False
        self._last_bearer: dict[str, str] | None = None

    # -- transport ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _connect(self) -> None:
        if self._base is not None:
            return
        timeout = httpx.Timeout(self.timeout, connect=10.0)
        if self.insecure:
            tries = [("https", False), ("http", False)]
        elif self.loopback:
            tries = [("https", True), ("http", False)]
            # Most loopback registries speak plain HTTP: an unverified handshake tells, before the
            # verified context (tens of ms to load the system CAs) is built for nothing. One with
            # a certs.d entry (a CA, a client certificate) is taken to speak TLS, as before.
            if not (certs_root() / self.host).is_dir() and not _speaks_tls(self.host):
                tries = [("http", False)]
        else:
            tries = [("https", True)]
        last: Exception | None = None
        for scheme, verify in tries:
            client = httpx.Client(verify=tls_context(self.host, verify) if scheme == "https" else False,
                                  timeout=timeout, follow_redirects=True,
                                  headers={"User-Agent": "pydock/0.1 (distribution client)"})
            try:
                client.get(f"{scheme}://{self.host}/v2/")
            except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
                client.close()
                last = exc
                if "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
                    raise RegistryError(f"cannot reach the registry {self.host}: TLS certificate not "
                                        f"trusted ({exc}); put its CA in {certs_root() / self.host}/ca.crt, "
                                        "or list it in daemon.json insecure-registries") from exc
                continue
            except httpx.TimeoutException as exc:
                client.close()
                raise RegistryError(f"cannot reach the registry {self.host}: timed out") from exc
            self._base, self._client = f"{scheme}://{self.host}", client
            return
        why = str(last) or type(last).__name__
        if "refused" in why.lower() or "errno 111" in why.lower():
            why = "connection refused"
        hint = "" if self.insecure or self.loopback else \
            " (plain HTTP is allowed only for loopback and daemon.json insecure-registries)"
        raise RegistryError(f"cannot reach the registry {self.host}: {why}{hint}")

    def _auth_header(self, scope: str) -> dict[str, str]:
        if scope in self._tokens:
            return {"Authorization": f"Bearer {self._tokens[scope]}"}
        if self._basic and self.credentials:
            return {"Authorization": self.credentials.basic()}
        return {}

    def _fetch_token(self, params: dict[str, str], scope: str) -> None:
        realm = params.get("realm")
        if not realm:
            raise AuthError(f"{self.host}: a Bearer challenge without a realm")
        q = {k: v for k, v in (("service", params.get("service")), ("scope", scope or params.get("scope")))
             if v}
        headers = {"Authorization": self.credentials.basic()} if self.credentials else {}
        assert self._client is not None
        try:
            resp = self._client.get(realm, params=q, headers=headers)
        except httpx.HTTPError as exc:
            raise RegistryError(f"cannot reach the token server {realm}: {exc}") from exc
        if resp.status_code in (401, 403):
            raise AuthError(f"unauthorized: incorrect username or password ({self.host})")
        if resp.status_code != 200:
            raise AuthError(f"{realm}: token request failed: {_error_text(resp)}")
        data = resp.json()
        token = data.get("token") or data.get("access_token")
        if not token:
            raise AuthError(f"{realm}: the token server sent no token")
        self._tokens[scope] = str(token)

    def _send(self, method: str, url: str, scope: str, stream: bool = False, **kw: Any) -> httpx.Response:
        self._connect()
        assert self._client is not None
        full = url if url.startswith("http") else self._base + url  # type: ignore[operator]
        for attempt in range(2):
            headers = dict(kw.pop("headers", {}) or {})
            headers.update(self._auth_header(scope))
            try:
                req = self._client.build_request(method, full, headers=headers, **kw)
                resp = self._client.send(req, stream=stream)
            except httpx.TimeoutException as exc:
                raise RegistryError(f"{method} {full}: timed out") from exc
            except httpx.HTTPError as exc:
                raise RegistryError(f"{method} {full}: {exc}") from exc
            if resp.status_code != 401 or attempt == 1:
                if resp.status_code == 401:
                    resp.read()
                    why = "incorrect username or password" if self.credentials else "authentication required"
                    raise AuthError(f"unauthorized: {why} ({self.host})")
                return resp
            resp.read()
            ch = parse_challenge(resp.headers.get("WWW-Authenticate", ""))
            if ch is None:
                raise AuthError(f"unauthorized: {self.host} asks for credentials without a challenge")
            if ch.scheme == "bearer":
                self._last_bearer = ch.params
                self._fetch_token(ch.params, scope)
            elif ch.scheme == "basic":
                if not self.credentials:
                    raise AuthError(f"unauthorized: authentication required ({self.host}); run pydock login {self.domain}")
                self._basic = True
            else:
                raise AuthError(f"{self.host}: unsupported auth scheme {ch.scheme!r}")
            kw["headers"] = {k: v for k, v in headers.items() if k != "Authorization"}
        raise AssertionError("unreachable")

    # -- the API -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Checks that the registry answers and takes our credentials (what `login` does)."""
        resp = self._send("GET", "/v2/", "")
        if resp.status_code != 200:
            raise RegistryError(f"{self.host}: /v2/ answered {_error_text(resp)}")

    def check_token(self) -> None:
        """Fetches a token without a scope when the registry's realm is a token server (login)."""
        if self._tokens or self._last_bearer is None:
            return
        self._fetch_token(self._last_bearer, "")

    def get_manifest(self, repo: str, ref: str) -> tuple[bytes, str, str]:
        """(raw bytes, media type, digest) of a manifest by tag or digest."""
        resp = self._send("GET", f"/v2/{repo}/manifests/{ref}", f"repository:{repo}:pull",
                          headers={"Accept": mf.ACCEPT})
        if resp.status_code == 404:
            raise NotFoundError(f"manifest for {self.domain}/{repo}:{ref} not found: {_error_text(resp)}"
                                if not ref.startswith("sha256:") else
                                f"manifest for {self.domain}/{repo}@{ref} not found: {_error_text(resp)}")
        if resp.status_code != 200:
            raise RegistryError(f"{self.host}: GET manifest {repo}:{ref}: {_error_text(resp)}")
        raw = resp.content
        if len(raw) > mf.MAX_MANIFEST:
            raise RegistryError(f"{self.host}: the manifest of {repo}:{ref} is over {mf.MAX_MANIFEST} bytes")
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        if ref.startswith("sha256:") and ref != digest:
            raise RegistryError(f"manifest verification failed for digest {ref}: the registry sent {digest}")
        return raw, mf.media_type_of(raw, resp.headers.get("Content-Type", "")), digest

    @contextmanager
    def blob(self, repo: str, digest: str) -> Iterator[httpx.Response]:
        resp = self._send("GET", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull", stream=True)
        try:
            if resp.status_code == 404:
                resp.read()
                raise NotFoundError(f"blob {digest} of {self.domain}/{repo} not found: {_error_text(resp)}")
            if resp.status_code != 200:
                resp.read()
                raise RegistryError(f"{self.host}: GET blob {digest}: {_error_text(resp)}")
            yield resp
        finally:
            resp.close()

    def blob_exists(self, repo: str, digest: str) -> bool:
        resp = self._send("HEAD", f"/v2/{repo}/blobs/{digest}", f"repository:{repo}:pull,push")
        return resp.status_code == 200

    def _upload_scope(self, repo: str, mount_from: str | None) -> str:
        return f"repository:{repo}:pull,push" + (f" repository:{mount_from}:pull" if mount_from else "")

    def start_upload(self, repo: str, digest: str, mount_from: str | None = None) -> str | None:
        """Opens an upload session; None when the registry mounted the blob from `mount_from`."""
        params = {"mount": digest, "from": mount_from} if mount_from else {}
        resp = self._send("POST", f"/v2/{repo}/blobs/uploads/", self._upload_scope(repo, mount_from),
                          params=params)
        if resp.status_code == 201 and mount_from:
            return None
        if resp.status_code != 202:
            raise RegistryError(f"{self.host}: starting the upload of {digest} to {repo}: {_error_text(resp)}")
        return self._location(resp)

    def _location(self, resp: httpx.Response) -> str:
        loc = resp.headers.get("Location")
        if not loc:
            raise RegistryError(f"{self.host}: the upload answer has no Location")
        return str(httpx.URL(self._base + "/").join(loc))  # type: ignore[operator]

    def upload(self, repo: str, location: str, digest: str, src: BinaryIO, size: int,
               progress: Callable[[int], None] | None = None, chunk: int = 16 << 20) -> None:
        """Chunked upload (PATCH per chunk with Content-Range), then PUT with the digest."""
        scope = self._upload_scope(repo, None)
        sent = 0
        while sent < size:
            data = src.read(min(chunk, size - sent))
            if not data:
                raise RegistryError(f"the blob {digest} ended after {sent} of {size} bytes")
            resp = self._send("PATCH", location, scope, content=data, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{sent}-{sent + len(data) - 1}", "Content-Length": str(len(data))})
            if resp.status_code != 202:
                raise RegistryError(f"{self.host}: uploading {digest}: {_error_text(resp)}")
            location = self._location(resp)
            sent += len(data)
            if progress:
                progress(sent)
        url = httpx.URL(location)
        resp = self._send("PUT", str(url.copy_merge_params({"digest": digest})), scope,
                          headers={"Content-Length": "0"}, content=b"")
        if resp.status_code != 201:
            raise RegistryError(f"{self.host}: finishing the upload of {digest}: {_error_text(resp)}")

    def put_manifest(self, repo: str, ref: str, raw: bytes, media_type: str) -> str:
        resp = self._send("PUT", f"/v2/{repo}/manifests/{ref}", f"repository:{repo}:pull,push",
                          content=raw, headers={"Content-Type": media_type})
        if resp.status_code != 201:
            raise RegistryError(f"{self.host}: PUT manifest {repo}:{ref}: {_error_text(resp)}")
        return resp.headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(raw).hexdigest()
