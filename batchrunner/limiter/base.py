"""The fleet-wide rate-limit budget (DESIGN principle 3): its interface and result types.

The job state machine asks ``try_acquire`` before each API request. A refusal is not an error: it says
how long to wait, and the caller re-sends its message with that delay instead of sleeping.
"""

from __future__ import annotations

import logging
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from batchrunner.limiter import bucket
from batchrunner.limiter.bucket import Decision, Limits, RefusalReason

DEFAULT_BURST_SECONDS = 2.0
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Learning:
    """How a budget learns the server's limits from its ``x-ratelimit-limit-*`` headers.

    Until the first answer arrives, requests are metered at ``probe_requests_per_minute`` (unless a cap
    is configured); from then on at ``share`` of the limits the server announced, or, when it announces
    none, at the configured caps alone (0: not metered).
    """

    share: float = 0.95
    probe_requests_per_minute: int = 60

    def __post_init__(self) -> None:
        if not 0 < self.share <= 1:
            raise ValueError("the share of a learned limit must be in (0, 1]")
        if self.probe_requests_per_minute < 1:
            raise ValueError("probe_requests_per_minute must be >= 1")


@dataclass(frozen=True)
class ServerLimits:
    """The limits a server announced; 0 means it announced none for that resource."""

    requests_per_minute: int
    tokens_per_minute: int


def effective_limit(cap: int, learned: int | None, share: float, probe: int) -> int:
    """The limit to meter at: ``cap`` (0: none) and what the server announced (None: not heard yet)."""
    if learned is None:
        return cap or probe
    if learned == 0:
        return cap
    shared = max(1, math.floor(learned * share))
    return min(cap, shared) if cap else shared


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
        learning: Learning | None = None,
    ) -> None:
        if requests_per_minute < 0 or tokens_per_minute < 0:
            raise ValueError("limits per minute must be >= 0 (0 means no limit)")
        if not 0 < burst_seconds <= 60:
            raise ValueError("burst_seconds must be in (0, 60]")
        self.caps = Limits(requests_per_minute, tokens_per_minute, float(burst_seconds))
        self.learning = learning
        self._server_limits: ServerLimits | None = None
        self.limits = self._effective()

    @property
    def server_limits(self) -> ServerLimits | None:
        """What the server announced, as far as this budget knows (None: nothing heard yet)."""
        return self._server_limits

    def _effective(self) -> Limits:
        caps, learning, heard = self.caps, self.learning, self._server_limits
        if learning is None:
            return caps
        return Limits(
            effective_limit(
                caps.requests_per_minute,
                heard.requests_per_minute if heard else None,
                learning.share,
                learning.probe_requests_per_minute,
            ),
            # Tokens are not probed: a first request's estimate could exceed any probe.
            effective_limit(caps.tokens_per_minute, heard.tokens_per_minute if heard else 0, learning.share, 0),
            caps.burst_seconds,
        )

    def learn_server_limits(self, limit_requests: int | None, limit_tokens: int | None) -> None:
        """The limits an answer's headers announced (None: that header was absent)."""
        if self.learning is None:
            return
        heard = ServerLimits(limit_requests or 0, limit_tokens or 0)
        known = self._server_limits
        if known is not None:  # an answer without the headers (a stream's, say) does not unlearn them
            heard = ServerLimits(
                heard.requests_per_minute or known.requests_per_minute,
                heard.tokens_per_minute or known.tokens_per_minute,
            )
        if heard == known:
            return
        self._adopt_server_limits(heard)
        self._share_server_limits(heard)
        log.info(
            "the server's limits: %s requests and %s tokens per minute; metering at %s and %s",
            heard.requests_per_minute or "no limit on",
            heard.tokens_per_minute or "no limit on",
            self.limits.requests_per_minute or "no limit",
            self.limits.tokens_per_minute or "no limit",
        )

    def _adopt_server_limits(self, heard: ServerLimits) -> None:
        self._server_limits = heard
        self.limits = self._effective()

    @abstractmethod
    def _share_server_limits(self, heard: ServerLimits) -> None:
        """Tell the other processes of the fleet what the server announced."""

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
