"""`login` and `logout`: check credentials against a registry, then keep or forget them in
config.json (see auth.py). The server is a registry host (`127.0.0.1:5000`, `ghcr.io`); none means
Docker Hub, as in Docker."""

from __future__ import annotations

from pathlib import Path

from pydock.runtime.images import auth
from pydock.runtime.images.registry import RegistryClient

from pydock.errors import NotFoundError, UsageError


def _domain(server: str | None) -> str:
    s = (server or "docker.io").strip().removeprefix("https://").removeprefix("http://").rstrip("/")
    s = s.removesuffix("/v1").removesuffix("/v2")
    if not s or "/" in s:
        raise UsageError(f"invalid registry server {server!r}: expected HOST[:PORT]")
    return "docker.io" if s in ("index.docker.io", auth.HUB_REGISTRY) else s


def login(server: str | None, username: str, password: str, *, insecure_registries: tuple[str, ...] = (),
          config_dir: str | Path | None = None) -> Path:
    """Verifies the credentials with the registry (`GET /v2/`, through its token flow if it has one)
    and stores them; returns the config.json written. AuthError when the registry refuses them."""
    domain = _domain(server)
    if not username:
        raise UsageError("login needs a username (-u)")
    if not password:
        raise UsageError("login needs a password (--password-stdin or -p)")
    creds = auth.Credentials(username, password)
    with RegistryClient(domain, creds, insecure_registries) as client:
        client.ping()
        # A registry that lets anyone in at /v2/ but uses tokens per repository: ask for a token
        # with no scope, so a wrong password is refused now rather than at the first pull.
        client.check_token()
    return auth.store(domain, creds, config_dir)


def logout(server: str | None, *, config_dir: str | Path | None = None) -> str:
    domain = _domain(server)
    if not auth.erase(domain, config_dir):
        raise NotFoundError(f"Not logged in to {auth.server_key(domain)}")
    return auth.server_key(domain)
