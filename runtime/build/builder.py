"""`pydock build`: runs a Dockerfile's stages step by step into images of the store.

The classic builder's model: every step makes an image (untagged, its `parent` the step before), found
again through the layer cache (cache.py) when the parent and the step are the same. RUN runs in a real
container made by the runtime (`Runtime.create/start/remove`, network none, no log file), its output
streamed to the build's output; its overlay upper directory becomes the step's layer (layers.py).
COPY and ADD write their layer directly (context.py). Layers are stored as `load` stores them.

Nothing half-made stays behind: a build container is removed whatever happens, and when a build
fails every image and layer it made is removed again and the cache index is left as it was.
"""

from __future__ import annotations

import copy
import json
import os
import selectors
import shutil
import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from pydock.runtime import rootfs
from pydock.runtime.build import dockerfile
from pydock.runtime.build.cache import BuildCache, step_key
from pydock.runtime.build.context import FileTree
from pydock.runtime.build.dockerfile import Instruction, Stage
from pydock.runtime.build.instructions import Env, StageState, Step, handle
from pydock.runtime.build.layers import ImageFS, copy_diff_to_tar, upper_to_tar
from pydock.runtime.build.shellwords import Lexer, split_raw
from pydock.runtime.images.layout import host_arch
from pydock.runtime.images.reference import normalize_ref
from pydock.runtime.images.store import ImageStore
from pydock.runtime.spec import DEFAULT_PATH

from pydock.errors import BuildError, CommandNotFound, CommandNotInvokable, NotFoundError, PydockError
from pydock.settings import Settings
from pydock.units import utc_iso


class Output(Protocol):
    """Where the build's progress goes: the CLI's stdout, the API's JSON stream, or nowhere (-q)."""

    def line(self, text: str) -> None: ...

    def raw(self, data: bytes) -> None: ...


class NullOutput:
    def line(self, text: str) -> None:
        pass

    def raw(self, data: bytes) -> None:
        pass


@dataclass(frozen=True)
class BuildOptions:
    context: Path
    dockerfile: Path | None = None  # default: CONTEXT/Dockerfile
    tags: tuple[str, ...] = ()
    build_args: Mapping[str, str] = field(default_factory=dict)
    target: str = ""
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    pull: bool = False  # --pull: pull the FROM images even when present (a missing one is always pulled)


@dataclass(frozen=True)
class BuildResult:
    image_id: str
    tags: tuple[str, ...]


def build(settings: Settings, opts: BuildOptions, out: Output | None = None) -> BuildResult:
    """Builds the Dockerfile; returns the image id and the tags it was given."""
    return Builder(settings, opts, out or NullOutput()).run()


def _short(image_id: str) -> str:
    return image_id.split(":", 1)[-1][:12]


class Builder:
    def __init__(self, settings: Settings, opts: BuildOptions, out: Output) -> None:
        self.settings, self.opts, self.out = settings, opts, out
        self.store = ImageStore(settings.images)
        self.cache = BuildCache(self.store, enabled=not opts.no_cache)
        self.made_configs: list[str] = []
        self.made_layers: list[Path] = []
        self.trees: dict[str, FileTree] = {}
        self.stages: list[tuple[Stage, StageState]] = []
        self.tmp: Path | None = None
        self._runtime: Any = None

    # -- the whole build -----------------------------------------------------------------------

    def run(self) -> BuildResult:
        ctx = self.opts.context
        if not ctx.is_dir():
            raise BuildError(f'unable to prepare context: path "{ctx}" not found')
        df_path = self.opts.dockerfile or ctx / "Dockerfile"
        try:
            text = df_path.read_text(errors="surrogateescape")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BuildError(f"Cannot locate specified Dockerfile: {df_path.name}") from None
        df = dockerfile.parse(text, df_path.name)
        tags = tuple(normalize_ref(t) for t in self.opts.tags)
        stages = self._stages_to_build(df)
        if self.opts.labels:  # Docker appends one LABEL to the last stage for --label
            body = " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in self.opts.labels.items())
            last = stages[-1]
            stages[-1] = Stage(last.index, last.base, last.name, last.from_instr,
                               [*last.instructions, Instruction("LABEL", body, 0, "LABEL " + body)])
        build_args = dict(self.opts.build_args)
        env = Env(df.escape, build_args, {}, FileTree.context(ctx), self._from_tree)
        for ins in df.global_args:
            lex = Lexer(df.escape)
            for word in split_raw(ins.args, df.escape):
                name, eq, default = word.partition("=")
                if name in build_args:
                    env.meta_args[name] = build_args[name]
                    env.used_args.add(name)
                else:
                    env.meta_args[name] = lex.word(default, _known(env.meta_args)) if eq else None
        total = sum(1 + len(s.instructions) for s in stages)
        self.store._setup()
        self.tmp = Path(tempfile.mkdtemp(prefix="build-", dir=self.store.tmp))
        try:
            n = 0
            state: StageState | None = None
            for stage in stages:
                n += 1
                self.out.line(f"Step {n}/{total} : {_show(stage.from_instr)}")
                state = self._from(stage, env, df)
                self.stages.append((stage, state))
                for ins in stage.instructions:
                    n += 1
                    self.out.line(f"Step {n}/{total} : {_show(ins)}")
                    try:
                        self._step(ins, state, env)
                    except BuildError as exc:
                        if ins.line and not str(exc).startswith(("The command ", df.name)):
                            raise BuildError(f"{df.name}:{ins.line}: {exc}") from None
                        raise
            assert state is not None
            image_id = state.image_id or self._commit(state, Step("", state.run), None)
            unused = sorted(set(build_args) - env.used_args)
            if unused:
                self.out.line(f"[Warning] One or more build-args {unused} were not consumed")
            with self.store._lock():
                self.cache.commit()
            for t in tags:
                self.store.tag(image_id, t)
        except BaseException:
            self._rollback()
            raise
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.out.line(f"Successfully built {_short(image_id)}")
        for t in tags:
            self.out.line(f"Successfully tagged {t}")
        return BuildResult(image_id, tags)

    def _stages_to_build(self, df: dockerfile.Dockerfile) -> list[Stage]:
        stages = list(df.stages)
        if self.opts.target:
            names = [s.name for s in stages]
            if self.opts.target.lower() not in names:
                raise BuildError(f"failed to reach build target {self.opts.target} in Dockerfile")
            stages = stages[:names.index(self.opts.target.lower()) + 1]
        return stages

    def _rollback(self) -> None:
        """Removes the images and layers this build made (a failed build leaves the store as it was)."""
        with self.store._lock():
            for image_id in self.made_configs:
                (self.store.configs / f"{image_id.split(':', 1)[1]}.json").unlink(missing_ok=True)
            self.store.drop_layers(self.made_layers)

    # -- FROM ----------------------------------------------------------------------------------

    def _stage_image(self, ref: str, current: int) -> str | None:
        """The image id of an earlier stage named (or numbered) `ref`; None if no stage is meant."""
        for stage, state in self.stages:
            if (stage.name and stage.name == ref.lower()) or ref == str(stage.index):
                if stage.index >= current:
                    break
                return state.image_id
        return None

    def _from(self, stage: Stage, env: Env, df: dockerfile.Dockerfile) -> StageState:
        try:
            base = Lexer(df.escape).word(stage.base, _known(env.meta_args))
        except BuildError as exc:
            raise BuildError(f"{df.name}:{stage.from_instr.line}: {exc}") from None
        from_stage = self._stage_image(base, stage.index)
        if from_stage is None and base.lower() == "scratch":
            from_stage = ""
        if from_stage == "":
            self.out.line(" ---> ")
            return StageState("", _scratch_config(), [])
        image_id = from_stage
        if image_id is None:
            try:
                image_id = self._pull(base) if self.opts.pull else self.store.resolve(base)
            except NotFoundError:
                image_id = self._pull(base)  # the classic builder pulls a missing base image
            except PydockError as exc:
                raise BuildError(f"{df.name}:{stage.from_instr.line}: invalid FROM {base!r}: {exc}") from None
        image = self.store.get(image_id)
        self.out.line(f" ---> {image.short_id}")
        config = copy.deepcopy(image.config)
        return StageState(image.id, config, self.store.layer_dirs(image))

    def _pull(self, ref: str) -> str:
        """Pulls `ref` through the images room (daemon.json's insecure registries, config.json's
        credentials), its progress as plain lines in the build output; a failure is the build's error."""
        from pydock.runtime.images.pull import pull
        from pydock.runtime.images.registry import insecure_registries

        def progress(ev: dict[str, Any]) -> None:
            if not ev.get("progressDetail"):  # one line per state, not per chunk
                self.out.line(f"{ev['id']}: {ev['status']}" if ev.get("id") else str(ev["status"]))

        try:
            return str(pull(self.store, ref, progress=progress,
                            insecure_registries=insecure_registries(self.settings.config_file)).id)
        except PydockError as exc:
            raise BuildError(f"FROM {ref}: Unable to find image '{ref}' locally, and the pull failed: {exc}") from None

    def _from_tree(self, ref: str) -> tuple[str, FileTree]:
        """`COPY --from=REF`: an earlier stage (by name or number) or a stored image, as a file tree."""
        image_id = self._stage_image(ref, self.stages[-1][0].index)
        if image_id is None:
            try:
                image_id = self.store.resolve(ref)
            except NotFoundError:
                image_id = self._pull(ref)  # an image named in COPY --from is pulled as FROM's is
        if image_id not in self.trees:
            assert self.tmp is not None
            dest = self.tmp / f"from-{len(self.trees)}"
            layers = self.store.layer_dirs(self.store.get(image_id)) if image_id else []
            rootfs.merge_layers(layers, dest)
            self.trees[image_id] = FileTree(dest, [], f"stage {ref}")
        return image_id or "scratch", self.trees[image_id]

    # -- one step ------------------------------------------------------------------------------

    def _step(self, ins: Instruction, state: StageState, env: Env) -> None:
        step = handle(ins, state, env)
        key = step_key(state.image_id or "scratch", step.text, step.args, step.content)
        hit = self.cache.get(key)
        if hit is not None:
            self.out.line(" ---> Using cache")
            image = self.store.get(hit)
            state.image_id, state.config = image.id, copy.deepcopy(image.config)
            state.layers = self.store.layer_dirs(image)
        else:
            diff_id = None
            if step.argv is not None:
                diff_id = self._layer(lambda tar: self._run_container(state, step, tar))
            elif step.write_layer is not None:
                writer = step.write_layer

                def write(tar: Path) -> None:
                    with tarfile.open(tar, "w", format=tarfile.PAX_FORMAT) as tf:
                        writer(tf)
                diff_id = self._layer(write)
            state.image_id = self._commit(state, step, diff_id)
            if diff_id is not None:
                state.layers = [*state.layers, self.store.layers / diff_id.split(":", 1)[1]]
            self.cache.put(key, state.image_id)
        self.out.line(f" ---> {_short(state.image_id)}")

    def _layer(self, make: Any) -> str:
        assert self.tmp is not None
        tar = self.tmp / "layer.tar"
        tar.unlink(missing_ok=True)
        make(tar)
        did, _ = self.store._add_layer(tar, made=self.made_layers)
        tar.unlink()
        return did

    def _commit(self, state: StageState, step: Step, diff_id: str | None) -> str:
        now = utc_iso()
        cfg = copy.deepcopy(state.config)
        cfg["config"] = step.run_config
        cfg["created"] = now
        rootfs_cfg = dict(cfg.get("rootfs") or {"type": "layers", "diff_ids": []})
        if diff_id is not None:
            rootfs_cfg["diff_ids"] = [*rootfs_cfg.get("diff_ids", []), diff_id]
        cfg["rootfs"] = rootfs_cfg
        entry: dict[str, Any] = {"created": now, "created_by": step.text}
        if diff_id is None:
            entry["empty_layer"] = True
        if step.text:
            cfg["history"] = [*(cfg.get("history") or []), entry]
        if state.image_id:
            cfg["parent"] = state.image_id  # as the classic builder records it; hides intermediates
        else:
            cfg.pop("parent", None)
        raw = json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode()
        with self.store._lock():
            before = {p.name for p in self.store.configs.glob("*.json")}
            image = self.store._add_config(raw, [])
            if f"{image.id.split(':', 1)[1]}.json" not in before:
                self.made_configs.append(image.id)
        state.config = cfg
        return image.id

    # -- RUN -----------------------------------------------------------------------------------

    def _rt(self) -> Any:
        if self._runtime is None:
            from pydock.runtime.lifecycle import Runtime

            self._runtime = Runtime(self.settings)
        return self._runtime

    def _run_container(self, state: StageState, step: Step, tar: Path) -> None:
        from pydock.runtime.spec import ContainerSpec

        assert step.argv is not None
        shown = " ".join(step.argv)
        if not state.layers:
            raise BuildError(f"The command '{shown}' cannot run: the stage has no files yet (FROM scratch)")
        run = state.run
        env_keys = {e.partition("=")[0] for e in run.get("Env") or []}
        spec = ContainerSpec(
            image=state.image_id, cmd=tuple(step.argv), entrypoint=(), network="none", log_driver="none",
            env=tuple(f"{k}={v}" for k, v in step.args.items() if k not in env_keys),
            workdir=run.get("WorkingDir") or "", user=run.get("User") or "",
            healthcheck={"Test": ["NONE"]})
        rt = self._rt()
        rec = rt.create(spec)
        try:
            self.out.line(f" ---> Running in {rec.short_id}")
            try:
                code = self._attach(rt, rec.id)
            except (CommandNotFound, CommandNotInvokable) as exc:  # Docker's 127/126, said as a RUN's code
                raise BuildError(f"The command '{shown}' returned a non-zero code: {exc.exit_code}: {exc}") from None
            if code != 0:
                raise BuildError(f"The command '{shown}' returned a non-zero code: {code}")
            rec = rt.store.get(rec.id)
            graph = rec.config["GraphDriver"]
            lower = ImageFS(state.layers)
            if graph["Name"] == rootfs.OVERLAY:
                upper_to_tar(Path(graph["Data"]["UpperDir"]), lower, tar)
            else:
                copy_diff_to_tar(rec.dir / "rootfs", lower, tar)
        finally:
            rt.remove(rec.id, force=True, volumes=True)
        self.out.line(f"Removing intermediate container {rec.short_id}")

    def _attach(self, rt: Any, cid: str) -> int:
        """Starts the container with its stdout/stderr piped here, streams them out, returns its exit code."""
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        try:
            started = rt.start(cid, attach=(out_w, err_w))
        except BaseException:
            os.close(out_r)
            os.close(err_r)
            raise
        finally:
            os.close(out_w)
            os.close(err_w)
        sel = selectors.DefaultSelector()
        try:
            for fd in (out_r, err_r):
                sel.register(fd, selectors.EVENT_READ)
            open_fds = 2
            while open_fds:
                for key, _ in sel.select():
                    data = os.read(key.fd, 65536)
                    if data:
                        self.out.raw(data)
                    else:
                        sel.unregister(key.fd)
                        open_fds -= 1
        finally:
            sel.close()
            os.close(out_r)
            os.close(err_r)
        return int(started.wait_exit())


def _known(args: Mapping[str, str | None]) -> dict[str, str]:
    return {k: v for k, v in args.items() if v is not None}


def _show(ins: Instruction) -> str:
    flags = "".join(f"--{k}={v} " for k, v in ins.flags)
    return f"{ins.cmd} {flags}{ins.args}".rstrip()


def _scratch_config() -> dict[str, Any]:
    # Docker gives a stage FROM scratch the default PATH, so RUN and the image's users find commands.
    return {"architecture": host_arch(), "os": "linux", "config": {"Env": [f"PATH={DEFAULT_PATH}"]},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
