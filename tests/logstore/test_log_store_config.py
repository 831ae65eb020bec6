"""Choosing and configuring the log store: `pydock collector --log-store/--es-url/--es-api-key-file/
--log-retention/--log-max-size`, the PYDOCK_* environment fallbacks, and the errors for bad values."""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_es import FakeES
from pydock.collector.config import CollectorSettings
from pydock.collector.logstore import LogRecord, LogStoreError, open_store
from pydock.collector.logstore.elastic import ElasticsearchLogStore
from pydock.collector.logstore.sqlite import SQLiteLogStore


@pytest.fixture
def es() -> Iterator[FakeES]:
    f = FakeES().start()
    yield f
    f.stop()


def pydock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYDOCK_LOG_", "PYDOCK_ES_"))}
    return subprocess.run([sys.executable, "-m", "pydock", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**clean, **(env or {})})


def test_settings_win_over_the_environment(tmp_path: Path) -> None:
    env = {"PYDOCK_LOG_RETENTION_S": "7200", "PYDOCK_LOG_MAX_BYTES": "5000"}
    s = open_store(CollectorSettings(None, tmp_path, retention_s=3600, log_retention_s=600, log_max_bytes=10**9),
                   environ=env)
    try:
        assert isinstance(s, SQLiteLogStore) and (s.max_age_s, s.max_bytes) == (600, 10**9)
    finally:
        s.close()
    s = open_store(CollectorSettings(None, tmp_path, retention_s=3600), environ=env)  # flags unset: env
    try:
        assert (s.max_age_s, s.max_bytes) == (7200, 5000)
    finally:
        s.close()
    s = open_store(CollectorSettings(None, tmp_path, retention_s=3600), environ={})  # neither: --retention
    try:
        assert (s.max_age_s, s.max_bytes) == (3600, 0)
    finally:
        s.close()


def test_elasticsearch_settings_and_api_key_file(es: FakeES, tmp_path: Path) -> None:
    key = tmp_path / "es.key"
    key.write_text("c2VjcmV0LWtleQ==\n")
    settings = CollectorSettings(None, tmp_path, log_store="elasticsearch", es_url=es.url, es_api_key_file=key,
                                 log_retention_s=2 * 86400, log_max_bytes=123)
    s = open_store(settings, environ={"PYDOCK_LOG_STORE": "sqlite", "PYDOCK_ES_API_KEY": "from-env"})
    try:
        assert isinstance(s, ElasticsearchLogStore) and (s.max_age_s, s.max_bytes) == (2 * 86400, 123)
        s.append([LogRecord("h1", "a" * 64, "web", "stdout", time.time_ns(), "hello", "8:1", 80)])
        assert s.wait_flushed(10) and len(es.docs()) == 1
        assert "ApiKey c2VjcmV0LWtleQ==" in es.authorizations  # the file's key, stripped; not the env's
        assert not any("from-env" in a for a in es.authorizations)
    finally:
        s.close()


@pytest.mark.parametrize(("settings", "env", "error"), [
    ({"log_store": "elasticsearch", "es_url": "es:9200"}, {}, "invalid es_url 'es:9200'"),
    ({"log_store": "elasticsearch", "es_url": "http://u:p@es:9200"}, {}, "credentials"),
    ({"log_store": "elasticsearch", "es_url": "http://es:notaport"}, {}, "invalid es_url"),
    ({"log_store": "elasticsearch", "es_url": "http://es:9200", "es_api_key_file": Path("/nonexistent/key")}, {},
     "cannot read es_api_key_file '/nonexistent/key'"),
    ({"log_store": "elasticsearch", "es_url": "http://es:9200"}, {"PYDOCK_ES_BASIC_AUTH": "nopassword"},
     "expected user:password"),
    ({}, {"PYDOCK_LOG_MAX_BYTES": "lots"}, "invalid log_max_bytes 'lots' (PYDOCK_LOG_MAX_BYTES)"),
    ({}, {"PYDOCK_LOG_RETENTION_S": "-5"}, "must not be negative"),
    ({}, {"PYDOCK_LOG_STORE": "mongodb"}, "unknown log store 'mongodb'"),
])
def test_bad_settings_name_what_is_wrong(tmp_path: Path, settings: dict[str, object], env: dict[str, str],
                                         error: str) -> None:
    with pytest.raises(LogStoreError) as exc:
        open_store(CollectorSettings(None, tmp_path, **settings), environ=env)  # type: ignore[arg-type]
    assert error in str(exc.value)
    assert not (tmp_path / "logs-spool.sqlite").exists()


def test_empty_api_key_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "k").write_text("\n")
    with pytest.raises(LogStoreError, match="is empty"):
        open_store(CollectorSettings(None, tmp_path, log_store="elasticsearch", es_url="http://es:9200",
                                     es_api_key_file=tmp_path / "k"), environ={})


@pytest.mark.parametrize(("flags", "error"), [
    (["--log-store", "sqlite", "--es-url", "http://es:9200"], "--es-url and --es-api-key-file need --log-store elasticsearch"),
    (["--log-store", "elasticsearch", "--es-url", "ftp://es"], "--es-url: invalid es_url 'ftp://es'"),
    (["--log-store", "elasticsearch"], "needs es_url (--es-url or PYDOCK_ES_URL)"),
    (["--log-store", "elasticsearch", "--es-url", "http://es:9200", "--es-api-key-file", "/nonexistent/k"],
     "--es-api-key-file '/nonexistent/k': no such file"),
    (["--log-retention", "forever"], "invalid --log-retention"),
    (["--log-max-size", "lots"], "invalid size 'lots' for --log-max-size"),
    (["--log-store", "cassandra"], "Invalid value for '--log-store'"),
])
def test_collector_flags_refuse_bad_values(tmp_path: Path, flags: list[str], error: str) -> None:
    proc = pydock("collector", "--data", str(tmp_path / "d"), "--listen", "127.0.0.1:1", *flags)
    assert proc.returncode == 125, proc.stderr
    assert error in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_collector_flags_choose_elasticsearch(es: FakeES, tmp_path: Path) -> None:
    """A real collector process on --log-store elasticsearch: a push lands in the cluster with the API
    key from the file, and the query API reads it back from there."""
    key = tmp_path / "es.key"
    key.write_text("a2V5LWZyb20tZmlsZQ==")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "collector.log", "wb")  # noqa: SIM115 - closed in the finally below
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PYDOCK_LOG_", "PYDOCK_ES_"))}
    proc = subprocess.Popen([sys.executable, "-m", "pydock", "collector", "--listen", f"127.0.0.1:{port}",
                             "--data", str(tmp_path / "data"), "--token", "tk", "--log-store", "elasticsearch",
                             "--es-url", es.url, "--es-api-key-file", str(key), "--log-retention", "3d",
                             "--log-max-size", "2g"], stdout=log, stderr=subprocess.STDOUT, env=clean)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "collector.log").read_text()
            try:
                if httpx.get(base + "/-/ready", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "collector not ready"
            time.sleep(0.2)
        now = time.time_ns()
        lines = [{"host": "h1", "container_id": "c" * 64, "container_name": "web", "stream": "stdout",
                  "time_ns": now + i, "line": f"flag-configured line {i}", "file_id": "1:2:abc", "offset": 10 * (i + 1)}
                 for i in range(3)]
        body = gzip.compress("".join(json.dumps(x) + "\n" for x in lines).encode())
        r = httpx.post(base + "/api/v1/logs/push", content=body, timeout=30,
                       headers={"Content-Encoding": "gzip", "Authorization": "Bearer tk"})
        assert r.status_code == 200, r.text
        deadline = time.monotonic() + 30
        while len(es.docs()) < 3:
            assert time.monotonic() < deadline, "lines never reached Elasticsearch"
            time.sleep(0.1)
        assert sorted(d["line"] for d in es.docs()) == [f"flag-configured line {i}" for i in range(3)]
        assert "ApiKey a2V5LWZyb20tZmlsZQ==" in es.authorizations
        got = httpx.get(base + "/api/v1/logs/query", params={"query": "configured"}, timeout=30).json()
        assert [x["line"] for x in got["data"]["lines"]] == [f"flag-configured line {i}" for i in (2, 1, 0)]
        assert not (tmp_path / "data" / "logs.sqlite").exists()
        assert (tmp_path / "data" / "logs-spool.sqlite").exists()
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
