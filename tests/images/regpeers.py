"""Real peers of the image tests: Debian's docker-registry (distribution 2.8) on loopback, plain,
with htpasswd basic auth, or with TLS from a CA the test makes; images made by umoci and pushed by
skopeo, so pydock is tested against images it did not make."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Registry:
    port: int
    storage: Path
    proc: subprocess.Popen[bytes]
    tls: bool

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def start_registry(d: Path, htpasswd: Path | None = None, cert: tuple[Path, Path] | None = None,
                   port: int | None = None) -> Registry:
    port = port or free_port()
    storage = d / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    lines = ["version: 0.1", "log: {level: error, accesslog: {disabled: true}}",
             f"storage: {{filesystem: {{rootdirectory: {storage}}}, delete: {{enabled: true}}}}",
             "http:", f"  addr: 127.0.0.1:{port}"]
    if cert:
        lines.append(f"  tls: {{certificate: {cert[0]}, key: {cert[1]}}}")
    if htpasswd:
        lines.append(f"auth: {{htpasswd: {{realm: pydock-test, path: {htpasswd}}}}}")
    cfg = d / "registry.yml"
    cfg.write_text("\n".join(lines) + "\n")
    log = open(d / "registry.log", "wb")  # noqa: SIM115 - the process keeps it
    proc = subprocess.Popen(["docker-registry", "serve", str(cfg)], stdout=log, stderr=log)
    reg = Registry(port, storage, proc, cert is not None)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"docker-registry exited: {(d / 'registry.log').read_text()[-2000:]}")
        try:
            httpx.get(f"{reg.url}/v2/", verify=False, timeout=1)
            return reg
        except httpx.HTTPError:
            time.sleep(0.05)
    reg.stop()
    raise RuntimeError("docker-registry did not start within 10 s")


def htpasswd(d: Path, user: str, password: str) -> Path:
    out = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, check=True).stdout
    p = d / "htpasswd"
    p.write_bytes(out)
    return p


def make_ca(d: Path) -> tuple[Path, tuple[Path, Path]]:
    """A private CA and a server certificate for 127.0.0.1 signed by it: (ca.crt, (cert, key))."""
    d.mkdir(parents=True, exist_ok=True)

    def ssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d)

    ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=pydock test CA")
    ssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")
    return d / "ca.crt", (d / "server.crt", d / "server.key")


def busybox_rootfs(d: Path) -> Path:
    """A rootfs with the static busybox and relative applet links (chroot'd install makes host links)."""
    root = d / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", root / "bin" / "busybox")
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout.split()
    for a in applets:
        if a != "busybox":
            os.symlink("busybox", root / "bin" / a)
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    for sub in ("tmp", "proc", "sys", "dev", "root"):
        (root / sub).mkdir()
    return root


def umoci_image(d: Path, layers: list[Path], cmd: str = "/bin/sh", tag: str = "latest") -> Path:
    """An OCI layout at d/oci with one layer per rootfs directory given (each inserted on top)."""
    oci = d / "oci"

    def um(*args: str) -> None:
        subprocess.run(["umoci", *args], check=True, capture_output=True)

    um("init", "--layout", str(oci))
    um("new", "--image", f"{oci}:{tag}")
    for layer in layers:
        um("insert", "--image", f"{oci}:{tag}", str(layer), "/")
    um("config", "--image", f"{oci}:{tag}", "--config.cmd", cmd)
    return oci


def skopeo(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["skopeo", "--insecure-policy", *args], capture_output=True, text=True,
                          check=check, timeout=120)


def push_oci(oci: Path, reg: Registry, repo: str, fmt: str | None = None, tag: str = "latest",
             creds: str | None = None) -> None:
    extra = ["--format", fmt] if fmt else []
    if creds:
        extra += ["--dest-creds", creds]
    skopeo("copy", "--dest-tls-verify=false", *extra, f"oci:{oci}:{tag}", f"docker://{reg.host}/{repo}")


def layer_member(blob: Path, suffix: str) -> bytes:
    """A file's content from a gzip layer blob (padded first: umoci's tars lack the end blocks)."""
    import gzip
    import io
    import tarfile

    data = gzip.decompress(blob.read_bytes())
    data += b"\0" * ((-len(data)) % 512 + 1024)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        m = next(m for m in tf.getmembers() if m.name.endswith(suffix))
        f = tf.extractfile(m)
        assert f is not None
        return f.read()
