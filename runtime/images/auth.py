"""Registry credentials and challenges: Docker's `config.json` auths and `WWW-Authenticate`.

Credentials live in `<config dir>/config.json` as Docker keeps them: `{"auths": {"HOST[:PORT]":
{"auth": base64("user:password")}}}`, the file mode 0600, written atomically. The config dir is
`--config DIR`, else `PYDOCK_CONFIG_DIR`, else `~/.pydock`. Docker Hub's key is Docker's
`https://index.docker.io/v1/`, so a config.json copied from Docker works here.
"""

from __future__ import annotations

import base64
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pydock.errors import ConfigError

HUB_KEY = "https://index.docker.io/v1/"
HUB_REGISTRY = "registry-1.docker.io"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    def basic(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def config_dir(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("PYDOCK_CONFIG_DIR")
    if env:
        return Path(env)
    return Path(os.path.expanduser("~")) / ".pydock"


def server_key(host: str) -> str:
    """The key of a registry in config.json (Docker Hub keeps its historical URL)."""
    h = host.removeprefix("https://").removeprefix("http://").rstrip("/")
    if h in ("docker.io", "index.docker.io", HUB_REGISTRY, "index.docker.io/v1"):
        return HUB_KEY
    return h


def _read(path: Path) -> dict:  # type: ignore[type-arg]
    try:
        data = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the credentials file: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a JSON object")
    return data


def _write(path: Path, data: dict) -> None:  # type: ignore[type-arg]
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask must not widen it
        os.write(fd, (json.dumps(data, indent="\t") + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def lookup(host: str, cfg_dir: str | Path | None = None) -> Credentials | None:
    auths = _read(config_dir(cfg_dir) / "config.json").get("auths") or {}
    key = server_key(host)
    entry = auths.get(key) or auths.get("https://" + key) or auths.get("http://" + key)
    if not isinstance(entry, dict):
        return None
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config.json: the auth of {key} is not base64 user:password") from exc
        return Credentials(user, password)
    if entry.get("username"):
        return Credentials(str(entry["username"]), str(entry.get("password", "")))
    return None


def store(host: str, creds: Credentials, cfg_dir: str | Path | None = None) -> Path:
    path = config_dir(cfg_dir) / "config.json"
    data = _read(path)
    auths = data.setdefault("auths", {})
    auths[server_key(host)] = {"auth": base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()}
    _write(path, data)
    return path


def erase(host: str, cfg_dir: str | Path | None = None) -> bool:
    """Removes the host's credentials; False when there were none."""
    path = config_dir(cfg_dir) / "config.json"
    data = _read(path)
    auths = data.get("auths") or {}
    key = server_key(host)
    if key not in auths:
        return False
    del auths[key]
    _write(path, data)
    return True


_PARAM_RE = re.compile(r'([a-zA-Z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))')


@dataclass(frozen=True)
class Challenge:
    scheme: str  # lowercase: "bearer" or "basic"
    params: dict[str, str]


def parse_challenge(header: str) -> Challenge | None:
    """`Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"`."""
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    params = {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)).replace('\\"', '"')
              for m in _PARAM_RE.finditer(rest)}
    return Challenge(scheme.lower(), params)
