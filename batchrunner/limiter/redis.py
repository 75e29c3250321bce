"""The fleet-wide budget in Redis: every process and pod runs the same atomic script on one key."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis

from batchrunner.limiter import bucket
from batchrunner.limiter.base import (
    DEFAULT_BURST_SECONDS,
    Budget,
    BudgetSnapshot,
    Grant,
    Learning,
    ServerLimits,
    grant_from,
)
from batchrunner.limiter.memory import MemoryBudget
from batchrunner.limiter.script import LUA_SOURCE

DEFAULT_KEY_PREFIX = "batchrunner:budget"
# A process that has not heard the server's limits yet looks for what the fleet heard this often.
_SERVER_LIMITS_LOOKUP_S = 5.0
_SERVER_LIMITS_TTL_S = 3600
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
        learning: Learning | None = None,
    ) -> None:
        super().__init__(requests_per_minute, tokens_per_minute, burst_seconds=burst_seconds, learning=learning)
        self.key = f"{key_prefix}:state"
        self.server_limits_key = f"{key_prefix}:server_limits"
        self._client = client
        self._clock = clock
        self._script = client.register_script(LUA_SOURCE)
        self._looked_up_at = float("-inf")

    def _look_up_server_limits(self) -> None:
        """Before this process hears the server's limits itself, use what another process heard."""
        if self.learning is None or self.server_limits is not None:
            return
        now = time.monotonic()
        if now - self._looked_up_at < _SERVER_LIMITS_LOOKUP_S:
            return
        self._looked_up_at = now
        raw = self._client.hmget(self.server_limits_key, ["requests", "tokens"])
        if raw[0] is not None:
            self._adopt_server_limits(ServerLimits(int(raw[0]), int(raw[1] or 0)))

    def _share_server_limits(self, heard: ServerLimits) -> None:
        with self._client.pipeline(transaction=False) as pipe:
            pipe.hset(
                self.server_limits_key,
                mapping={"requests": heard.requests_per_minute, "tokens": heard.tokens_per_minute},
            )
            pipe.expire(self.server_limits_key, _SERVER_LIMITS_TTL_S)
            pipe.execute()

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
        self._look_up_server_limits()
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
    learning: Learning | None = None,
) -> Budget:
    """A ``MemoryBudget`` without a URL, else a ``RedisBudget``; neither connects until first used.

    ``clock`` defaults to ``time.time`` in memory and to the Redis server's clock in Redis.
    """
    if not redis_url:
        options: dict[str, Any] = {"burst_seconds": burst_seconds, "learning": learning}
        if clock is not None:
            options["clock"] = clock
        return MemoryBudget(requests_per_minute, tokens_per_minute, **options)
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
        learning=learning,
    )
