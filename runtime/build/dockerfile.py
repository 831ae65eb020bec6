"""The Dockerfile parser: directives, comments, line continuations, instructions, flags and stages.

Our own small parser rather than PyPI's `dockerfile-parse`: that package is made for reading and
editing Dockerfiles (it keeps the raw text, expands ENV everywhere, including in RUN, and has no
notion of the escape-aware exec form or of flags), it reports no line on a bad instruction, and what
the builder needs from it is about two hundred lines. The rules are those of moby's
`frontend/dockerfile/parser`: directives (`# escape=`, `# syntax=`) only before anything else, the
escape character ends a line that continues, comment lines inside a continued instruction are
dropped, and RUN/CMD/ENTRYPOINT/SHELL/COPY/ADD/VOLUME take a JSON array as their exec form.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from pydock.errors import BuildError

INSTRUCTIONS = frozenset({
    "FROM", "RUN", "CMD", "LABEL", "MAINTAINER", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT", "VOLUME",
    "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL",
})
JSON_FORMS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
FLAGS: dict[str, frozenset[str]] = {  # the --flags each instruction takes (others are refused)
    "FROM": frozenset({"platform"}),
    "COPY": frozenset({"chown", "from", "chmod", "link"}),
    "ADD": frozenset({"chown", "chmod", "link"}),
    "RUN": frozenset({"network"}),
    "HEALTHCHECK": frozenset({"interval", "timeout", "start-period", "start-interval", "retries"}),
}
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_FLAG = re.compile(r"^--([a-z][a-z0-9-]*)(?:=(.*))?$")


@dataclass(frozen=True)
class Instruction:
    """One instruction: `cmd` upper-case, `args` the text after flags (continuations joined),
    `json` the exec form's list when the text is one, `flags` the leading `--name=value` flags."""

    cmd: str
    args: str
    line: int
    original: str
    json: tuple[str, ...] | None = None
    flags: tuple[tuple[str, str], ...] = ()

    def flag(self, name: str) -> str | None:
        for k, v in self.flags:
            if k == name:
                return v
        return None


@dataclass
class Stage:
    """A FROM and the instructions after it; `name` is the `AS name` (lower-case), or ''."""

    index: int
    base: str
    name: str
    from_instr: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass(frozen=True)
class Dockerfile:
    name: str  # as errors name it ("Dockerfile")
    escape: str
    global_args: tuple[Instruction, ...]  # ARGs before the first FROM
    stages: tuple[Stage, ...]

    def error(self, line: int, message: str) -> BuildError:
        return BuildError(f"{self.name}:{line}: {message}")


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parses a whole Dockerfile; a bad line raises BuildError `NAME:LINE: message`."""
    lines = text.splitlines()
    escape, start = _directives(lines, name)
    instructions = list(_instructions(lines, start, escape, name))
    global_args: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if ins.cmd == "FROM":
            stages.append(_stage(ins, len(stages), name))
        elif not stages:
            if ins.cmd != "ARG":
                raise BuildError(f"{name}:{ins.line}: {ins.cmd} before the first FROM: only ARG may come "
                                 "first (no build stage in context)")
            global_args.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise BuildError(f"{name}: the Dockerfile has no FROM instruction" if instructions
                         else f"{name}: the Dockerfile cannot be empty")
    seen: set[str] = set()
    for st in stages:
        if st.name and st.name in seen:
            raise BuildError(f"{name}:{st.from_instr.line}: duplicate stage name {st.name!r}")
        seen.add(st.name)
    return Dockerfile(name, escape, tuple(global_args), tuple(stages))


def _directives(lines: list[str], name: str) -> tuple[str, int]:
    escape, i = "\\", 0
    seen: set[str] = set()
    while i < len(lines):
        m = _DIRECTIVE.match(lines[i].strip())
        if not m:
            break
        key, value = m.group(1).lower(), m.group(2)
        if key in seen:
            raise BuildError(f"{name}:{i + 1}: only one {key} parser directive can be used")
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise BuildError(f"{name}:{i + 1}: invalid escape token {value!r}: must be ` or \\")
            escape = value
        # `syntax` names a BuildKit frontend image; pydock builds with its own, so it is ignored.
        i += 1
    return escape, i


def _instructions(lines: list[str], start: int, escape: str, name: str) -> Iterator[Instruction]:
    i = start
    while i < len(lines):
        first = i
        parts = [lines[i].strip()]
        i += 1
        if not parts[0] or parts[0].startswith("#"):
            continue
        while parts[-1].endswith(escape):
            parts[-1] = parts[-1][:-1]
            # Comment lines and empty lines inside a continued instruction are skipped, as moby does.
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            parts.append(lines[i].rstrip())
            i += 1
        yield _instruction("".join(parts).strip(), first + 1, "\n".join(lines[first:i]), escape, name)


def _instruction(text: str, line: int, original: str, escape: str, name: str) -> Instruction:
    word, _, rest = text.partition(" ")
    if "\t" in word:
        word, _, more = word.partition("\t")
        rest = more + " " + rest
    cmd = word.upper()
    if cmd not in INSTRUCTIONS:
        raise BuildError(f"{name}:{line}: unknown instruction: {word}")
    rest = rest.strip()
    flags: list[tuple[str, str]] = []
    while rest.startswith("--"):
        tok, _, after = rest.partition(" ")
        m = _FLAG.match(tok)
        if not m:
            raise BuildError(f"{name}:{line}: {cmd}: malformed flag {tok!r}")
        if m.group(1) not in FLAGS.get(cmd, frozenset()):
            raise BuildError(f"{name}:{line}: unknown flag: --{m.group(1)} ({cmd} does not take it)")
        flags.append((m.group(1), m.group(2) or ""))
        rest = after.strip()
    exec_form = None
    if cmd in JSON_FORMS and rest.startswith("["):
        try:
            value = json.loads(rest)
        except ValueError:
            value = None  # not JSON: the shell form, as Docker reads it
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            exec_form = tuple(value)
    if cmd == "SHELL" and exec_form is None:
        raise BuildError(f"{name}:{line}: SHELL requires the arguments to be in JSON form")
    if not rest and cmd not in ("RUN", "CMD", "ENTRYPOINT") and not (cmd == "HEALTHCHECK" and flags):
        raise BuildError(f"{name}:{line}: {cmd} requires at least one argument")
    return Instruction(cmd, rest, line, original, exec_form, tuple(flags))


def _stage(ins: Instruction, index: int, name: str) -> Stage:
    words = ins.args.split()
    if len(words) == 3 and words[1].lower() == "as":
        if not re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_.-]*", words[2]):
            raise BuildError(f"{name}:{ins.line}: invalid name for build stage: {words[2]!r}, name can't "
                             "start with a number or contain symbols")
        return Stage(index, words[0], words[2].lower(), ins)
    if len(words) != 1:
        raise BuildError(f"{name}:{ins.line}: FROM requires either one or three arguments (FROM image [AS name])")
    return Stage(index, words[0], "", ins)
