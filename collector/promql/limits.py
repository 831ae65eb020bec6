"""Query limits, as Prometheus's `--query.timeout`, `--query.max-samples` and `--query.max-concurrency`.

One `QueryLimits` per engine; each query gets a `QueryContext` that the evaluator polls inside its
loops (`check()`), charges with the samples it holds in memory (`charge(n)`), and that the engine can
cancel from another thread (`Engine.cancel_all()` on shutdown), because a query runs in a worker
thread that Python cannot interrupt from outside. The errors and their wording are Prometheus 2.42's
(promql/engine.go: ErrQueryTimeout, ErrQueryCanceled, ErrTooManySamples), with the API `errorType`
in `PromQLError.kind`: "timeout" and "canceled" (HTTP 503), "execution" (HTTP 422).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydock.errors import PromQLError

DEFAULT_TIMEOUT_S = 120.0
DEFAULT_MAX_SAMPLES = 50_000_000
DEFAULT_MAX_CONCURRENCY = 20


@dataclass(frozen=True)
class QueryLimits:
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_samples: int = DEFAULT_MAX_SAMPLES
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise PromQLError(f"query timeout must be positive, got {self.timeout_s}")
        if self.max_samples <= 0:
            raise PromQLError(f"query max samples must be positive, got {self.max_samples}")
        if self.max_concurrency <= 0:
            raise PromQLError(f"query max concurrency must be positive, got {self.max_concurrency}")


def timeout_error(where: str) -> PromQLError:
    return PromQLError(f"query timed out in {where}", kind="timeout")


def canceled_error(where: str) -> PromQLError:
    return PromQLError(f"query was canceled in {where}", kind="canceled")


def too_many_samples() -> PromQLError:
    return PromQLError("query processing would load too many samples into memory in query execution",
                       kind="execution")


class QueryContext:
    """One query's deadline, cancel flag and sample count."""

    __slots__ = ("_cancel", "_ticks", "deadline", "max_samples", "samples")

    def __init__(self, limits: QueryLimits) -> None:
        self.deadline = time.monotonic() + limits.timeout_s
        self.max_samples = limits.max_samples
        self.samples = 0
        self._cancel = threading.Event()
        self._ticks = 0

    def cancel(self) -> None:
        self._cancel.set()

    def check(self) -> None:
        """Raise when the query is cancelled or past its deadline; cheap enough for inner loops
        (the clock is read every 64 calls)."""
        self._ticks += 1
        if self._ticks & 63:
            return
        self.check_now()

    def check_now(self) -> None:
        if self._cancel.is_set():
            raise canceled_error("query execution")
        if time.monotonic() > self.deadline:
            raise timeout_error("query execution")

    def charge(self, n: int) -> None:
        """Count `n` more samples held in memory (points loaded or produced, subquery steps)."""
        self.samples += n
        if self.samples > self.max_samples:
            raise too_many_samples()
        self.check()

    def need(self, n: int) -> None:
        """Refuse at once work that would hold `n` more samples than the limit allows."""
        if self.samples + n > self.max_samples:
            raise too_many_samples()

    def release(self, n: int) -> None:
        self.samples -= n


class QueryGate:
    """At most `max_concurrency` queries at once; the others wait in a queue until their own
    deadline ("query timed out in query queue"), as Prometheus's active query tracker makes them."""

    def __init__(self, limits: QueryLimits) -> None:
        self.limits = limits
        self._slots = threading.BoundedSemaphore(limits.max_concurrency)
        self._lock = threading.Lock()
        self._active: set[QueryContext] = set()
        self._closed = False

    @contextmanager
    def enter(self) -> Iterator[QueryContext]:
        ctx = QueryContext(self.limits)
        if self._closed:
            raise canceled_error("query queue")
        # Waits in slices so that cancel_all() also frees queries still queued.
        while not self._slots.acquire(timeout=min(0.05, max(0.0, ctx.deadline - time.monotonic()))):
            if self._closed:
                raise canceled_error("query queue")
            if time.monotonic() >= ctx.deadline:
                raise timeout_error("query queue")
        try:
            with self._lock:
                self._active.add(ctx)
            if self._closed:
                raise canceled_error("query queue")
            yield ctx
        finally:
            with self._lock:
                self._active.discard(ctx)
            self._slots.release()

    def active(self) -> int:
        with self._lock:
            return len(self._active)

    def cancel_all(self, close: bool = False) -> None:
        """Cancel every running query; with `close`, refuse new ones too (shutdown)."""
        if close:
            self._closed = True
        # No lock: this runs in signal handlers, which may interrupt a thread holding it; list() of
        # a set is one step under the GIL.
        for ctx in list(self._active):
            ctx.cancel()
