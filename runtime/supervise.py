"""What the shim asks of runtime depth at each step of a container's life: events, OOM, health checks,
restart policies. The shim calls these hooks and knows nothing else of these features:

    sup = Supervisor(settings, container_dir, cgroup)   # once, when the shim starts (an explicit start)
    sup.starting(cgroup)        # right before the process is made: the OOM-kill baseline
    sup.started(pid)            # the container's process runs
    sup.exited(code)            # it exited and the shim recorded it: die / oom events, OOMKilled
    sup.should_restart(code)    # the policy's answer, after its delay; False ends the shim
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydock.runtime.atomic import read_json
from pydock.runtime.events import emit_for
from pydock.runtime.restart import RestartManager, RestartPolicy, wait_or_cancel
from pydock.runtime.store import load_record

from pydock.errors import PydockError
from pydock.settings import Settings

if TYPE_CHECKING:
    from pydock.runtime.health import HealthMonitor


class Supervisor:
    def __init__(self, settings: Settings, container_dir: Path, cgroup: Any = None) -> None:
        self.settings = settings
        self.dir = container_dir
        self.cgroup = cgroup
        self.oom_seen = 0
        self.started_at = time.monotonic()
        self.health: HealthMonitor | None = None
        self.last_oom = False
        self.manager = RestartManager(self._policy(), 0)
        # The shim runs because of an explicit start (or `system boot`): Docker then forgets a manual
        # stop and counts restarts from zero.
        self._state(ManuallyStopped=False, RestartCount=0, Restarting=False)

    def _state(self, **changes: Any) -> dict[str, Any]:
        from pydock.runtime.lifecycle import update_state

        return update_state(self.dir, **changes)

    def _policy(self) -> RestartPolicy:
        # Read each time: `pydock update --restart` may change it while the container runs.
        return RestartPolicy.from_host_config(read_json(self.dir / "config.json").get("HostConfig", {}))

    def _record(self) -> Any:
        return load_record(self.dir)

    def _event(self, action: str, **attrs: Any) -> None:
        try:
            emit_for(self.settings.root, action, self._record(), **attrs)
        except (OSError, PydockError):
            pass  # an event that cannot be written must not take the container down with it

    def starting(self, cgroup: Any) -> None:
        """Right before the process is made: the OOM-kill count to compare against at its exit. Read
        here, not once it runs, because a process that outgrows its limit at once is killed before the
        shim gets round to looking, and its kill would count as the baseline."""
        self.cgroup = cgroup
        try:
            self.oom_seen = cgroup.oom_kill_count()
        except PydockError:
            pass

    def started(self, pid: int, cgroup: Any = None) -> None:
        if cgroup is not None:
            self.cgroup = cgroup
        self.started_at = time.monotonic()
        self._state(Restarting=False)
        self._event("start")
        record = self._record()
        check = record.config.get("Config", {}).get("Healthcheck")
        if not check:
            return
        # Imported only for a container with a health check: the shim of one without never needs it.
        from pydock.runtime.health import HealthConfig, HealthMonitor

        cfg = HealthConfig.from_config(check)
        if cfg is not None:
            self.health = HealthMonitor(
                self.dir, cfg, load=self._record, save=lambda h: self._state(Health=h),
                event=lambda action: self._event(action))
            self.health.start()

    def exiting(self, code: int) -> bool:
        """Before the shim records the exit: stops the health checks and tells an OOM kill from other
        deaths (the answer is state.json's OOMKilled)."""
        if self.health is not None:
            self.health.stop()
            self.health = None
        self.last_oom = False
        if self.cgroup is not None:
            count = self.cgroup.oom_kill_count()
            # The cgroup outlives restarts: only kills since this run started are this run's.
            self.last_oom = count > self.oom_seen
            self.oom_seen = count
        return self.last_oom

    def exited(self, code: int) -> None:
        """After the shim recorded the exit (as Docker: state first, then the events): oom, die."""
        if self.last_oom:
            self._event("oom")
        self._event("die", exitCode=code)

    def may_restart(self) -> bool:
        """Whether the container has a restart policy at all (a foreground caller is then let go at
        the first exit instead of waiting for the last)."""
        return self._policy().name != "no"

    def should_restart(self, code: int) -> bool:
        state = self._read_state()
        self.manager.policy = self._policy()
        ran_for = time.monotonic() - self.started_at
        restart, delay = self.manager.should_restart(code, bool(state.get("ManuallyStopped")), ran_for)
        if not restart:
            return False
        self._state(Status="restarting", Restarting=True, Running=True, Pid=0,
                    RestartCount=self.manager.restart_count)

        def cancelled() -> bool:
            return bool(self._read_state().get("ManuallyStopped"))

        if not wait_or_cancel(delay, cancelled):
            self._state(Status="exited", Restarting=False, Running=False)
            return False
        self._event("restart", delay=f"{delay:g}", restartCount=self.manager.restart_count)
        return True

    def _read_state(self) -> dict[str, Any]:
        try:
            return dict(read_json(self.dir / "state.json"))
        except (OSError, ValueError):
            return {}

    def close(self) -> None:
        if self.health is not None:
            self.health.stop()
            self.health = None
