"""What each Dockerfile instruction does to a stage: the image config it leaves, or the layer it asks for.

A handler substitutes variables (where Docker does), updates the stage's ARGs, and returns a `Step`:
the canonical text that keys the cache and becomes the history's `created_by`, the run config after
the step, and for RUN the command to run, for COPY/ADD a writer of the layer and the content hash
of its sources. The builder decides whether the cache already holds the step's result; handlers
never touch the store or start containers.
"""

from __future__ import annotations

import json
import posixpath
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydock.runtime.build.context import FileTree, LayerWriter, is_archive
from pydock.runtime.build.dockerfile import Instruction
from pydock.runtime.build.layers import ImageFS
from pydock.runtime.build.shellwords import Lexer, name_values, split_raw

from pydock.errors import BuildError, PydockError

DEFAULT_SHELL = ["/bin/sh", "-c"]
NS = 1_000_000_000


@dataclass
class StageState:
    """The image a stage has built so far, and the ARGs it declared."""

    image_id: str  # '' for `FROM scratch` before a step
    config: dict[str, Any]  # the whole image config (config, rootfs, history, ...)
    layers: list[Path]
    args: dict[str, str | None] = field(default_factory=dict)
    cmd_set: bool = False  # CMD given in this stage: ENTRYPOINT then keeps it

    @property
    def run(self) -> dict[str, Any]:
        return dict(self.config.get("config") or {})

    def env(self) -> dict[str, str]:
        """Substitution environment: the stage's ARGs, under its ENV (ENV wins, as in Docker)."""
        out = {k: v for k, v in self.args.items() if v is not None}
        for e in self.run.get("Env") or []:
            k, _, v = e.partition("=")
            out[k] = v
        return out


@dataclass
class Step:
    text: str  # after substitution: keys the cache, written as history's created_by
    run_config: dict[str, Any]
    args: dict[str, str] = field(default_factory=dict)  # ARGs RUN sees (part of its cache key)
    content: str = ""  # COPY/ADD: content hash of the sources
    argv: list[str] | None = None  # RUN
    write_layer: Callable[[tarfile.TarFile], None] | None = None  # COPY/ADD


class Env:
    """What handlers need from the build: the lexer, build args, sources for COPY."""

    def __init__(self, escape: str, build_args: dict[str, str], meta_args: dict[str, str | None],
                 context: FileTree, from_tree: Callable[[str], tuple[str, FileTree]]) -> None:
        self.escape = escape
        self.build_args = build_args
        self.meta_args = meta_args  # the ARGs before the first FROM, with their values
        self.used_args: set[str] = set()
        self.context = context
        self.from_tree = from_tree  # `--from` value -> (image id, its merged rootfs)


def _nop(cmd: str, text: str) -> str:
    return f"/bin/sh -c #(nop) {cmd} {text}".rstrip()


def handle(ins: Instruction, st: StageState, env: Env) -> Step:
    fn = _HANDLERS.get(ins.cmd)
    if fn is None:  # FROM is the builder's
        raise BuildError(f"{ins.cmd} is not valid here")
    return fn(ins, st, env)


def _lex(env: Env) -> Lexer:
    return Lexer(env.escape)


def _arg(ins: Instruction, st: StageState, env: Env) -> Step:
    lex = _lex(env)
    for word in split_raw(ins.args, env.escape):
        name, eq, default = word.partition("=")
        if not name:
            raise BuildError("ARG names can not be blank")
        if name in env.build_args:
            st.args[name] = env.build_args[name]
            env.used_args.add(name)
        elif eq:
            st.args[name] = lex.word(default, st.env())
        elif name in env.meta_args:  # `ARG NAME` in a stage takes the global ARG's value
            st.args[name] = env.meta_args[name]
        else:
            st.args.setdefault(name, None)
    return Step(_nop("ARG", ins.args), st.run)


def _env(ins: Instruction, st: StageState, env: Env) -> Step:
    pairs = name_values(ins.args, "ENV", env.escape, _lex(env), st.env())
    cfg = st.run
    current = [e for e in cfg.get("Env") or []]
    for k, v in pairs:
        current = [e for e in current if e.partition("=")[0] != k] + [f"{k}={v}"]
    cfg["Env"] = current
    return Step(_nop("ENV", " ".join(f"{k}={v}" for k, v in pairs)), cfg)


def _label(ins: Instruction, st: StageState, env: Env) -> Step:
    pairs = name_values(ins.args, "LABEL", env.escape, _lex(env), st.env())
    cfg = st.run
    cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(pairs)}
    return Step(_nop("LABEL", " ".join(f"{k}={json.dumps(v)}" for k, v in pairs)), cfg)


def _simple(key: str) -> Callable[[Instruction, StageState, Env], Step]:
    def handler(ins: Instruction, st: StageState, env: Env) -> Step:
        value = _lex(env).word(ins.args, st.env())
        cfg = st.run
        if key == "WorkingDir":
            value = posixpath.normpath(posixpath.join(cfg.get("WorkingDir") or "/", value))
        elif key == "StopSignal":
            from pydock.runtime.spec import parse_signal

            try:
                parse_signal(value)
            except PydockError:
                raise BuildError(f"failed to process {value!r}: invalid signal") from None
        cfg[key] = value
        return Step(_nop(ins.cmd, value), cfg)
    return handler


def _expose(ins: Instruction, st: StageState, env: Env) -> Step:
    cfg = st.run
    ports = dict(cfg.get("ExposedPorts") or {})
    for word in _lex(env).words(ins.args, st.env()):
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        lo, dash, hi = port.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()) or proto not in ("tcp", "udp", "sctp"):
            raise BuildError(f"invalid containerPort: {word}")
        for p in range(int(lo), int(hi or lo) + 1):
            ports[f"{p}/{proto}"] = {}
    cfg["ExposedPorts"] = ports
    return Step(_nop("EXPOSE", " ".join(sorted(ports))), cfg)


def _volume(ins: Instruction, st: StageState, env: Env) -> Step:
    lex = _lex(env)
    vols = [lex.word(v, st.env()) for v in ins.json] if ins.json is not None else lex.words(ins.args, st.env())
    if not vols or any(not v for v in vols):
        raise BuildError("VOLUME specified can not be an empty string")
    cfg = st.run
    cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{v: {} for v in vols}}
    return Step(_nop("VOLUME", json.dumps(vols)), cfg)


def _command(ins: Instruction, st: StageState) -> list[str]:
    if ins.json is not None:
        return list(ins.json)
    return [*(st.run.get("Shell") or DEFAULT_SHELL), ins.args] if ins.args else []


def _cmd(ins: Instruction, st: StageState, env: Env) -> Step:
    cfg = st.run
    cfg["Cmd"] = _command(ins, st)
    st.cmd_set = True
    return Step(_nop("CMD", json.dumps(cfg["Cmd"])), cfg)


def _entrypoint(ins: Instruction, st: StageState, env: Env) -> Step:
    cfg = st.run
    cfg["Entrypoint"] = _command(ins, st) or None
    if not st.cmd_set:
        cfg["Cmd"] = None  # Docker: an ENTRYPOINT resets the base image's CMD
    return Step(_nop("ENTRYPOINT", json.dumps(cfg["Entrypoint"])), cfg)


def _shell(ins: Instruction, st: StageState, env: Env) -> Step:
    assert ins.json is not None  # the parser requires the JSON form
    if not ins.json:
        raise BuildError("SHELL requires at least one argument")
    cfg = st.run
    cfg["Shell"] = list(ins.json)
    return Step(_nop("SHELL", json.dumps(cfg["Shell"])), cfg)


def _healthcheck(ins: Instruction, st: StageState, env: Env) -> Step:
    from pydock.units import duration_seconds

    word, _, rest = ins.args.partition(" ")
    cfg = st.run
    if word.upper() == "NONE":
        if rest.strip() or ins.flags:
            raise BuildError("HEALTHCHECK NONE takes no arguments")
        cfg["Healthcheck"] = {"Test": ["NONE"]}
        return Step(_nop("HEALTHCHECK", "NONE"), cfg)
    if word.upper() != "CMD" or not rest.strip():
        raise BuildError("HEALTHCHECK requires CMD and a command (or NONE)")
    rest = rest.strip()
    test: list[str] | None = None
    if rest.startswith("["):
        try:
            parsed = json.loads(rest)
            test = ["CMD", *parsed] if isinstance(parsed, list) and all(isinstance(x, str) for x in parsed) else None
        except ValueError:
            test = None
    hc: dict[str, Any] = {"Test": test or ["CMD-SHELL", rest]}
    for flag, key in (("interval", "Interval"), ("timeout", "Timeout"), ("start-period", "StartPeriod"),
                      ("start-interval", "StartInterval")):
        value = ins.flag(flag)
        if value is not None:
            try:
                hc[key] = int(duration_seconds(value, f"--{flag}") * NS)
            except PydockError as exc:
                raise BuildError(f"HEALTHCHECK --{flag}: {exc}") from None
    retries = ins.flag("retries")
    if retries is not None:
        if not retries.isdigit():
            raise BuildError(f"HEALTHCHECK --retries: invalid number {retries!r}")
        hc["Retries"] = int(retries)
    cfg["Healthcheck"] = hc
    return Step(_nop("HEALTHCHECK", json.dumps(hc, sort_keys=True)), cfg)


def _maintainer(ins: Instruction, st: StageState, env: Env) -> Step:
    st.config["author"] = ins.args
    return Step(_nop("MAINTAINER", ins.args), st.run)


def _onbuild(ins: Instruction, st: StageState, env: Env) -> Step:
    word = ins.args.split(None, 1)[0].upper()
    if word in ("ONBUILD", "FROM", "MAINTAINER"):
        raise BuildError(f"{word} isn't allowed as an ONBUILD trigger")
    cfg = st.run
    cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), ins.args]
    return Step(_nop("ONBUILD", ins.args), cfg)


def _run(ins: Instruction, st: StageState, env: Env) -> Step:
    argv = _command(ins, st)
    if not argv:
        raise BuildError("RUN requires at least one argument")
    args = {k: v for k, v in st.args.items() if v is not None}
    env.used_args.update(k for k in args if k in env.build_args)
    prefix = f"|{len(args)} " + " ".join(f"{k}={v}" for k, v in sorted(args.items())) + " " if args else ""
    return Step(prefix + " ".join(argv), st.run, args=args, argv=argv)


def _copy(ins: Instruction, st: StageState, env: Env) -> Step:
    lex = _lex(env)
    words = ([lex.word(w, st.env()) for w in ins.json] if ins.json is not None
             else lex.words(ins.args, st.env()))
    if len(words) < 2:
        raise BuildError(f"{ins.cmd} requires at least two arguments, but only one was provided. "
                         "Destination could not be determined.")
    *srcs, dest = words
    for s in srcs:
        if s.startswith(("http://", "https://", "git@")) or "://" in s:
            raise BuildError(f"{ins.cmd} failed: {s}: pydock build does not fetch URLs; download the file "
                             "into the build context and COPY it")
    from_ref = ins.flag("from")
    if ins.cmd == "ADD" and from_ref is not None:
        raise BuildError("ADD does not take --from; use COPY --from")
    if from_ref is not None:
        from_id, tree = env.from_tree(lex.word(from_ref, st.env()))
        content = from_id
    else:
        tree, content = env.context, ""
    found = [rel for s in srcs for rel in tree.resolve(s, ins.cmd)]
    if not content:
        content = tree.digest(found)
    image = ImageFS(st.layers)
    wd = st.run.get("WorkingDir") or "/"
    many = len(found) > 1 or any(c in s for s in srcs for c in "*?[")
    dest_abs = posixpath.join(wd, dest)
    dest_rel = image.realpath(posixpath.normpath(dest_abs))
    dir_dest = dest.endswith("/") or dest in (".", "..") or image.is_dir(dest_rel) or not dest_rel
    if many and not dir_dest:
        raise BuildError(f"When using {ins.cmd} with more than one source file, the destination must be a "
                         "directory and end with a /")
    chown, chmod = ins.flag("chown"), ins.flag("chmod")
    ids = image.ids(lex.word(chown, st.env())) if chown else None
    try:
        mode = int(chmod, 8) if chmod else None
    except ValueError:
        raise BuildError(f"invalid --chmod={chmod}: not an octal mode") from None
    is_add = ins.cmd == "ADD"

    def write(tf: tarfile.TarFile) -> None:
        w = LayerWriter(tf, image, ids, mode)
        links: dict[tuple[int, int], str] = {}
        for rel in found:
            path = tree.root / rel if rel else tree.root
            sst = path.lstat()
            if stat.S_ISDIR(sst.st_mode):
                w.dest_dir(dest_rel)
                for sub, spath, s in tree.walk(rel):
                    name = sub[len(rel) + 1:] if rel else sub
                    w.add(f"{dest_rel}/{name}" if dest_rel else name, spath, s, links)
            elif is_add and stat.S_ISREG(sst.st_mode) and is_archive(path):
                w.dest_dir(dest_rel)
                w.extract(dest_rel, path, rel)
            else:
                target = f"{dest_rel}/{posixpath.basename(rel)}" if dir_dest else dest_rel
                if dir_dest:
                    w.dest_dir(dest_rel)
                w.add(target.lstrip("/"), path, sst, links)

    flags = " ".join(f"--{k}={v}" for k, v in ins.flags)
    text = f"/bin/sh -c #(nop) {ins.cmd} {flags + ' ' if flags else ''}{content[:19]} in /{dest_rel}"
    return Step(text, st.run, content=content, write_layer=write)


_HANDLERS: dict[str, Callable[[Instruction, StageState, Env], Step]] = {
    "ARG": _arg, "ENV": _env, "LABEL": _label, "WORKDIR": _simple("WorkingDir"), "USER": _simple("User"),
    "STOPSIGNAL": _simple("StopSignal"), "EXPOSE": _expose, "VOLUME": _volume, "CMD": _cmd,
    "ENTRYPOINT": _entrypoint, "SHELL": _shell, "HEALTHCHECK": _healthcheck, "MAINTAINER": _maintainer,
    "ONBUILD": _onbuild, "RUN": _run, "COPY": _copy, "ADD": _copy,
}
