"""The fleet-wide rate-limit budget (DESIGN principle 3): its interface and result types.

The job state machine asks ``try_acquire`` before each API request. A refusal is not an error: it says
how long to wait, and the caller re-sends its message with that delay instead of sleeping.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from batchrunner.limiter import bucket
from batchrunner.limiter.bucket import Decision, Limits, RefusalReason

DEFAULT_BURST_SECONDS = 2.0


@dataclass(frozen=True)
class Reservation:
    """Tokens taken on an estimate; ``reconcile`` corrects them once the real usage is known.

    Only plain data, so a caller may persist ``tokens`` and rebuild the reservation in a later step.
    """

    tokens: int


@dataclass(frozen=True)
class Grant:
    """The answer of ``try_acquire``."""

    granted: bool
    wait_seconds: float
    reason: RefusalReason | None
    reservation: Reservation | None


@dataclass(frozen=True)
class BudgetSnapshot:
    """The budget as a server would report it: None means that resource is not metered."""

    remaining_requests: int | None
    remaining_tokens: int | None
    paused_for: float


def grant_from(decision: Decision, tokens: int) -> Grant:
    reservation = Reservation(tokens) if decision.granted and tokens > 0 else None
    return Grant(decision.granted, decision.wait_seconds, decision.reason, reservation)


class Budget(ABC):
    """Requests and tokens per minute shared by every process that uses the same backing store.

    A limit of 0 means that resource is not metered; a pause applies regardless.
    """

    def __init__(
        self,
        requests_per_minute: int,
        tokens_per_minute: int,
        *,
        burst_seconds: float = DEFAULT_BURST_SECONDS,
    ) -> None:
        if requests_per_minute < 0 or tokens_per_minute < 0:
            raise ValueError("limits per minute must be >= 0 (0 means no limit)")
        if not 0 < burst_seconds <= 60:
            raise ValueError("burst_seconds must be in (0, 60]")
        self.limits = Limits(requests_per_minute, tokens_per_minute, float(burst_seconds))

    @property
    def requests_per_minute(self) -> int:
        return self.limits.requests_per_minute

    @property
    def tokens_per_minute(self) -> int:
        return self.limits.tokens_per_minute

    def try_acquire(self, *, requests: int = 1, tokens: int = 0, reserve_share: float = 0.0) -> Grant:
        """Take ``requests`` and ``tokens`` together, or neither; never sleeps.

        ``reserve_share`` of the burst is left for requests that ask for no reserve (see ``bucket``).
        """
        if requests < 0 or tokens < 0:
            raise ValueError("requests and tokens must be >= 0")
        if not 0.0 <= reserve_share < 1.0:
            raise ValueError("reserve_share must be in [0, 1)")
        return self._acquire(requests, tokens, reserve_share)

    def reconcile(self, reservation: Reservation, actual_tokens: int) -> None:
        """Return the unused part of an estimate, or charge what the request used beyond it."""
        if actual_tokens < 0:
            raise ValueError("actual_tokens must be >= 0")
        self.adjust_tokens(actual_tokens - reservation.tokens)

    @abstractmethod
    def _acquire(self, requests: int, tokens: int, reserve_share: float) -> Grant: ...

    @abstractmethod
    def adjust_tokens(self, delta: int) -> None:
        """Charge ``delta`` tokens (negative: give them back) without asking first."""

    def observe_server_limits(
        self,
        *,
        remaining_requests: int | None,
        reset_requests_s: float | None,
        remaining_tokens: int | None,
        reset_tokens_s: float | None,
    ) -> None:
        """Spend what the server's ``x-ratelimit-*`` headers say is gone, until its reset.

        Most responses report more left than our own bucket could ever hold back; those change nothing
        and are not sent to the store (for Redis, one round trip saved per API response).
        """
        limits = self.limits
        if not bucket.server_floor_binds(
            limits.requests_per_minute, limits.burst_seconds, remaining_requests, reset_requests_s
        ):
            remaining_requests = reset_requests_s = None
        if not bucket.server_floor_binds(
            limits.tokens_per_minute, limits.burst_seconds, remaining_tokens, reset_tokens_s
        ):
            remaining_tokens = reset_tokens_s = None
        if remaining_requests is None and remaining_tokens is None:
            return
        self._observe(remaining_requests, reset_requests_s, remaining_tokens, reset_tokens_s)

    @abstractmethod
    def _observe(
        self,
        remaining_requests: int | None,
        reset_requests_s: float | None,
        remaining_tokens: int | None,
        reset_tokens_s: float | None,
    ) -> None: ...

    @abstractmethod
    def pause(self, seconds: float) -> None:
        """Refuse everything for ``seconds`` (after a 429); never shortens a longer pause."""

    @abstractmethod
    def paused_for(self) -> float:
        """Seconds left of the current pause, 0 when there is none."""

    @abstractmethod
    def snapshot(self) -> BudgetSnapshot:
        """Remaining requests and tokens of the current minute, and the pause left."""
