"""The Dockerfile parser, variable substitution and .dockerignore matching (no root needed)."""

from __future__ import annotations

import pytest
from pydock.runtime.build import dockerfile, ignore
from pydock.runtime.build.shellwords import Lexer, name_values

from pydock.errors import BuildError


def test_continuations_comments_and_exec_forms() -> None:
    df = dockerfile.parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG BASE=busybox\n"
        "FROM $BASE AS Build\n"
        "RUN echo a && \\\n"
        "    # a comment inside is dropped\n"
        "\n"
        "    echo b\n"
        "COPY --chown=1:2 --from=x a b /c/\n"
        'CMD ["sh", "-c", "echo hi"]\n'
        "ENTRYPOINT [not json\n"
        "from scratch\n")
    assert [a.args for a in df.global_args] == ["BASE=busybox"]
    first, second = df.stages
    assert (first.base, first.name, first.from_instr.line) == ("$BASE", "build", 3)
    run, copy, cmd, entry = first.instructions
    assert run.cmd == "RUN" and run.args == "echo a &&     echo b" and run.line == 4 and run.json is None
    assert copy.flags == (("chown", "1:2"), ("from", "x")) and copy.args == "a b /c/"
    assert cmd.json == ("sh", "-c", "echo hi")
    assert entry.json is None and entry.args == "[not json"  # not JSON: the shell form, as Docker
    assert second.base == "scratch" and second.index == 1


def test_escape_directive() -> None:
    df = dockerfile.parse("# escape=`\nFROM busybox\nRUN echo a `\n  b\nCOPY c:\\dir\\x /x\n")
    run, copy = df.stages[0].instructions
    assert df.escape == "`" and run.args == "echo a   b" and copy.args == "c:\\dir\\x /x"


@pytest.mark.parametrize(("text", "message"), [
    ("FROM busybox\nRUN true\nFORM x\n", "Dockerfile:3: unknown instruction: FORM"),
    ("RUN true\n", "Dockerfile:1: RUN before the first FROM"),
    ("FROM busybox\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON form"),
    ("FROM busybox\nCOPY --nope=1 a b\n", "Dockerfile:2: unknown flag: --nope"),
    ("FROM a AS x\nFROM b AS x\n", "Dockerfile:2: duplicate stage name 'x'"),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("# just a comment\n", "Dockerfile: the Dockerfile cannot be empty"),
    ("FROM busybox\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
])
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(BuildError) as err:
        dockerfile.parse(text)
    assert str(err.value).startswith(message)


def test_substitution() -> None:
    env = {"A": "x", "EMPTY": "", "SP": "one two"}
    lex = Lexer()
    assert lex.word("${A}-$A-${NOPE}", env) == "x-x-"
    assert lex.word("${NOPE:-dflt} ${EMPTY:-e} ${EMPTY-e} ${A:+set} ${NOPE:+set}", env) == "dflt e  set "
    assert lex.word("'$A' \"$A\" \\$A", env) == "$A x $A"
    assert lex.words("$SP 'a b' \"$SP\"", env) == ["one", "two", "a b", "one two"]
    assert lex.used >= {"A", "NOPE", "EMPTY", "SP"}
    with pytest.raises(BuildError, match="NOPE: must be set"):
        lex.word("${NOPE:?must be set}", env)
    pairs = name_values('A=1 B="two words" C=$A', "ENV", "\\", Lexer(), env)
    assert pairs == [("A", "1"), ("B", "two words"), ("C", "x")]  # C sees the A from before the line
    assert name_values("K some value", "ENV", "\\", Lexer(), env) == [("K", "some value")]


def test_dockerignore_patterns() -> None:
    pats = ignore.parse("# comment\n*.log\nsecret/\n!secret/keep.txt\n**/tmp\nbuild?\n")
    assert ignore.excluded(pats, "a.log") and not ignore.excluded(pats, "dir/a.log")
    assert ignore.excluded(pats, "secret/key") and not ignore.excluded(pats, "secret/keep.txt")
    assert ignore.excluded(pats, "x/y/tmp/file") and ignore.excluded(pats, "tmp")
    assert ignore.excluded(pats, "build1") and not ignore.excluded(pats, "build12")
    assert not ignore.excluded(pats, "src/main.py")
