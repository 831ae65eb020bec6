"""The lifecycle API: create, start, stop, kill, restart, remove, wait, prune.

The CLI, tests and other parts call `Runtime(settings)`; it writes config.json once at create, starts
a detached shim per start (shim.py) and talks to the container through its state and signals.
State writes go through `update_state` (atomic, under the container's lock); names are checked and
claimed under one lock for the whole state root, so concurrent `pydock run`s never collide. On any
error nothing stays behind: no record, no volume made for it, no cgroup, no shim.
"""

from __future__ import annotations

import fcntl
import functools
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydock.runtime import rootfs
from pydock.runtime.atomic import Lock, is_locked, read_json, write_json
from pydock.runtime.events import emit_for
from pydock.runtime.launch import ShimLaunch, spawn_shim
from pydock.runtime.names import new_id, random_name
from pydock.runtime.resources import before_stop
from pydock.runtime.store import (
    SHIM_LOCK,
    STATE_LOCK,
    ZERO_TIME,
    ContainerRecord,
    ContainerStore,
    load_record,
)

from pydock.errors import (
    CommandNotFound,
    CommandNotInvokable,
    ConflictError,
    NeedsRootError,
    NotFoundError,
    PydockError,
    RuntimeFailure,
    UsageError,
)
from pydock.settings import Settings
from pydock.units import parse_iso, utc_iso

if TYPE_CHECKING:
    from pydock.runtime.container_init import InitConfig
    from pydock.runtime.images import ImageStore
    from pydock.runtime.spec import ContainerSpec

__all__ = ["ZERO_TIME", "Runtime", "ShimLaunch", "Started", "init_config", "log_info", "remove_files", "update_state"]


def require_root() -> None:
    if os.geteuid() != 0:
        raise NeedsRootError("pydock needs root for namespaces, mounts and cgroups: run it as root (sudo)")


def update_state(container_dir: Path, **changes: Any) -> dict[str, Any]:
    """Read-modify-write of state.json under the container's lock."""
    with Lock(container_dir / STATE_LOCK):
        try:
            state = read_json(container_dir / "state.json")
        except (FileNotFoundError, ValueError):  # ValueError: lost in a host crash (not fsynced)
            state = {}
        state.update(changes)
        # Not fsynced: after a host crash no container runs, whatever its last state said (see atomic).
        write_json(container_dir / "state.json", state, durable=False)
        return dict(state)


def initial_state() -> dict[str, Any]:
    return {"Status": "created", "Running": False, "Paused": False, "Restarting": False, "OOMKilled": False,
            "Dead": False, "Pid": 0, "ShimPid": 0, "ExitCode": 0, "Error": "", "StartedAt": ZERO_TIME,
            "FinishedAt": ZERO_TIME, "RestartCount": 0, "CgroupPaths": {}, "LogDrops": 0}


def log_info(record: ContainerRecord) -> Any:
    from pydock.logdrivers.base import LogInfo

    cfg = record.config.get("Config", {})
    return LogInfo(container_id=record.id, container_name=record.name, image_name=record.image,
                   image_id=record.image_id, command=[record.config.get("Path", ""), *record.config.get("Args", [])],
                   created_ns=int(parse_iso(record.created) * 1e9), labels=record.labels,
                   env=list(cfg.get("Env") or []), log_dir=str(record.dir), hostname=os.uname().nodename)


def init_config(settings: Settings, record: ContainerRecord) -> InitConfig:
    """What container_init needs, from the record alone (the shim needs no image store)."""
    from pydock.runtime.container_init import InitConfig, Mount  # here: `run`/`create` never need it

    cfg, host = record.config["Config"], record.config["HostConfig"]
    netns = ""  # none and host: container_init unshares a netns or stays in the host's
    if host.get("NetworkMode", "none") not in ("none", "host"):  # a shim without a network never imports it
        from pydock.runtime.network.endpoint import netns_path

        netns = netns_path(settings, record)
    graph = record.config["GraphDriver"]
    mounts = []
    for m in record.config.get("Mounts", []):
        kind = "tmpfs" if m["Type"] == "tmpfs" else "bind"
        # A volume is filled from the image on first use (when empty), as Docker does, unless nocopy.
        copy_up = m["Type"] == "volume" and not m.get("NoCopy")
        mounts.append(Mount(kind, m.get("Source", ""), m["Destination"], not m.get("RW", True),
                            m.get("Options", ""), copy_up))
    etc = tuple((f"/etc/{n}", record.dir / n) for n in ("hostname", "hosts", "resolv.conf"))
    from pydock.runtime.security.confine import with_security  # security room: caps, seccomp, --init, --tmpfs

    return with_security(InitConfig(
        container_dir=record.dir, target=settings.run / "containers" / record.id / "rootfs",
        storage_driver=graph["Name"], layers=tuple(Path(p) for p in graph["Data"]["LowerDirs"]),
        argv=(record.config["Path"], *record.config["Args"]), env=tuple(cfg.get("Env") or ()),
        workdir=cfg.get("WorkingDir", ""), user=cfg.get("User", ""), hostname=cfg["Hostname"],
        network=host.get("NetworkMode", "none"), mounts=tuple(mounts), etc_files=etc,
        netns=netns,  # network room: the namespace to join, '' to unshare one
        seccomp_cache=settings.run / "seccomp",
    ), host)


def remove_files(settings: Settings, record: ContainerRecord, volumes: bool) -> None:
    """Removes what a container left: its cgroup (if a dead shim left it), run dir, record, and with
    `volumes` its anonymous volumes."""
    if record.config.get("HostConfig", {}).get("NetworkMode", "none") not in ("none", "host"):
        # network room: veths, netns, address, ports. A container without a network has none of them,
        # and `run --rm --network none` skips the package's import (docs/performance.md).
        from pydock.runtime.network.endpoint import release

        release(settings, record.id)
    paths = record.state.get("CgroupPaths") or {}
    if paths:
        from pydock.runtime import cgroups

        try:
            cgroups.open(paths).remove()
        except PydockError:
            if any(Path(p).exists() for p in paths.values()):
                raise
    try:
        _remove_tree(settings.run / "containers" / record.id)
    except OSError:
        pass  # as rmtree(ignore_errors=True): a run dir that is already gone, or held by a mount
    if record.dir.exists():
        _remove_tree(record.dir)
    if record.config.get("HostConfig", {}).get("IDMappings"):  # security room: the container's ids are free again
        from pydock.runtime.security.userns import release

        release(settings.root, record.id)
    if volumes:
        from pydock.runtime.volumes import VolumeStore  # here: the shim needs it only for --rm volumes

        store = VolumeStore(settings.volumes)
        for m in record.config.get("Mounts", []):
            if m.get("Type") == "volume" and m.get("Anonymous"):
                try:
                    store.remove(m["Name"], users=lambda _n: [])
                except NotFoundError:
                    pass


def _remove_tree(path: Path) -> None:
    """shutil.rmtree for a container's own directories, without importing shutil: it loads bz2 and
    lzma (~6 ms), and the shim of a `run --rm` removes these before the caller may exit."""
    for top, dirs, files in os.walk(path, topdown=False):  # symlinks are listed, never followed
        for name in files:
            os.unlink(os.path.join(top, name))
        for name in dirs:
            sub = os.path.join(top, name)
            if os.path.islink(sub):
                os.unlink(sub)
            else:
                os.rmdir(sub)
    os.rmdir(path)


@dataclass
class Started:
    record: ContainerRecord
    pid: int
    status_fd: int  # the shim's status pipe: reads `exited <code>` when the container exits; -1 if closed

    def wait_exit(self) -> int:
        """For a foreground run: blocks until the shim reports the exit, returns the exit code."""
        if self.status_fd < 0:
            raise RuntimeFailure("not attached to the container's shim")
        data = b""
        try:
            # The first `exited` line: a container with a restart policy goes on without us.
            while True:
                line, nl, rest_data = data.partition(b"\n")
                if nl:
                    data = rest_data
                    word, _, rest = line.decode(errors="replace").partition(" ")
                    if word == "exited":
                        return int(rest)
                    if word == "error":
                        raise _start_error(rest)
                    continue
                chunk = os.read(self.status_fd, 4096)
                if not chunk:
                    break
                data += chunk
        finally:
            self.close()
        raise RuntimeFailure(f"the shim of {self.record.short_id} died before the container exited")

    def close(self) -> None:
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1


def _start_error(rest: str) -> PydockError:
    code_s, _, message = rest.partition(" ")
    code = int(code_s) if code_s.isdigit() else 125
    if code == 127:
        return CommandNotFound(message)
    if code == 126:
        return CommandNotInvokable(message)
    err = RuntimeFailure(message)
    err.exit_code = code
    return err


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = ContainerStore(settings.root)
        from pydock.runtime.volumes import VolumeStore

        self.volumes = VolumeStore(settings.volumes)

    @functools.cached_property
    def images(self) -> ImageStore:
        # Imported on first use: the shim imports this module and never needs the image store.
        from pydock.runtime.images import ImageStore

        return ImageStore(self.settings.images)

    # -- users of images and volumes -------------------------------------------------------------

    def containers_using_image(self, image_id: str) -> list[str]:
        return [r.short_id for r in self.store.list() if r.image_id == image_id]

    def containers_using_volume(self, name: str) -> list[str]:
        return [r.short_id for r in self.store.list()
                if any(m.get("Name") == name for m in r.config.get("Mounts", []))]

    # -- create --------------------------------------------------------------------------------

    def create(self, spec: ContainerSpec) -> ContainerRecord:
        require_root()
        from pydock.logdrivers import registry
        from pydock.runtime import cgroups

        registry.validate(spec.log_driver, dict(spec.log_opts))
        from pydock.runtime.network import endpoint as net_ep  # network room: bad network flags refused here

        net_ep.check_spec(self.settings, spec)
        from pydock.runtime.spec import check_name, parse_signal  # here: the shim never parses a spec

        stop_signal = parse_signal(spec.stop_signal)
        cgroups.validate_for_layout(cgroups.Limits.from_host_config(dict(spec.host_config)), cgroups.detect_layout())
        try:
            image = self.images.get(spec.image)
        except NotFoundError:
            raise NotFoundError(f"Unable to find image '{spec.image}' locally") from None  # run --pull pulls first
        run_cfg = image.run_config
        if spec.stop_signal == "SIGTERM" and run_cfg.get("StopSignal"):  # the image's STOPSIGNAL (build)
            stop_signal = parse_signal(str(run_cfg["StopSignal"]))
        entrypoint = list(spec.entrypoint) if spec.entrypoint is not None else list(run_cfg.get("Entrypoint") or [])
        if spec.cmd:
            cmd = list(spec.cmd)
        elif spec.entrypoint is not None:
            cmd = []  # --entrypoint resets the image's Cmd, as in Docker
        else:
            cmd = list(run_cfg.get("Cmd") or [])
        argv = entrypoint + cmd
        if not argv or not argv[0]:
            raise UsageError("no command specified: the image has no Cmd or Entrypoint, give one")
        for m in spec.mounts:
            if m.type == "bind" and not os.path.exists(m.source) and not m.options.get("create-source"):
                raise UsageError(f"invalid mount config for type \"bind\": bind source path does not exist: {m.source}")
        name = check_name(spec.name) if spec.name else ""
        cid = new_id()
        hostname = spec.hostname or cid[:12]
        env = _merge_env(run_cfg.get("Env") or [], spec.env, hostname)
        driver = rootfs.choose_driver(self.settings.run)
        layers = self.images.layer_dirs(image)
        self.store.dir.mkdir(parents=True, exist_ok=True)
        made_volumes: list[str] = []
        config: dict[str, Any] = {}
        cdir = self.store.dir / cid
        with Lock(self.settings.root / "containers.lock"):
            taken = {r.name for r in self.store.list()}
            if name and name in taken:
                other = next(r for r in self.store.list() if r.name == name)
                raise ConflictError(f'Conflict. The container name "/{name}" is already in use by container '
                                    f'"{other.id}". You have to remove (or rename) that container to be able to '
                                    "reuse that name.")
            retry = 0
            while not name or name in taken:
                name = random_name(retry)
                retry += 1
            try:
                mounts = []
                from pydock.runtime.spec import MountSpec  # the image's VOLUMEs: anonymous volumes, as Docker
                targets = {m.target for m in spec.mounts}
                for m in [*spec.mounts, *(MountSpec("volume", t) for t in run_cfg.get("Volumes") or {}
                                          if t not in targets)]:
                    if m.type == "volume":
                        existed = bool(m.source) and (self.settings.volumes / m.source / "meta.json").exists()
                        vol = self.volumes.create(m.source)
                        if not existed:
                            made_volumes.append(vol.name)
                        mounts.append({"Type": "volume", "Name": vol.name, "Source": str(vol.mountpoint),
                                       "Destination": m.target, "Driver": "local", "RW": not m.read_only,
                                       "Anonymous": not m.source})
                        if m.options.get("volume-nocopy"):
                            mounts[-1]["NoCopy"] = True
                    elif m.type == "bind":
                        os.makedirs(m.source, exist_ok=True)
                        mounts.append({"Type": "bind", "Source": m.source, "Destination": m.target,
                                       "RW": not m.read_only})
                    else:
                        opts = ["mode=" + m.options.get("tmpfs-mode", "1777")]
                        if m.options.get("tmpfs-size"):
                            from pydock.units import ram_bytes

                            opts.append(f"size={ram_bytes(m.options['tmpfs-size'], 'tmpfs-size')}")
                        mounts.append({"Type": "tmpfs", "Source": "", "Destination": m.target, "RW": True,
                                       "Options": ",".join(opts)})
                cdir.mkdir(mode=0o710)
                config = self._config(spec, run_cfg, cid, name, image.id, argv, entrypoint, cmd, env,
                                      hostname, stop_signal.name, mounts, driver, layers)
                # network room: the address and ports, recorded under the network lock; Docker's /etc files
                from pydock.runtime.network.ports import expose_keys

                exposed = {**dict(run_cfg.get("ExposedPorts") or {}), **expose_keys(spec.expose)}
                netinfo = net_ep.allocate(self.settings, cid, name, spec, exposed)
                config["HostConfig"].update(netinfo["HostConfig"])
                if netinfo["ExposedPorts"]:
                    config["Config"]["ExposedPorts"] = netinfo["ExposedPorts"]
                if not net_ep.write_etc(self.settings, cdir, cid, hostname, config["HostConfig"]):
                    self._etc_files(cdir, hostname, spec.network)
                rootfs.prepare(driver, cdir, layers)
                if config["HostConfig"].get("UsernsRemap"):  # security room: --userns auto, its own ids
                    config["HostConfig"]["IDMappings"] = self._userns(cid, cdir, driver, mounts)
                write_json(cdir / "state.json", initial_state(), durable=False)
                # config.json last: a directory without it is not a container (ContainerStore skips it).
                # Durable: the container's identity must survive a host crash (its state may not).
                write_json(cdir / "config.json", config)
            except BaseException:
                import shutil  # lazily: it loads lzma and bz2, which the shim does not need

                shutil.rmtree(cdir, ignore_errors=True)
                net_ep.release(self.settings, cid)  # network room: no address or port left allocated
                if "IDMappings" in config.get("HostConfig", {}):
                    from pydock.runtime.security.userns import release

                    release(self.settings.root, cid)
                for v in made_volumes:
                    shutil.rmtree(self.settings.volumes / v, ignore_errors=True)
                raise
        emit_for(self.settings.root, "create", self.store.get(cid))  # runtime depth: event journal
        return self.store.get(cid)

    def _userns(self, cid: str, cdir: Path, driver: str, mounts: list[dict[str, Any]]) -> dict[str, Any]:
        """security room: a range of ids for the container (security/userns.py), and what its root
        must own on the host: upper dir, /etc files, its empty named volumes."""
        from pydock.runtime.security import userns

        idmap = userns.allocate(self.settings.root, cid)
        userns.prepare_container(cdir, idmap, driver)
        for m in mounts:
            if m["Type"] == "volume":
                userns.chown_volume(Path(m["Source"]), idmap)
        return idmap.to_json()

    def _config(self, spec: ContainerSpec, run_cfg: dict[str, Any], cid: str, name: str, image_id: str, argv: list[str],
                entrypoint: list[str], cmd: list[str], env: list[str], hostname: str, stop_signal: str,
                mounts: list[dict[str, Any]], driver: str, layers: list[Path]) -> dict[str, Any]:
        cdir = self.store.dir / cid
        config: dict[str, Any] = {
            "Config": {"Image": spec.image, "Cmd": cmd or None, "Entrypoint": entrypoint or None, "Env": env,
                       "Labels": {**(run_cfg.get("Labels") or {}), **spec.labels},
                       "WorkingDir": spec.workdir or run_cfg.get("WorkingDir", ""),
                       "User": spec.user or run_cfg.get("User", ""),
                       "Hostname": hostname, "Tty": spec.tty, "OpenStdin": spec.open_stdin,
                       "StopSignal": stop_signal, "StopTimeout": spec.stop_timeout},
        }
        healthcheck = spec.healthcheck if spec.healthcheck is not None else run_cfg.get("Healthcheck")
        if healthcheck:  # the flags' check, else the image's HEALTHCHECK (build)
            config["Config"]["Healthcheck"] = dict(healthcheck)
        host = {"LogConfig": {"Type": spec.log_driver, "Config": dict(spec.log_opts)},
                "Memory": 0, "MemorySwap": 0, "MemoryReservation": 0, "NanoCpus": 0, "CpuShares": 0,
                "CpusetCpus": "", "PidsLimit": 0, "BlkioWeight": 0,
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "AutoRemove": spec.auto_remove,
                "NetworkMode": spec.network,
                "Binds": [f"{m['Source'] if m['Type'] == 'bind' else m['Name']}:{m['Destination']}"
                          + ("" if m["RW"] else ":ro") for m in mounts if m["Type"] != "tmpfs"],
                "Mounts": [m for m in mounts if m["Type"] == "tmpfs"]}
        host.update(dict(spec.host_config))
        log_path = str(cdir / f"{cid}-json.log") if spec.log_driver == "json-file" else ""
        return {"Id": cid, "Name": name, "Created": utc_iso(), "Image": spec.image, "ImageID": image_id,
                "Path": argv[0], "Args": argv[1:], **config, "HostConfig": host, "LogPath": log_path,
                "Mounts": mounts, "Driver": driver,
                "GraphDriver": {"Name": driver, "Data": {
                    "LowerDirs": [str(p) for p in layers], "UpperDir": str(cdir / "diff"),
                    "WorkDir": str(cdir / "work"),
                    "MergedDir": str(self.settings.run / "containers" / cid / "rootfs")}}}

    def _etc_files(self, cdir: Path, hostname: str, network: str) -> None:
        (cdir / "hostname").write_text(hostname + "\n")
        if network == "host":
            import shutil  # lazily: it loads lzma and bz2, which the shim does not need

            shutil.copyfile("/etc/hosts", cdir / "hosts")
            try:
                shutil.copyfile("/etc/resolv.conf", cdir / "resolv.conf")
            except FileNotFoundError:
                (cdir / "resolv.conf").write_text("")
        else:
            (cdir / "hosts").write_text(f"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
                                        f"127.0.1.1\t{hostname}\n")
            (cdir / "resolv.conf").write_text("")

    # -- start, stop, kill ---------------------------------------------------------------------

    def start(self, ref: str, attach: tuple[int, int] | None = None, launch: ShimLaunch | None = None,
              stdin: int = -1) -> Started:
        """Starts the container's shim and returns once the command runs (or failed to start).

        `attach`: pipes for the container's stdout/stderr (a foreground caller); `stdin`: the read end
        of a pipe that becomes the container's stdin (`-i`), if the shim is launched here.

        Starting a running container does nothing, as in Docker; concurrent starts of one container
        are serialised by `start.lock`, so only the first makes a shim."""
        require_root()
        try:
            rec = self.store.get(ref)
            with Lock(rec.dir / "start.lock"):
                return self._start_locked(self.store.get(rec.id), attach, launch, stdin)
        finally:
            if launch is not None:
                launch.cancel()

    def _start_locked(self, rec: ContainerRecord, attach: tuple[int, int] | None,
                      launch: ShimLaunch | None, stdin: int = -1) -> Started:
        if rec.running:
            return Started(rec, rec.pid, -1)
        if rec.cgroup_paths:  # left by a shim that was killed: the new shim makes a fresh one
            from pydock.runtime import cgroups

            cgroups.open(rec.cgroup_paths).remove()
            update_state(rec.dir, CgroupPaths={})
        run_dir = self.settings.run / "containers" / rec.id
        run_dir.mkdir(parents=True, exist_ok=True)
        from pydock.runtime.cgroups.attach import AttachWarmer

        # the kernel's first cgroup.procs write after an idle spell waits a grace period (~12 ms): let
        # it pass while the shim prepares, so its write of the container's pid does not (attach.py)
        warmer = AttachWarmer.start()
        try:
            if launch is None:
                launch = self.spawn_shim(attach, stdin)
            # A shim spawned before the caller knew whether it would attach (`run`'s early launch)
            # gets the caller's pipes with the id.
            late = () if launch.attached or attach is None else (*attach, *((stdin,) if stdin >= 0 else ()))
            launch.hand_over(rec.id, late)
            launch.wait_forked()  # the shim double-forks: this child exits at once
            r = launch.status_r
            line = b""
            while not line.endswith(b"\n"):
                chunk = os.read(r, 1)
                if not chunk:
                    break
                line += chunk
        finally:
            if warmer is not None:
                warmer.stop()
        word, _, rest = line.decode(errors="replace").strip().partition(" ")
        if word == "started":
            return Started(self.store.get(rec.id) if not rec.auto_remove else rec, int(rest), r)
        os.close(r)
        if word == "error":
            raise _start_error(rest)
        raise RuntimeFailure(f"the shim of {rec.short_id} exited before starting the container "
                             f"(see {run_dir / 'shim.log'} and {self.settings.run / 'shim-launch.log'})")

    def spawn_shim(self, attach: tuple[int, int] | None = None, stdin: int = -1) -> ShimLaunch:
        """Launches a shim that waits for the id of the container to run (`launch.spawn_shim`):
        `start(..., launch=)` hands it the id."""
        return spawn_shim(self.settings, attach, stdin)

    def _signal(self, rec: ContainerRecord, sig: int) -> None:
        if rec.pid <= 0:
            return
        try:
            os.kill(rec.pid, sig)
        except ProcessLookupError:
            pass

    def wait_shim(self, rec: ContainerRecord, timeout: float | None) -> bool:
        """Waits until the container's shim is gone (its lock released); False on timeout."""
        lock = Lock(rec.dir / SHIM_LOCK, shared=True)
        try:
            if not lock.acquire(timeout):
                return False
        except FileNotFoundError:
            return True  # removed (--rm) while we waited
        lock.release()
        return True

    def stop(self, ref: str, timeout: int | None = None) -> ContainerRecord:
        rec = self.store.get(ref)
        if rec.running:
            t = timeout if timeout is not None else int(rec.config["Config"].get("StopTimeout", 10))
            from pydock.runtime.spec import parse_signal

            sig = parse_signal(rec.config["Config"].get("StopSignal") or "SIGTERM")
            before_stop(self.settings, rec, "kill", signal=int(sig))  # runtime depth: no restart, thaw, event
            self._signal(rec, sig)
            if not self.wait_shim(rec, None if t < 0 else t):
                self._signal(rec, signal.SIGKILL)
                self.wait_shim(rec, 30)
            emit_for(self.settings.root, "stop", rec)
        return rec

    def kill(self, ref: str, sig: str = "SIGKILL") -> ContainerRecord:
        from pydock.runtime.spec import parse_signal

        signum = parse_signal(sig)
        rec = self.store.get(ref)
        if not rec.running:
            raise ConflictError(f"Cannot kill container: {ref}: Container {rec.id} is not running")
        before_stop(self.settings, rec, "kill", signal=int(signum))  # runtime depth: no restart, thaw, event
        self._signal(rec, signum)
        return rec

    def restart(self, ref: str, timeout: int | None = None) -> Started:
        rec = self.stop(ref, timeout)
        started = self.start(rec.id)
        started.close()
        emit_for(self.settings.root, "restart", rec)  # runtime depth: Docker's event for `restart`
        return started

    def wait(self, ref: str, poll: float = 0.05) -> int:
        """Blocks until the container's shim is gone; its exit code (even if --rm removed it).

        A container created but never started is waited for too, as by Docker: until it has run and
        exited, or until it is removed (then its code is 0, as Docker's)."""
        rec = self.store.get(ref)
        lock = Lock(rec.dir / SHIM_LOCK, shared=True)
        # Opened now, before any shim runs: the file keeps the last exit code even once --rm removed
        # the directory (the shim writes the code into this same inode).
        try:
            lock.fd = os.open(rec.dir / SHIM_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # removed between our lookup and now
            raise NotFoundError(f"No such container: {ref}") from None
        try:
            try:
                while rec.status == "created" and not is_locked(rec.dir / SHIM_LOCK):
                    time.sleep(poll)
                    rec = load_record(rec.dir)
                fcntl.flock(lock.fd, fcntl.LOCK_SH)
                return int(load_record(rec.dir).state.get("ExitCode", 0))
            except NotFoundError:
                # --rm (or rm) removed it; a shim that ran left the code in the file we hold open.
                text = os.pread(lock.fd, 32, 0).decode(errors="replace").strip()
                return int(text) if text.isdigit() else 0
        finally:
            lock.release()

    # -- remove --------------------------------------------------------------------------------

    def remove(self, ref: str, force: bool = False, volumes: bool = False) -> ContainerRecord:
        rec = self.store.get(ref)
        if rec.running:
            if not force:
                raise ConflictError(f"You cannot remove a running container {rec.id}. Stop the container "
                                    "before attempting removal or force remove")
            before_stop(self.settings, rec, "kill", signal=int(signal.SIGKILL))  # runtime depth
            self._signal(rec, signal.SIGKILL)
        if is_locked(rec.dir / SHIM_LOCK) and not self.wait_shim(rec, 15):
            raise RuntimeFailure(f"the shim of {rec.short_id} does not exit; try again")
        try:
            rec = self.store.get(rec.id)
        except NotFoundError:
            return rec  # the shim removed it (--rm)
        remove_files(self.settings, rec, volumes)
        emit_for(self.settings.root, "destroy", rec)  # runtime depth: event journal
        return rec

    def prune(self) -> list[str]:
        """Removes stopped containers, and directories a `create` killed half-way left behind."""
        gone = []
        for rec in self.store.list():
            if not rec.running and rec.status in ("exited", "created", "dead"):
                self.remove(rec.id, volumes=False)
                gone.append(rec.id)
        # Creation happens entirely under containers.lock and writes config.json last, so under
        # that lock a directory without config.json is garbage from a crashed `create`.
        with Lock(self.settings.root / "containers.lock"):
            for cid in self.store.ids():
                if not (self.store.dir / cid / "config.json").exists():
                    import shutil  # lazily: it loads lzma and bz2, which the shim does not need

                    shutil.rmtree(self.store.dir / cid, ignore_errors=True)
        return gone


def _merge_env(image_env: list[str], extra: tuple[str, ...] | list[str], hostname: str) -> list[str]:
    env: dict[str, str] = {}
    for e in [*image_env, *extra]:
        k, _, v = e.partition("=")
        env[k] = v
    from pydock.runtime.spec import DEFAULT_PATH

    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOSTNAME", hostname)
    return [f"{k}={v}" for k, v in env.items()]
