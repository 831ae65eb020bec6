"""Reference parsing as Docker's (distribution/reference ParseNormalizedNamed), and the parts of the
registry client that are pure functions (challenges, insecure-registries, platforms)."""

from __future__ import annotations

import pytest
from pydock.runtime.images import manifest as mf
from pydock.runtime.images.auth import parse_challenge, server_key
from pydock.runtime.images.reference import normalize_ref, parse
from pydock.runtime.images.registry import is_insecure, is_loopback

from pydock.errors import NotFoundError, UsageError

D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("ref, domain, path, tag, digest, familiar", [
    ("busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None, "busybox"),
    ("docker.io/library/busybox", "docker.io", "library/busybox", None, None, "busybox"),
    ("index.docker.io/user/app:v2", "docker.io", "user/app", "v2", None, "user/app"),
    ("user/app", "docker.io", "user/app", None, None, "user/app"),
    ("localhost/x", "localhost", "x", None, None, "localhost/x"),
    ("localhost:5000/x", "localhost:5000", "x", None, None, "localhost:5000/x"),
    ("localhost:5000/a/b:t", "localhost:5000", "a/b", "t", None, "localhost:5000/a/b"),
    ("ghcr.io/o/r@" + D, "ghcr.io", "o/r", None, D, "ghcr.io/o/r"),
    ("busybox:1@" + D, "docker.io", "library/busybox", "1", D, "busybox"),
    ("127.0.0.1:5000/a__b/c-d.e:1.0_x", "127.0.0.1:5000", "a__b/c-d.e", "1.0_x", None, "127.0.0.1:5000/a__b/c-d.e"),
])
def test_parse_like_docker(ref: str, domain: str, path: str, tag: str | None, digest: str | None,
                           familiar: str) -> None:
    r = parse(ref)
    assert (r.domain, r.path, r.tag, r.digest, r.familiar) == (domain, path, tag, digest, familiar)


def test_normalize_keys_of_the_store() -> None:
    assert normalize_ref("busybox") == "busybox:latest"
    assert normalize_ref("docker.io/library/busybox:1") == "busybox:1"
    assert normalize_ref("localhost:5000/x") == "localhost:5000/x:latest"
    assert normalize_ref("busybox@" + D) == "busybox@" + D


def test_uppercase_refused_with_dockers_message() -> None:
    with pytest.raises(UsageError) as e:
        parse("Busybox")
    assert str(e.value) == "invalid reference format: repository name (library/Busybox) must be lowercase"
    with pytest.raises(UsageError, match=r"repository name \(Me/app\) must be lowercase"):
        parse("localhost:5000/Me/app")


@pytest.mark.parametrize("bad", ["", "busybox:", ":tag", "-x", "a//b", "x@sha256:abc", "x:" + "t" * 129,
                                 "a b", "x@md5:" + "0" * 32])
def test_bad_references(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid reference format"):
        parse(bad)


def test_hex_id_is_not_a_repository() -> None:
    with pytest.raises(UsageError, match="cannot specify 64-byte hexadecimal strings"):
        parse("ab" * 32)


def test_challenges() -> None:
    c = parse_challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                        'scope="repository:a/b:pull,push"')
    assert c is not None and c.scheme == "bearer"
    assert c.params == {"realm": "https://auth.example/token", "service": "registry.example",
                        "scope": "repository:a/b:pull,push"}
    b = parse_challenge('Basic realm="pydock-test"')
    assert b is not None and b.scheme == "basic" and b.params == {"realm": "pydock-test"}
    assert parse_challenge("") is None


def test_hub_keeps_dockers_config_key() -> None:
    assert server_key("docker.io") == "https://index.docker.io/v1/"
    assert server_key("127.0.0.1:5000") == "127.0.0.1:5000"


def test_plain_http_only_for_loopback_and_listed() -> None:
    assert is_loopback("127.0.0.1:5000") and is_loopback("localhost:1") and is_loopback("[::1]:5000")
    assert not is_loopback("10.0.0.1:5000") and not is_loopback("registry.example")
    assert is_insecure("10.1.2.3:5000", ("10.0.0.0/8",))
    assert is_insecure("reg.example:5000", ("reg.example:5000",))
    assert not is_insecure("reg.example:5000", ("other:5000", "192.168.0.0/16"))


def test_platforms() -> None:
    assert str(mf.parse_platform("linux/arm64/v8")) == "linux/arm64/v8"
    with pytest.raises(UsageError, match="invalid platform"):
        mf.parse_platform("linux")
    index = (b'{"manifests": [{"digest": "sha256:1", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},'
             b'{"digest": "sha256:2", "size": 1, "platform": {"os": "linux", "architecture": "arm", "variant": "v7"}}]}')
    assert mf.select_platform(index, mf.Platform("linux", "arm", "v7")).digest == "sha256:2"
    assert mf.select_platform(index, mf.Platform("linux", "amd64")).digest == "sha256:1"
    with pytest.raises(NotFoundError, match="no matching manifest for linux/s390x"):
        mf.select_platform(index, mf.Platform("linux", "s390x"))
