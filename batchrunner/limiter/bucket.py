"""The budget's arithmetic: pure functions on a bucket state, mirrored line for line by ``script.LUA_SOURCE``.

Each metered resource (requests, tokens) is a token bucket kept as a *theoretical arrival time* (GCRA):
``tat`` is the moment the bucket would be full again. ``backlog = max(tat - now, 0)`` is how far the
fleet has run ahead of the steady rate, in seconds; each unit costs ``60 / limit`` seconds.

- The bucket holds ``burst_seconds`` of budget and refills at ``limit / 60`` per second, so the long-run
  rate is exactly the limit while a burst after idling stays at ``burst_seconds`` of it. OpenAI refills
  continuously with a capacity of a whole minute, which a small burst never empties. A server that
  counts one-minute windows could see at most the burst plus one request too many, once, in the first
  minute after an idle spell; its ``x-ratelimit-*`` headers (``observe``) then hold the fleet back.
- A request is admitted while the bucket is not empty (``backlog < burst_seconds``), then owes its
  whole cost, so the bucket may go into debt. Requests larger than the burst (a run's token estimate
  often is) are therefore admitted in turn instead of starving behind smaller ones.
- A refused request is told the exact wait until the backlog falls under the burst again.
- A request may ask to leave a share of the burst unused (``reserve_share``): it is admitted only while
  the backlog is under ``burst_seconds * (1 - reserve_share)``. Starting new runs does so, keeping
  headroom for the polls of runs already in flight when the limit binds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

SECONDS_PER_MINUTE = 60.0
# Timestamps near 1.7e9 s carry float rounding of about 2e-7 s: backlogs within CLOCK_NOISE_S of a
# boundary count as on it, and a refused caller waits WAIT_MARGIN_S past it so its retry is admitted.
CLOCK_NOISE_S = 1e-6
WAIT_MARGIN_S = 1e-5
RefusalReason = Literal["paused", "requests", "tokens"]
# Ties name the pause first: it is the one a caller cannot shorten.
REASON_ORDER: tuple[RefusalReason, ...] = ("paused", "requests", "tokens")


@dataclass(frozen=True)
class BucketState:
    """Theoretical arrival times of both resources and the end of any fleet-wide pause (epoch seconds)."""

    requests_tat: float = 0.0
    tokens_tat: float = 0.0
    paused_until: float = 0.0


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int
    tokens_per_minute: int
    burst_seconds: float


@dataclass(frozen=True)
class Decision:
    granted: bool
    wait_seconds: float
    reason: RefusalReason | None


def unit_seconds(limit: int) -> float:
    return SECONDS_PER_MINUTE / limit


def backlog(tat: float, now: float) -> float:
    return max(tat - now, 0.0)


def acquire(
    state: BucketState, limits: Limits, now: float, requests: int, tokens: int, reserve_share: float = 0.0
) -> tuple[BucketState, Decision]:
    """Admit ``requests`` and ``tokens`` together or neither; a refusal changes nothing."""
    waits: dict[RefusalReason, float] = {"paused": max(state.paused_until - now, 0.0)}
    threshold = limits.burst_seconds * (1.0 - reserve_share)
    metered: tuple[tuple[RefusalReason, int, int, float], ...] = (
        ("requests", limits.requests_per_minute, requests, state.requests_tat),
        ("tokens", limits.tokens_per_minute, tokens, state.tokens_tat),
    )
    for name, limit, cost, tat in metered:
        ahead = backlog(tat, now)
        if limit > 0 and cost > 0 and ahead > threshold - CLOCK_NOISE_S:
            waits[name] = ahead - threshold + WAIT_MARGIN_S
    wait = max(waits.values())
    if wait > 0:
        reason = next(name for name in REASON_ORDER if waits.get(name) == wait)
        return state, Decision(False, wait, reason)
    requests_tat, tokens_tat = state.requests_tat, state.tokens_tat
    if limits.requests_per_minute > 0 and requests > 0:
        requests_tat = max(requests_tat, now) + requests * unit_seconds(limits.requests_per_minute)
    if limits.tokens_per_minute > 0 and tokens > 0:
        tokens_tat = max(tokens_tat, now) + tokens * unit_seconds(limits.tokens_per_minute)
    return BucketState(requests_tat, tokens_tat, state.paused_until), Decision(True, 0.0, None)


def adjust_tokens(state: BucketState, limits: Limits, now: float, delta: int) -> BucketState:
    """Charge ``delta`` more tokens (or return ``-delta``); returns never fill the bucket past full."""
    if limits.tokens_per_minute <= 0 or delta == 0:
        return state
    shifted = max(state.tokens_tat, now) + delta * unit_seconds(limits.tokens_per_minute)
    return BucketState(state.requests_tat, max(shifted, now), state.paused_until)


def server_floor(limit: int, burst_seconds: float, now: float, remaining: int, reset_s: float | None) -> float:
    """The earliest ``tat`` that admits no more than ``remaining`` units before the server's reset.

    Without a reset time the server is assumed to refill continuously, as OpenAI does.
    """
    unit = unit_seconds(limit)
    remaining = max(remaining, 0)
    horizon = reset_s if reset_s is not None else (limit - remaining) * unit
    return now + burst_seconds + max(horizon, 0.0) - remaining * unit


def server_floor_binds(limit: int, burst_seconds: float, remaining: int | None, reset_s: float | None) -> bool:
    """Whether ``observe`` could hold anything back: the server's floor lies after ``now``.

    A floor at or before ``now`` leaves every bucket as it was (a backlog is never below zero).
    """
    if limit <= 0 or remaining is None:
        return False
    return server_floor(limit, burst_seconds, 0.0, remaining, reset_s) > 0.0


def observe(
    state: BucketState,
    limits: Limits,
    now: float,
    *,
    remaining_requests: int | None,
    reset_requests_s: float | None,
    remaining_tokens: int | None,
    reset_tokens_s: float | None,
) -> BucketState:
    """Spend whatever the server says is already gone, so we never admit more than it has left."""
    requests_tat, tokens_tat = state.requests_tat, state.tokens_tat
    if limits.requests_per_minute > 0 and remaining_requests is not None:
        floor = server_floor(
            limits.requests_per_minute, limits.burst_seconds, now, remaining_requests, reset_requests_s
        )
        requests_tat = max(requests_tat, floor)
    if limits.tokens_per_minute > 0 and remaining_tokens is not None:
        floor = server_floor(limits.tokens_per_minute, limits.burst_seconds, now, remaining_tokens, reset_tokens_s)
        tokens_tat = max(tokens_tat, floor)
    return BucketState(requests_tat, tokens_tat, state.paused_until)


def pause(state: BucketState, now: float, seconds: float) -> BucketState:
    """Pause until ``now + seconds`` unless an existing pause lasts longer."""
    until = max(state.paused_until, now + max(seconds, 0.0))
    return BucketState(state.requests_tat, state.tokens_tat, until)


def remaining_in_minute(limit: int, backlog_s: float) -> int | None:
    """What a server refilling ``limit`` a minute would report as remaining; None when unmetered."""
    if limit <= 0:
        return None
    spent = max(backlog_s - CLOCK_NOISE_S, 0.0) * limit / SECONDS_PER_MINUTE
    return max(math.floor(limit - spent), 0)
