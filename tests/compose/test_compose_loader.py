"""Loader unit tests: interpolation, .env, merging of several files, key-path and line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydock.compose.interpolate import substitute
from pydock.compose.loader import load, parse_dotenv

from pydock.errors import ConfigError

ENV = {"SET": "v", "EMPTY": ""}


@pytest.mark.parametrize("text,want", [
    ("${SET}", "v"), ("$SET/x", "v/x"), ("${UNSET}", ""), ("${UNSET:-d}", "d"), ("${EMPTY:-d}", "d"),
    ("${EMPTY-d}", ""), ("${UNSET-d}", "d"), ("${SET:-d}", "v"), ("$$SET", "$SET"), ("a$$", "a$"),
    ("${UNSET:-${SET}}", "v"), ("${SET:+alt}", "alt"), ("${UNSET:+alt}", ""), ("${SET:?boom}", "v"),
])
def test_substitute(text: str, want: str) -> None:
    assert substitute(text, ENV, "k") == want


@pytest.mark.parametrize("text,msg", [
    ("${UNSET:?need it}", "required variable UNSET is missing a value: need it"),
    ("${EMPTY:?}", "required variable EMPTY"), ("${UNSET?x}", "required variable UNSET"),
    ("${", "invalid interpolation"), ("${SET", "invalid interpolation"), ("${SET:-x", "missing }"), ("$-", "use $$"),
])
def test_substitute_errors(text: str, msg: str) -> None:
    with pytest.raises(ConfigError, match=msg.replace("$", r"\$")):
        substitute(text, ENV, "k")


def test_dotenv() -> None:
    text = "# c\nA=1\nexport B = two words # trailing\nC='${A} raw'\nD=\"${A} x\\n\"\nE\nF=${A}${B}\n"
    assert parse_dotenv(text, ".env", {"E": "from-env"}) == {
        "A": "1", "B": "two words", "C": "${A} raw", "D": "1 x\n", "E": "from-env", "F": "1two words"}
    with pytest.raises(ConfigError, match=r"\.env:2: invalid line"):
        parse_dotenv("A=1\n=bad\n", ".env")


def write(d: Path, name: str, text: str) -> Path:
    p = d / name
    p.write_text(text)
    return p


def test_env_and_override_merge(tmp_path: Path) -> None:
    write(tmp_path, ".env", "TAG=latest\nGREETING=from-dotenv\nONLY_DOTENV=1\n")
    write(tmp_path, "compose.yaml", """
services:
  web:
    image: busybox:${TAG}
    command: httpd -f -p 80
    environment:
      GREETING: ${GREETING}
      KEEP: base
      LIST: ${MISSING:-dflt}
    labels: [a=1, b=2]
    volumes: [data:/data, ./site:/www:ro]
    ports: ["8080:80"]
  worker:
    image: busybox
    depends_on: [web]
volumes:
  data:
""")
    write(tmp_path, "compose.override.yaml", """
services:
  web:
    command: ["httpd", "-f", "-p", "81"]
    environment: [GREETING=override, NEW=x, PASSED]
    labels: {b: "3"}
    volumes: ["other:/data"]
    ports: ["9090:81"]
volumes:
  other: {}
""")
    p = load(cwd=tmp_path, environ={"GREETING": "from-shell", "PASSED": "yes"}, needs={})
    web = p.services["web"]
    assert p.name == tmp_path.name.lower().replace(".", "")
    assert web["image"] == "busybox:latest"
    assert web["command"] == ["httpd", "-f", "-p", "81"]  # replaced, not appended
    assert web["environment"] == {"GREETING": "override", "KEEP": "base", "LIST": "dflt", "NEW": "x", "PASSED": "yes"}
    assert web["labels"] == {"a": "1", "b": "3"}
    assert web["volumes"] == [{"type": "volume", "source": "other", "target": "/data"},
                              {"type": "bind", "source": str(tmp_path / "site"), "target": "/www", "read_only": True}]
    assert web["ports"] == ["8080:80", "9090:81"]  # appended
    assert p.services["worker"]["depends_on"] == {"web": {"condition": "service_started", "required": True}}
    assert p.order() == ["web", "worker"]
    assert len(p.config_files) == 2


def test_shell_env_beats_dotenv_and_project_name(tmp_path: Path) -> None:
    write(tmp_path, ".env", "V=dotenv\n")
    write(tmp_path, "docker-compose.yml", "name: my_app\nservices:\n  a:\n    image: x\n    environment: ['X=${V}']\n")
    p = load(cwd=tmp_path, environ={"V": "shell"})
    assert p.name == "my_app" and p.services["a"]["environment"] == {"X": "shell"}
    assert load(cwd=tmp_path, environ={}, project_name="Other").name == "other"


def test_profiles(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "services:\n  a: {image: x}\n  dbg: {image: x, profiles: [debug]}\n")
    assert list(load(cwd=tmp_path, environ={}).services) == ["a"]
    assert list(load(cwd=tmp_path, environ={}, profiles=["debug"]).services) == ["a", "dbg"]
    assert list(load(cwd=tmp_path, environ={"COMPOSE_PROFILES": "debug"}).services) == ["a", "dbg"]
    assert list(load(cwd=tmp_path, environ={}).enabling(["dbg"]).services) == ["a", "dbg"]  # targeted by name


@pytest.mark.parametrize("body,msg", [
    ("services:\n  web:\n    image: x\n    ports: ['a:b:c:d']\n", r"compose.yaml:4: services.web.ports\[0\]"),
    ("services:\n  web:\n    imag: x\n", r"compose.yaml:3: services.web"),
    ("services:\n  web:\n    image: x\n    deploy: {resources: {limits: {memory: lots}}}\n",
     r"compose.yaml:4: services.web.deploy.resources.limits.memory"),
    ("services:\n  web:\n    image: x\n    restart: sometimes\n", r"compose.yaml:4: services.web.restart"),
    ("services:\n  web:\n    image: ${NOPE:?set NOPE}\n", r"compose.yaml:3: services.web.image: required variable NOPE"),
    ("services:\n  web:\n    image: x\n    depends_on: [db]\n", r"compose.yaml:4: services.web.depends_on: service 'db'"),
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n", "dependency cycle"),
    ("services:\n  web:\n    image: x\n    volumes: [nodef:/d]\n", r"compose.yaml:4: .*undefined volume 'nodef'"),
    ("services:\n  web:\n    image: x\n    expose: ['80x']\n", r"compose.yaml:4: .*services.web.expose"),
    ("services:\n  web:\n    image: x\n    ipc: host\n", r"compose.yaml:4: unsupported: services.web.ipc"),
    ("services:\n  web: [\n", r"compose.yaml:\d+: invalid YAML"),
    ("services:\n  web:\n    environment: {A: 1}\n", "neither an image nor a build"),
])
def test_errors_name_file_line_and_key(tmp_path: Path, body: str, msg: str) -> None:
    write(tmp_path, "compose.yaml", body)
    with pytest.raises(ConfigError, match=msg):
        load(cwd=tmp_path, environ={})


def test_restart_on_failure_count_is_accepted(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", "services:\n  web: {image: x, restart: 'on-failure:3'}\n")
    assert load(cwd=tmp_path, environ={}).services["web"]["restart"] == "on-failure:3"


def test_no_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no configuration file provided"):
        load(cwd=tmp_path, environ={})
