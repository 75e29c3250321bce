"""The in-process budget for embedded mode: the same arithmetic as the Redis script, under a lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

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


class MemoryBudget(Budget):
    """A budget shared by the threads of one process; ``clock`` returns epoch seconds."""

    def __init__(
        self,
        requests_per_minute: int,
        tokens_per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
        burst_seconds: float = DEFAULT_BURST_SECONDS,
        learning: Learning | None = None,
    ) -> None:
        super().__init__(requests_per_minute, tokens_per_minute, burst_seconds=burst_seconds, learning=learning)
        self._clock = clock
        self._state = bucket.BucketState()
        self._lock = threading.Lock()

    def _acquire(self, requests: int, tokens: int, reserve_share: float) -> Grant:
        with self._lock:
            self._state, decision = bucket.acquire(
                self._state, self.limits, self._clock(), requests, tokens, reserve_share
            )
        return grant_from(decision, tokens)

    def adjust_tokens(self, delta: int) -> None:
        with self._lock:
            self._state = bucket.adjust_tokens(self._state, self.limits, self._clock(), delta)

    def _observe(
        self,
        remaining_requests: int | None,
        reset_requests_s: float | None,
        remaining_tokens: int | None,
        reset_tokens_s: float | None,
    ) -> None:
        with self._lock:
            self._state = bucket.observe(
                self._state,
                self.limits,
                self._clock(),
                remaining_requests=remaining_requests,
                reset_requests_s=reset_requests_s,
                remaining_tokens=remaining_tokens,
                reset_tokens_s=reset_tokens_s,
            )

    def _share_server_limits(self, heard: ServerLimits) -> None:
        return None  # one process: there is no one else to tell

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._state = bucket.pause(self._state, self._clock(), seconds)

    def paused_for(self) -> float:
        with self._lock:
            return max(self._state.paused_until - self._clock(), 0.0)

    def snapshot(self) -> BudgetSnapshot:
        with self._lock:
            now, state = self._clock(), self._state
        return BudgetSnapshot(
            remaining_requests=bucket.remaining_in_minute(
                self.limits.requests_per_minute, bucket.backlog(state.requests_tat, now)
            ),
            remaining_tokens=bucket.remaining_in_minute(
                self.limits.tokens_per_minute, bucket.backlog(state.tokens_tat, now)
            ),
            paused_for=max(state.paused_until - now, 0.0),
        )
