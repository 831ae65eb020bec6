"""Real cgroups for the root-only tests: made under /sys/fs/cgroup, with processes we spawn into them.

Everything made here is undone by `close()`: processes are killed by PID, then the directories removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from pydock.agent.cgroups import Hierarchies

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "pydock-agent-test"


class LiveCgroup:
    def __init__(self, limits: dict[str, str] | None = None) -> None:
        self.hier = Hierarchies.detect(CGROUP_ROOT)
        self.rel = f"/{PARENT}/{uuid.uuid4().hex[:12]}"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.dirs: list[Path] = []
        mounts = dict(self.hier.v1)
        if self.hier.kind == "v2":
            mounts = {"unified": CGROUP_ROOT}
        for mount in dict.fromkeys(mounts.values()):
            d = mount / self.rel.lstrip("/")
            if self.hier.kind == "v2":
                (mount / PARENT).mkdir(exist_ok=True)
                (mount / PARENT / "cgroup.subtree_control").write_text("+cpu +memory +io +pids")
            d.mkdir(parents=True)
            self.dirs.append(d)
        self.paths = self.hier.paths_for(self.rel)
        for name, value in (limits or {}).items():  # "memory/memory.limit_in_bytes": "104857600"
            ctrl, _, file = name.partition("/")
            Path(self.paths[ctrl], file).write_text(value)

    def spawn(self, argv: list[str], **kw: object) -> subprocess.Popen[bytes]:
        members = [p for c, p in self.paths.items()]

        def join() -> None:  # in the child, before exec: everything it does is charged to us
            for d in members:
                with open(os.path.join(d, "cgroup.procs"), "w") as f:
                    f.write(str(os.getpid()))

        p = subprocess.Popen(argv, preexec_fn=join, **kw)  # type: ignore[call-overload]  # noqa: PLW1509 (no threads yet)
        self.procs.append(p)
        return p

    def file(self, ctrl: str, name: str) -> str:
        return Path(self.paths[ctrl], name).read_text()

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGKILL)
            p.wait(10)
        for d in self.dirs:
            for _ in range(50):  # the kernel frees the cgroup shortly after its last task exits
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)
            try:
                d.parent.rmdir()
            except OSError:
                pass  # another test's cgroup is still there
