"""Flag parsing into specs, and the store's reading of records (no root needed)."""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

import pytest
from pydock.runtime.atomic import write_json
from pydock.runtime.images import normalize_ref
from pydock.runtime.spec import parse_mount, parse_signal, parse_volume
from pydock.runtime.store import SHIM_LOCK, ContainerStore

from pydock.errors import ConflictError, NotFoundError, UsageError


def test_parse_volume():
    m = parse_volume("/srv/data:/data:ro")
    assert (m.type, m.source, m.target, m.read_only) == ("bind", "/srv/data", "/data", True)
    m = parse_volume("cache:/cache")
    assert (m.type, m.source, m.read_only) == ("volume", "cache", False)
    assert parse_volume("/anon").type == "volume" and parse_volume("/anon").source == ""
    for bad, needle in (("a:b", "must be absolute"), ("x:/y:rx", "invalid mode"), ("./rel:/y", "absolute"),
                        ("/a:/", "root")):
        with pytest.raises(UsageError, match=needle):
            parse_volume(bad)


def test_parse_mount():
    m = parse_mount("type=bind,source=/src,target=/dst,readonly")
    assert (m.type, m.source, m.target, m.read_only) == ("bind", "/src", "/dst", True)
    m = parse_mount("type=tmpfs,destination=/t,tmpfs-size=64m")
    assert m.type == "tmpfs" and m.options == {"tmpfs-size": "64m"}
    for bad, needle in (("type=bind,source=rel,target=/x", "absolute"), ("type=nfs,target=/x", "type"),
                        ("source=v", "target is required"), ("type=volume,target=/x,colour=red", "colour")):
        with pytest.raises(UsageError, match=needle):
            parse_mount(bad)


def test_parse_signal_and_refs():
    assert parse_signal("TERM").name == "SIGTERM" and parse_signal("9").name == "SIGKILL"
    with pytest.raises(UsageError, match="SIGNOPE"):
        parse_signal("SIGNOPE")
    assert normalize_ref("busybox") == "busybox:latest"
    assert normalize_ref("docker.io/library/busybox:1.36") == "busybox:1.36"
    with pytest.raises(UsageError, match="Upper"):
        normalize_ref("Upper")


def _record(root: Path, cid: str, name: str, state: dict) -> Path:  # type: ignore[type-arg]
    d = root / "containers" / cid
    d.mkdir(parents=True)
    write_json(d / "config.json", {"Id": cid, "Name": name, "Created": "2026-01-01T00:00:00.000000000Z",
                                   "ImageID": "sha256:" + "1" * 64, "Config": {"Image": "busybox", "Labels": {"a": "b"}},
                                   "HostConfig": {"LogConfig": {"Type": "json-file", "Config": {}}},
                                   "LogPath": str(d / f"{cid}-json.log")})
    write_json(d / "state.json", state)
    return d


def test_store_lookup(tmp_path):
    a, b = "ab" + "0" * 62, "ac" + "1" * 62
    _record(tmp_path, a, "one", {"Status": "exited", "ExitCode": 0})
    _record(tmp_path, b, "two", {"Status": "created"})
    store = ContainerStore(tmp_path)
    assert store.get("one").id == a and store.get("/two").id == b and store.get("ab").id == a
    with pytest.raises(ConflictError):
        store.get("a")
    with pytest.raises(NotFoundError, match="No such container: zz"):
        store.get("zz")
    rec = store.get(a)
    assert rec.short_id == a[:12] and rec.labels == {"a": "b"} and rec.log_driver == "json-file"
    assert len(store.list()) == 2
    (tmp_path / "containers" / ("f" * 64)).mkdir()  # half-made (no config.json): not a container
    assert len(store.list()) == 2


def test_dead_shim_reported_as_exited(tmp_path):
    cid = "cd" + "2" * 62
    d = _record(tmp_path, cid, "live", {"Status": "running", "Running": True, "Pid": 4242, "ExitCode": 0})
    store = ContainerStore(tmp_path)
    # A shim holding its lock: running.
    fd = os.open(d / SHIM_LOCK, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert store.get(cid).status == "running"
    finally:
        os.close(fd)
    # Nobody holds it: the shim died.
    rec = store.get(cid)
    assert rec.status == "exited" and rec.state["ExitCode"] == 137 and rec.state["Error"] == "shim died"
    assert rec.state["Running"] is False
    # If the shim got as far as writing the exit status, that is the code.
    (d / "exitcode").write_text(json.dumps({"ExitCode": 3, "FinishedAt": "2026-01-01T00:00:01Z"}))
    assert store.get(cid).state["ExitCode"] == 3
