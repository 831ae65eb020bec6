"""Silences in Alertmanager's v2 shape: matchers and a time window; matching alerts are not notified.

A silence is `pending` before `startsAt`, `active` until `endsAt`, then `expired`. Expiring one sets
`endsAt` to now (Alertmanager's DELETE does the same), so it stays listed. Silences apply to the
collector's own receivers (webhooks); a real Alertmanager behind an `alertmanager_configs` receiver
applies its own.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydock.collector.matchers import Matcher, matches_all
from pydock.collector.notify.model import go_time, parse_go_time
from pydock.collector.notify.store import NotifyStore

from pydock.errors import NotFoundError, UsageError


@dataclass(frozen=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        return "active" if now < self.ends_at else "expired"

    def to_api(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "status": {"state": self.state(now)}, "updatedAt": go_time(self.updated_at),
                "comment": self.comment, "createdBy": self.created_by, "startsAt": go_time(self.starts_at),
                "endsAt": go_time(self.ends_at),
                "matchers": [{"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                             for m in self.matchers]}


def matchers_from_api(items: Any) -> tuple[Matcher, ...]:
    if not isinstance(items, list) or not items:
        raise UsageError("silence needs at least one matcher")
    out = []
    for m in items:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str) or not isinstance(m.get("value"), str):
            raise UsageError(f"invalid matcher {m!r}: needs name and value strings")
        is_regex, is_equal = bool(m.get("isRegex", False)), bool(m.get("isEqual", True))
        op = {(False, True): "=", (False, False): "!=", (True, True): "=~", (True, False): "!~"}[(is_regex, is_equal)]
        try:
            out.append(Matcher.make(m["name"], op, m["value"]))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    if all(mm.matches({}) for mm in out):
        # Alertmanager refuses these: they would silence every alert.
        raise UsageError("at least one matcher must not match the empty string")
    return tuple(out)


class Silences:
    def __init__(self, store: NotifyStore) -> None:
        self._store = store
        self._cache: list[Silence] | None = None

    def all(self) -> list[Silence]:
        if self._cache is None:
            self._cache = [Silence(r[0], matchers_from_api(json.loads(r[1])), r[2], r[3], r[4], r[5], r[6])
                           for r in self._store.silences()]
        return list(self._cache)

    def get(self, silence_id: str) -> Silence:
        for s in self.all():
            if s.id == silence_id:
                return s
        raise NotFoundError(f"silence {silence_id} not found")

    def _put(self, s: Silence) -> None:
        matchers = [{"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
                    for m in s.matchers]
        self._store.put_silence((s.id, json.dumps(matchers), s.starts_at, s.ends_at, s.created_by, s.comment,
                                 s.updated_at))
        self._cache = None

    def upsert(self, body: Mapping[str, Any], now: float | None = None) -> str:
        """POST /api/v2/silences: create, or update the silence named by `id`; returns its id."""
        now = time.time() if now is None else now
        matchers = matchers_from_api(body.get("matchers"))
        try:
            starts = parse_go_time(str(body.get("startsAt") or "")) or now
            ends = parse_go_time(str(body.get("endsAt") or ""))
        except ValueError as exc:
            raise UsageError(f"invalid time in silence: {exc}") from exc
        if ends is None:
            raise UsageError("silence needs endsAt")
        if ends < starts:
            raise UsageError("end time must not be before start time")
        if ends < now:
            raise UsageError("end time can't be in the past")
        sid = str(body.get("id") or "")
        if sid:
            old = self.get(sid)
            if old.state(now) == "expired":
                raise UsageError(f"silence {sid} is expired and cannot be updated")
        else:
            sid = str(uuid.uuid4())
        self._put(Silence(sid, matchers, max(starts, now) if not body.get("id") and starts < now else starts,
                          ends, str(body.get("createdBy") or ""), str(body.get("comment") or ""), now))
        return sid

    def expire(self, silence_id: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        s = self.get(silence_id)
        if s.state(now) == "expired":
            raise UsageError(f"silence {silence_id} already expired")
        self._put(Silence(s.id, s.matchers, min(s.starts_at, now), now, s.created_by, s.comment, now))

    def silenced_by(self, labels: Mapping[str, str], now: float) -> list[str]:
        return [s.id for s in self.all() if s.state(now) == "active" and matches_all(s.matchers, labels)]
