"""Variable substitution and word splitting in Dockerfile instructions (moby's `shell.Lex`).

`$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?msg}` and
`${VAR?msg}` expand from the stage's environment (ENV and ARG); single quotes keep their text, double
quotes expand inside, the escape character keeps the next character. Only the instructions Docker
substitutes in (FROM, ENV, ARG, LABEL, COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL) call this:
RUN, CMD and ENTRYPOINT are left to the shell of the container.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydock.errors import BuildError

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


class Lexer:
    """Expands one instruction's text; `used` collects the names it looked up (build-arg usage)."""

    def __init__(self, escape: str = "\\") -> None:
        self.escape = escape
        self.used: set[str] = set()

    def word(self, text: str, env: Mapping[str, str]) -> str:
        """The text as one word: quotes removed, variables expanded, whitespace kept."""
        return "".join(self._process(text, env, split=False) or [""])

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """The text split into words on unquoted whitespace (an unquoted variable's value splits too)."""
        return self._process(text, env, split=True)

    def _process(self, text: str, env: Mapping[str, str], split: bool) -> list[str]:
        words: list[str] = []
        cur: list[str] = []
        started = False  # a quoted empty string is a word too
        i, n = 0, len(text)

        def finish() -> None:
            nonlocal cur, started
            if cur or started:
                words.append("".join(cur))
            cur, started = [], False

        while i < n:
            c = text[i]
            if c == self.escape:
                if i + 1 < n:
                    cur.append(text[i + 1])
                    i += 2
                else:
                    cur.append(c)
                    i += 1
                started = True
            elif c == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise BuildError(f"unexpected end of statement while looking for matching single-quote: {text}")
                cur.append(text[i + 1:end])
                i, started = end + 1, True
            elif c == '"':
                i, started = self._double(text, i + 1, env, cur), True
            elif c == "$":
                value, i = self._dollar(text, i + 1, env)
                if split:
                    pieces = value.split()
                    if value[:1].isspace() and (cur or started):
                        finish()
                    for k, piece in enumerate(pieces):
                        if k:
                            finish()
                        cur.append(piece)
                        started = True
                    if value[-1:].isspace() and pieces:
                        finish()
                else:
                    cur.append(value)
                    started = started or bool(value)
            elif split and c.isspace():
                finish()
                i += 1
            else:
                cur.append(c)
                started = True
                i += 1
        finish()
        return words

    def _double(self, text: str, i: int, env: Mapping[str, str], cur: list[str]) -> int:
        n = len(text)
        while i < n:
            c = text[i]
            if c == '"':
                return i + 1
            if c == self.escape and i + 1 < n and text[i + 1] in ('"', "$", self.escape):
                cur.append(text[i + 1])
                i += 2
            elif c == "$":
                value, i = self._dollar(text, i + 1, env)
                cur.append(value)
            else:
                cur.append(c)
                i += 1
        raise BuildError(f"unexpected end of statement while looking for matching double-quote: {text}")

    def _dollar(self, text: str, i: int, env: Mapping[str, str]) -> tuple[str, int]:
        """Expands the variable after a `$` at text[i-1]; returns its value and the next index."""
        n = len(text)
        if i < n and text[i] == "{":
            j = i + 1
            while j < n and text[j] in _NAME_CHARS:
                j += 1
            name = text[i + 1:j]
            if not name:
                raise BuildError(f"bad substitution: {text}")
            self.used.add(name)
            if j < n and text[j] == "}":
                return env.get(name, ""), j + 1
            op = ""
            if j < n and text[j] == ":":
                op, j = ":", j + 1
            if j >= n or text[j] not in "-+?":
                raise BuildError(f"unsupported modifier in ${{{name}...}}: {text}")
            op += text[j]
            depth, k = 1, j + 1
            while k < n and depth:
                if text[k] == self.escape:
                    k += 2
                    continue
                depth += {"{": 1, "}": -1}.get(text[k], 0)
                k += 1
            if depth:
                raise BuildError(f"missing '}}' in {text}")
            arg = self.word(text[j + 1:k - 1], env)
            is_set = name in env
            has_value = is_set and env[name] != ""
            present = has_value if op.startswith(":") else is_set
            if op.endswith("-"):
                return (env[name] if present else arg), k
            if op.endswith("+"):
                return (arg if present else ""), k
            if not present:
                raise BuildError(f"{name}: {arg or 'is not allowed to be unset'}")
            return env[name], k
        j = i
        while j < n and text[j] in _NAME_CHARS:
            j += 1
        if j == i:
            return "$", i
        self.used.add(text[i:j])
        return env.get(text[i:j], ""), j


def split_raw(text: str, escape: str = "\\") -> list[str]:
    """Splits on whitespace outside quotes, keeping quotes and escapes (moby's parseWords): the
    `K=V` pairs of ENV, LABEL and ARG are split so before each part is expanded."""
    words: list[str] = []
    cur: list[str] = []
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if c == escape and quote != "'" and i + 1 < len(text):
            cur.append(text[i:i + 2])
            i += 2
            continue
        if quote:
            if c == quote:
                quote = ""
        elif c in ("'", '"'):
            quote = c
        elif c.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
            i += 1
            continue
        cur.append(c)
        i += 1
    if cur:
        words.append("".join(cur))
    return words


def name_values(args: str, cmd: str, escape: str, lex: Lexer, env: Mapping[str, str],
                legacy: bool = True) -> list[tuple[str, str]]:
    """ENV/LABEL pairs: `K=V ...` (each part expanded) or the legacy `K V` (the rest of the line)."""
    words = split_raw(args, escape)
    if not words:
        raise BuildError(f"{cmd} requires at least one argument")
    if "=" not in words[0]:
        if not legacy:
            raise BuildError(f"{cmd} names can not be blank")
        key, _, rest = args.strip().partition(" ")
        if not rest.strip():
            raise BuildError(f"{cmd} requires two arguments (the legacy form: {cmd} name value)")
        return [(lex.word(key, env), lex.word(rest.strip(), env))]
    out = []
    for w in words:
        key, eq, value = w.partition("=")
        if not eq:
            raise BuildError(f"Syntax error - can't find = in {w!r}. Must be of the form: name=value")
        if not key:
            raise BuildError(f"{cmd} names can not be blank")
        out.append((lex.word(key, env), lex.word(value, env)))
    return out
