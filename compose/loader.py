"""Loads a compose project: finds the files, reads `.env`, interpolates, validates, merges.

The steps and their order are compose-go's `loader.Load`: each file is read (remembering the line of
every key, so errors say `compose.yaml:12: services.web.ports[0]: ...`), interpolated from the
environment over `.env`, checked against the Compose Specification, then the files are merged in
order and the model is normalised (`types.Project`). Nothing here touches the runtime.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydock.compose import merge, validate
from pydock.compose.interpolate import interpolate
from pydock.compose.types import Project, normalize_project

from pydock.errors import ConfigError, UsageError

FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = {"compose.yaml": "compose.override.yaml", "compose.yml": "compose.override.yml",
                  "docker-compose.yml": "docker-compose.override.yml",
                  "docker-compose.yaml": "docker-compose.override.yaml"}
_DOTENV_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(?:=\s*(.*?))?\s*$")


def find_files(cwd: Path) -> list[Path]:
    """compose.yaml (or its older names) in `cwd` or the nearest parent, and its override file."""
    for d in (cwd, *cwd.parents):
        for name in FILE_NAMES:
            if (d / name).is_file():
                out = [d / name]
                for over in dict.fromkeys((OVERRIDE_NAMES[name], "compose.override.yaml",
                                           "docker-compose.override.yml")):
                    if (d / over).is_file():
                        out.append(d / over)
                        break
                return out
    raise ConfigError(f"no configuration file provided: not found (looked for {', '.join(FILE_NAMES)} "
                      f"in {cwd} and its parents)")


def parse_dotenv(text: str, source: str, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`.env` and `env_file` syntax: KEY=VALUE, quotes, `#` comments, `export`; a value in double
    quotes or unquoted is interpolated from what came before (and `env`), as compose-go does."""
    from pydock.compose.interpolate import substitute

    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _DOTENV_LINE.match(line)
        if not m:
            raise ConfigError(f"{source}:{n}: invalid line {line.strip()!r}: expected KEY=VALUE")
        key, value = m.group(1), m.group(2)
        if value is None:
            if env is not None and key in env:
                out[key] = env[key]
            continue
        if len(value) >= 2 and value[0] == value[-1] == "'":
            out[key] = value[1:-1]
            continue
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\n", "\n").replace('\\"', '"')
        else:
            value = re.sub(r"\s+#.*$", "", value)
        out[key] = substitute(value, {**(env or {}), **out}, f"{source}:{n}: {key}")
    return out


class LineMap:
    """Key path -> line in one YAML file, from the node tree the parser composes."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path = path
        self.lines: dict[str, int] = {}
        if root is not None:
            self._walk(root, "")

    def _walk(self, node: yaml.Node, path: str) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = f"{path}.{k.value}" if path else str(k.value)
                self.lines[key] = k.start_mark.line + 1
                self._walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                self._walk(v, f"{path}[{i}]")

    def at(self, key_path: str) -> str:
        """`file:line: ` for the key path or its nearest parent that the file has."""
        p = key_path
        while p and p not in self.lines:
            p = re.sub(r"(\[\d+\]|\.[^.\[]*)$", "", p) if re.search(r"(\[\d+\]|\.[^.\[]*)$", p) else ""
        return f"{self.path}:{self.lines.get(p, 1)}: "


def read_file(path: Path) -> tuple[dict[str, Any], LineMap]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"open {path}: {exc.strerror}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}:1: top-level object must be a mapping")
    return data, LineMap(path, node)


def load(files: Sequence[str | Path] = (), project_name: str = "", env_files: Sequence[str | Path] = (),
         profiles: Sequence[str] = (), environ: Mapping[str, str] | None = None,
         cwd: Path | None = None, needs: dict[str, str] | None = None) -> Project:
    """The resolved project of `files` (found from `cwd` when empty). Raises ConfigError with the
    file and line, or the key path, of the first problem."""
    environ = dict(os.environ if environ is None else environ)
    cwd = Path(cwd or os.getcwd())
    paths = [Path(f) if Path(f).is_absolute() else cwd / f for f in files] if files else find_files(cwd)
    if not files and environ.get("COMPOSE_FILE"):
        paths = [cwd / p for p in environ["COMPOSE_FILE"].split(os.pathsep)]
    working_dir = paths[0].parent.resolve()
    env = dict(environ)
    dotenv_paths = [Path(e) for e in env_files] if env_files else [working_dir / ".env"]
    dotenv: dict[str, str] = {}
    for p in dotenv_paths:
        if not p.is_file():
            if env_files:
                raise ConfigError(f"couldn't find env file: {p}")
            continue
        dotenv.update(parse_dotenv(p.read_text(), str(p), environ))
    env = {**dotenv, **environ}  # the shell's environment wins over .env, as in Compose
    docs, maps = [], []
    for p in paths:
        data, lines = read_file(p)
        data = interpolate(data, env, at=lines.at)
        validate.check_spec(data, lines.at)
        docs.append(data)
        maps.append(lines)
    model = merge.merge_files(docs)

    def where(key_path: str) -> str:
        for lm in reversed(maps):  # the last file that has the key set it
            if key_path in lm.lines:
                return lm.at(key_path)
        return maps[-1].at(key_path) if maps else ""

    validate.check_supported(model, where, validate.NEEDS if needs is None else needs)
    name = project_name or environ.get("COMPOSE_PROJECT_NAME") or str(model.get("name") or "") \
        or working_dir.name
    active = list(profiles) or [p for p in environ.get("COMPOSE_PROFILES", "").split(",") if p]
    return normalize_project(model, project_name_of(name), working_dir, [str(p.resolve()) for p in paths],
                             env, active, where)


def project_name_of(name: str) -> str:
    """Compose's rule: lower case; letters, digits, `-` and `_`; starting with a letter or digit."""
    norm = re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")
    if not norm:
        raise UsageError(f"invalid project name {name!r}: must contain a letter or digit")
    return norm
