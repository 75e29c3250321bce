"""The fleet's circuit breaker: when the API fails across the fleet, every process holds back and probes.

The state (``breaker_state``) lives where the fleet budget lives: in Redis for a fleet (every process
and pod shares one key, changed in optimistic transactions), in memory for embedded mode. Each process
keeps a copy for ``refresh_s``, so a fleet at work asks Redis about the breaker about once a second per
process, not once a request. ``observe`` is the API clients' request hook: an answer of any kind but a
5xx is a success. Failures (no answer: refused, timed out, dropped; or a 5xx) are reported by the job
processor with the job they were for (``record_failure``), since one job's failures alone never open
the breaker.
"""

from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import redis

from batchrunner.api.pipeline import RequestRecord
from batchrunner.limiter import breaker_state
from batchrunner.limiter.breaker_state import CLOSED, BreakerPolicy, BreakerState
from batchrunner.metrics import API_DOWN, API_DOWN_SINCE, API_OUTAGES

log = logging.getLogger(__name__)

T = TypeVar("T")
Transition = Callable[[BreakerState], tuple[BreakerState, T]]
DEFAULT_BREAKER_KEY = "batchrunner:breaker"
_STATE_TTL_S = 86_400  # a breaker left open by a fleet that went away does not outlive a day


class BreakerStore(ABC):
    """Where the fleet's breaker state is kept; ``update`` applies a transition atomically."""

    @abstractmethod
    def read(self) -> BreakerState: ...

    @abstractmethod
    def update(self, transition: Transition[T]) -> tuple[BreakerState, BreakerState, T]:
        """Apply ``transition``; return the state before, the state after and the transition's result."""


class MemoryBreakerStore(BreakerStore):
    def __init__(self) -> None:
        self._state = CLOSED
        self._lock = threading.Lock()

    def read(self) -> BreakerState:
        with self._lock:
            return self._state

    def update(self, transition: Transition[T]) -> tuple[BreakerState, BreakerState, T]:
        with self._lock:
            before = self._state
            self._state, result = transition(before)
            return before, self._state, result


def _encode(state: BreakerState) -> dict[str, str]:
    return {
        "failures": str(state.failures),
        "down_since": "" if state.down_since is None else repr(state.down_since),
        "probe_at": repr(state.probe_at),
        "interval": repr(state.interval),
        "probes_left": str(state.probes_left),
        "first_source": state.first_source,
        "mixed": "1" if state.mixed else "",
    }


def _decode(raw: dict[Any, Any]) -> BreakerState:
    if not raw:
        return CLOSED
    fields = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v) for k, v in raw.items()
    }
    return BreakerState(
        failures=int(fields.get("failures") or 0),
        down_since=float(fields["down_since"]) if fields.get("down_since") else None,
        probe_at=float(fields.get("probe_at") or 0.0),
        interval=float(fields.get("interval") or 0.0),
        probes_left=int(fields.get("probes_left") or 0),
        first_source=fields.get("first_source") or "",
        mixed=bool(fields.get("mixed")),
    )


class RedisBreakerStore(BreakerStore):
    """One hash per fleet, read and written under ``WATCH`` so concurrent transitions never interleave."""

    def __init__(self, client: redis.Redis, key: str = DEFAULT_BREAKER_KEY) -> None:
        self._client = client
        self.key = key

    def read(self) -> BreakerState:
        return _decode(self._client.hgetall(self.key))

    def update(self, transition: Transition[T]) -> tuple[BreakerState, BreakerState, T]:
        with self._client.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(self.key)  # type: ignore[no-untyped-call]
                    before = _decode(pipe.hgetall(self.key))
                    after, result = transition(before)
                    if after == before:
                        pipe.unwatch()
                        return before, after, result
                    pipe.multi()
                    if after == CLOSED:
                        pipe.delete(self.key)
                    else:
                        pipe.hset(self.key, mapping=_encode(after))  # type: ignore[arg-type]
                        pipe.expire(self.key, _STATE_TTL_S)
                    pipe.execute()
                    return before, after, result
                except redis.WatchError:
                    continue  # another process changed the breaker first: apply ours to its state


def _moment(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).isoformat(timespec="seconds")


class CircuitBreaker:
    """The process's side of the fleet's breaker: ``admit`` before a request, ``observe`` after it."""

    def __init__(
        self,
        store: BreakerStore,
        policy: BreakerPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
        refresh_s: float = 1.0,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._store = store
        self._clock = clock
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._known = CLOSED
        self._known_at = float("-inf")

    def admit(self) -> float:
        """0.0 when a request may go now (perhaps as a probe), else the seconds to wait before asking again."""
        now = self._clock()
        known = self._current(now)
        if not known.down:
            return 0.0
        if now < known.probe_at:
            return known.probe_at - now
        _, after, wait = self._store.update(lambda state: breaker_state.admit(state, self.policy, now))
        self._remember(after, now)
        return wait

    def is_down(self) -> bool:
        """Whether the fleet holds requests back, as this process last heard (at most ``refresh_s`` ago)."""
        return self._current(self._clock()).down

    def _current(self, now: float) -> BreakerState:
        with self._lock:
            known, fresh = self._known, now - self._known_at < self._refresh_s
        if fresh:
            return known
        known = self._store.read()
        self._remember(known, now)
        return known

    def wait_hint(self) -> float:
        """Seconds until the next probe (at least a moment), for a job whose request just failed."""
        known = self._known
        if not known.down:
            return 0.0
        return max(known.probe_at - self._clock(), 0.0) or min(self.policy.first_probe_s, 1.0)

    def observe(self, record: RequestRecord) -> None:
        """The request hook: an answered request (anything but a 5xx) is a success."""
        if record.status_code is not None and record.status_code < 500:
            self.record_success()

    def record_failure(self, source: str, what: str) -> None:
        """A request made for ``source`` (a job) failed with ``what`` (no answer or a 5xx)."""
        now = self._clock()
        before, after, _ = self._store.update(
            lambda state: (breaker_state.failure(state, self.policy, now, source), None)
        )
        if after.down and not before.down:
            API_OUTAGES.inc()
            log.error(
                "the API is down since %s: %d requests in a row failed across the fleet (last: %s); "
                "holding every request back, first probe in %.0fs",
                _moment(now),
                after.failures,
                what,
                after.probe_at - now,
            )
        elif after.down and after.probe_at != before.probe_at:
            log.warning("the API is still down (a probe failed: %s); next probe in %.0fs", what, after.interval)
        self._remember(after, now)

    def record_success(self) -> None:
        now = self._clock()
        with self._lock:
            known, fresh = self._known, now - self._known_at < self._refresh_s
        if fresh and known == CLOSED:
            return  # nothing to reset: no round trip
        _, after, _ = self._store.update(lambda state: (breaker_state.success(state), None))
        self._remember(after, now)

    def _remember(self, state: BreakerState, now: float) -> None:
        with self._lock:
            previous, self._known, self._known_at = self._known, state, now
        if state.down and not previous.down:
            assert state.down_since is not None
            API_DOWN.set(1)
            API_DOWN_SINCE.set(state.down_since)
            log.warning("this worker holds its requests back: the API is down since %s", _moment(state.down_since))
        elif previous.down and not state.down:
            API_DOWN.set(0)
            API_DOWN_SINCE.set(0)
            assert previous.down_since is not None
            log.warning("the API is back after %.0fs down; resuming at full speed", now - previous.down_since)


def make_breaker(redis_url: str | None, policy: BreakerPolicy, *, key: str = DEFAULT_BREAKER_KEY) -> CircuitBreaker:
    """A fleet-wide breaker in Redis at ``redis_url``, or one in memory without a URL."""
    if redis_url is None:
        return CircuitBreaker(MemoryBreakerStore(), policy)
    return CircuitBreaker(RedisBreakerStore(redis.Redis.from_url(redis_url), key), policy)


__all__ = [
    "DEFAULT_BREAKER_KEY",
    "BreakerStore",
    "CircuitBreaker",
    "MemoryBreakerStore",
    "RedisBreakerStore",
    "make_breaker",
]
