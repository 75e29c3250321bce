"""The fleet-wide budget in Redis: every process and pod runs the same atomic script on one key."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import redis

from batchrunner.limiter import bucket
from batchrunner.limiter.base import DEFAULT_BURST_SECONDS, Budget, BudgetSnapshot, Grant, grant_from
from batchrunner.limiter.memory import MemoryBudget
from batchrunner.limiter.script import LUA_SOURCE

DEFAULT_KEY_PREFIX = "batchrunner:budget"
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _number(value: float | int | None) -> str:
    # repr round-trips a float exactly, so the script sees the same "now" the caller had.
    return "" if value is None else repr(value)


class RedisBudget(Budget):
    """A budget every process sharing ``client`` and ``key_prefix`` draws from atomically.

    Time is the Redis server's (``TIME`` inside the script) unless ``clock`` is given; tests pass one
    to drive time by hand. Redis errors propagate: a budget that cannot be read is not a wait.
    """

    def __init__(
        self,
        client: redis.Redis,
        requests_per_minute: int,
        tokens_per_minute: int,
        *,
        key_prefix: str = DEFAULT_KEY_PREFIX,
        burst_seconds: float = DEFAULT_BURST_SECONDS,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(requests_per_minute, tokens_per_minute, burst_seconds=burst_seconds)
        self.key = f"{key_prefix}:state"
        self._clock = clock
        self._script = client.register_script(LUA_SOURCE)

    def _run(self, op: str, *args: float | int | None) -> Any:
        now = "" if self._clock is None else repr(self._clock())
        argv: Sequence[str] = (
            op,
            now,
            str(self.limits.requests_per_minute),
            str(self.limits.tokens_per_minute),
            repr(self.limits.burst_seconds),
            *(_number(arg) for arg in args),
        )
        return self._script(keys=[self.key], args=argv)

    def _acquire(self, requests: int, tokens: int, reserve_share: float) -> Grant:
        granted, wait, reason = self._run("acquire", requests, tokens, float(reserve_share))
        reason_text = _text(reason)
        decision = bucket.Decision(
            granted=int(granted) == 1,
            wait_seconds=float(_text(wait)),
            reason=next((name for name in bucket.REASON_ORDER if name == reason_text), None),
        )
        return grant_from(decision, tokens)

    def adjust_tokens(self, delta: int) -> None:
        self._run("adjust", delta)

    def _observe(
        self,
        remaining_requests: int | None,
        reset_requests_s: float | None,
        remaining_tokens: int | None,
        reset_tokens_s: float | None,
    ) -> None:
        self._run("observe", remaining_requests, reset_requests_s, remaining_tokens, reset_tokens_s)

    def pause(self, seconds: float) -> None:
        self._run("pause", float(seconds))

    def paused_for(self) -> float:
        return self.snapshot().paused_for

    def snapshot(self) -> BudgetSnapshot:
        requests_backlog, tokens_backlog, paused = (float(_text(value)) for value in self._run("snapshot"))
        return BudgetSnapshot(
            remaining_requests=bucket.remaining_in_minute(self.limits.requests_per_minute, requests_backlog),
            remaining_tokens=bucket.remaining_in_minute(self.limits.tokens_per_minute, tokens_backlog),
            paused_for=paused,
        )


def make_budget(
    redis_url: str | None,
    requests_per_minute: int,
    tokens_per_minute: int,
    *,
    key_prefix: str = DEFAULT_KEY_PREFIX,
    burst_seconds: float = DEFAULT_BURST_SECONDS,
    clock: Callable[[], float] | None = None,
) -> Budget:
    """A ``MemoryBudget`` without a URL, else a ``RedisBudget``; neither connects until first used.

    ``clock`` defaults to ``time.time`` in memory and to the Redis server's clock in Redis.
    """
    if not redis_url:
        if clock is None:
            return MemoryBudget(requests_per_minute, tokens_per_minute, burst_seconds=burst_seconds)
        return MemoryBudget(requests_per_minute, tokens_per_minute, clock=clock, burst_seconds=burst_seconds)
    if not redis_url.startswith(_REDIS_SCHEMES):
        scheme = redis_url.split(":", 1)[0]  # never echo the URL: it may carry a password
        raise ValueError(f"the fleet budget needs a redis://, rediss:// or unix:// URL, not {scheme}://")
    return RedisBudget(
        redis.Redis.from_url(redis_url),
        requests_per_minute,
        tokens_per_minute,
        key_prefix=key_prefix,
        burst_seconds=burst_seconds,
        clock=clock,
    )
