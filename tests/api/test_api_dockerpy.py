"""docker-py 7 (`docker.DockerClient(base_url=unix://...)`) against pydock's Engine API."""

from __future__ import annotations

import time

import pytest

docker = pytest.importorskip("docker")

pytestmark = [pytest.mark.root, pytest.mark.timeout(120)]


@pytest.fixture
def client(api):  # type: ignore[no-untyped-def]
    c = docker.DockerClient(base_url=f"unix://{api.sock}", version="auto", timeout=30)
    yield c
    c.close()


def test_containers_run_list_get_logs_stats_exec_remove(client, api) -> None:
    out = client.containers.run("busybox", ["sh", "-c", "echo from-run"], remove=True)
    assert out == b"from-run\n"
    c = client.containers.run("busybox", ["sh", "-c", "for i in 1 2 3; do echo s$i; sleep 0.2; done; sleep 300"],
                              name="py1", detach=True, labels={"app": "py"})
    assert [x.name for x in client.containers.list(filters={"label": "app=py"})] == ["py1"]
    got = client.containers.get("py1")
    assert got.id == c.id and got.status == "running" and got.labels == {"app": "py"}
    lines = []
    for chunk in got.logs(stream=True, follow=True):
        lines += chunk.decode().split()
        if len(lines) >= 3:
            break
    assert lines[:3] == ["s1", "s2", "s3"]
    s = got.stats(stream=False)
    assert s["cpu_stats"]["cpu_usage"]["total_usage"] > 0 and s["precpu_stats"]["cpu_usage"]["total_usage"] > 0
    assert s["memory_stats"]["usage"] > 0 and s["pids_stats"]["current"] >= 1
    code, output = got.exec_run(["sh", "-c", "echo in-exec; exit 2"])
    assert (code, output) == (2, b"in-exec\n")
    got.remove(force=True)
    assert client.containers.list(all=True) == []
    assert api.runtime().store.list() == []


def test_images_list_and_events(client) -> None:
    tags = [t for im in client.images.list() for t in im.tags]
    assert tags == ["busybox:latest"]
    t0 = int(time.time())
    client.containers.run("busybox", "true", name="evpy", remove=True)
    time.sleep(0.3)
    evs = list(client.events(since=t0, until=int(time.time()) + 1, decode=True, filters={"container": "evpy"}))
    assert [e["Action"] for e in evs][:3] == ["create", "start", "die"]
    assert all(e["Actor"]["Attributes"]["name"] == "evpy" for e in evs)
