"""YAML loading that remembers line numbers, so config and rule-file errors can name file and line.

PyYAML's nodes carry marks; plain `safe_load` throws them away. `load_yaml` builds ordinary dicts and
lists but returns `LDict`/`LList` subclasses that keep the line of every key and item, and `Where`
turns them into `file:line: reason` errors (`ConfigError`).
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, NoReturn

import yaml

from pydock.errors import ConfigError


class LDict(dict):  # type: ignore[type-arg]
    """A mapping from YAML with `line` (1-based, of the mapping) and `key_lines` (line of each key)."""

    line: int = 0
    key_lines: dict[Any, int]


class LList(list):  # type: ignore[type-arg]
    """A sequence from YAML with `line` and `item_lines` (line of each item)."""

    line: int = 0
    item_lines: list[int]


class _Duplicate(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line


class _Loader(yaml.SafeLoader):
    def construct_yaml_map(self, node: yaml.MappingNode):  # type: ignore[no-untyped-def,override]
        data = LDict()
        data.line = node.start_mark.line + 1
        data.key_lines = {}
        yield data
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in data:
                # Prometheus (Go's yaml.v2 in strict mode) refuses duplicate keys; so do we.
                raise _Duplicate(key_node.start_mark.line + 1, f"key {key!r} already set in map")
            data[key] = self.construct_object(value_node, deep=True)
            data.key_lines[key] = key_node.start_mark.line + 1

    def construct_yaml_seq(self, node: yaml.SequenceNode):  # type: ignore[no-untyped-def,override]
        data = LList()
        data.line = node.start_mark.line + 1
        data.item_lines = [n.start_mark.line + 1 for n in node.value]
        yield data
        data.extend(self.construct_object(n, deep=True) for n in node.value)


_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _Loader.construct_yaml_seq)


def load_yaml(path: Path) -> Any:
    """Parse one YAML file; syntax errors become `ConfigError` naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except _Duplicate as exc:
        raise ConfigError(f"{path}:{exc.line}: {exc}") from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ConfigError(f"{path}:{line}: invalid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc


_DURATION_RE = re.compile(r"^((\d+)y)?((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?((\d+)ms)?$")
_DURATION_UNITS = (31536000.0, 604800.0, 86400.0, 3600.0, 60.0, 1.0, 0.001)
_LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def parse_duration(text: str) -> float:
    """Prometheus's model.ParseDuration (`1h30m`, `5m`, `1d`, `500ms`; integers only): seconds."""
    if text == "0":  # the one unit-less duration Prometheus accepts
        return 0.0
    m = _DURATION_RE.match(text)
    if not text or not m:
        raise ValueError(f"not a valid duration string: {text!r}")
    return sum(int(m.group(2 * i + 2)) * unit for i, unit in enumerate(_DURATION_UNITS) if m.group(2 * i + 2))


def format_duration(seconds: float) -> str:
    """The inverse of `parse_duration`, as Prometheus prints durations (`1m30s`, `0s`)."""
    ms = round(seconds * 1000)
    if ms == 0:
        return "0s"
    out = ""
    for unit, size in (("y", 31536000000), ("w", 604800000), ("d", 86400000), ("h", 3600000), ("m", 60000),
                       ("s", 1000), ("ms", 1)):
        n, ms = divmod(ms, size)
        if n:
            out += f"{n}{unit}"
    return out


def valid_label_name(name: str) -> bool:
    return bool(_LABEL_NAME_RE.match(name))


class Where:
    """A position in one YAML file: raises `ConfigError` as `file:line: reason`."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: Any, reason: str, key: Any = None) -> NoReturn:
        raise ConfigError(f"{self.path}:{self.line(node, key)}: {reason}")

    @staticmethod
    def line(node: Any, key: Any = None) -> int:
        if isinstance(node, LDict) and key is not None and key in node.key_lines:
            return node.key_lines[key]
        if isinstance(node, LList) and isinstance(key, int) and key < len(node.item_lines):
            return node.item_lines[key]
        return getattr(node, "line", 0)

    def mapping(self, node: Any, what: str, allowed: set[str], parent: Any = None, key: Any = None) -> LDict:
        """Check that `node` is a mapping with known keys only (Prometheus refuses unknown fields)."""
        if node is None:
            empty = LDict()
            empty.line, empty.key_lines = self.line(parent, key), {}
            return empty
        if not isinstance(node, dict):
            self.fail(parent, f"{what} must be a mapping, got {type(node).__name__}", key)
        for k in node:
            if k not in allowed:
                self.fail(node, f"field {k} not found in {what}", k)
        return node  # type: ignore[return-value]

    def seq(self, node: LDict, key: str, what: str) -> LList:
        value = node.get(key)
        if value is None:
            empty = LList()
            empty.line, empty.item_lines = self.line(node, key), []
            return empty
        if not isinstance(value, list):
            self.fail(node, f"{what} must be a list", key)
        return value  # type: ignore[return-value]

    def string(self, node: LDict, key: str, default: str | None = None, required: bool = False) -> str:
        value = node.get(key)
        if value is None:
            if required:
                self.fail(node, f"{key} is required")
            return default if default is not None else ""
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(node, f"{key} must be a string", key)
        return str(value)

    def boolean(self, node: LDict, key: str, default: bool) -> bool:
        value = node.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(node, f"{key} must be true or false, got {value!r}", key)
        return value

    def integer(self, node: LDict, key: str, default: int) -> int:
        value = node.get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.fail(node, f"{key} must be a non-negative integer, got {value!r}", key)
        return value

    def duration(self, node: LDict, key: str, default: float) -> float:
        value = node.get(key)
        if value is None:
            return default
        try:
            seconds = parse_duration(str(value))
        except ValueError as exc:
            self.fail(node, f"{key}: {exc}", key)
        if math.isnan(seconds):
            self.fail(node, f"{key}: not a valid duration", key)
        return seconds

    def labels(self, node: LDict, key: str) -> dict[str, str]:
        """A label map: valid names, string values (Prometheus's LabelSet unmarshalling)."""
        value = self.mapping(node.get(key), key, set(node.get(key) or {}), node, key)
        out: dict[str, str] = {}
        for name, v in value.items():
            if not isinstance(name, str) or not valid_label_name(name):
                self.fail(value, f'"{name}" is not a valid label name', name)
            if isinstance(v, (dict, list)) or v is None:
                self.fail(value, f"label {name} must have a string value", name)
            out[name] = str(v).lower() if isinstance(v, bool) else str(v)
        return out
