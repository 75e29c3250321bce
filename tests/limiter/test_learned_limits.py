"""Limits learned from the server's x-ratelimit-limit-* headers: probe first, then a share of what it announced."""

from __future__ import annotations

import pytest

from batchrunner.limiter import Learning, MemoryBudget, RedisBudget
from batchrunner.limiter.base import effective_limit
from tests.limiter.conftest import FakeClock, redis_client

LEARNING = Learning(share=0.9, probe_requests_per_minute=60)


@pytest.mark.parametrize(
    ("cap", "learned", "expected"),
    [
        (0, None, 60),  # nothing heard, no cap: probe
        (500, None, 500),  # a cap needs no probe
        (0, 1200, 1080),  # a share of the announced limit
        (500, 1200, 500),  # a cap bounds it
        (0, 0, 0),  # the server announces none: not metered
        (300, 0, 300),
        (0, 1, 1),
    ],
)
def test_the_effective_limit(cap: int, learned: int | None, expected: int) -> None:
    assert effective_limit(cap, learned, 0.9, 60) == expected


def test_before_the_first_answer_only_the_probe_rate_goes(clock: FakeClock) -> None:
    budget = MemoryBudget(0, 0, clock=clock, learning=LEARNING)
    granted = [budget.try_acquire(requests=1).granted for _ in range(5)]
    assert granted == [True, True, False, False, False]  # a 2 s burst of 60 rpm
    budget.learn_server_limits(1200, 90_000)
    assert (budget.limits.requests_per_minute, budget.limits.tokens_per_minute) == (1080, 81_000)
    # The probe's backlog (seconds of budget) stands; a moment later requests go at the learned rate.
    clock.advance(0.5)
    assert sum(budget.try_acquire(requests=1).granted for _ in range(20)) == 9  # 0.5 s at 18 a second


def test_an_answer_without_the_headers_keeps_what_was_heard(clock: FakeClock) -> None:
    budget = MemoryBudget(0, 0, clock=clock, learning=LEARNING)
    budget.learn_server_limits(1200, None)
    budget.learn_server_limits(None, None)
    assert (budget.limits.requests_per_minute, budget.limits.tokens_per_minute) == (1080, 0)
    budget.learn_server_limits(None, 50_000)  # the tokens header arrives later
    assert (budget.limits.requests_per_minute, budget.limits.tokens_per_minute) == (1080, 45_000)


def test_a_server_that_announces_no_limit_is_metered_by_the_caps_alone(clock: FakeClock) -> None:
    unmetered = MemoryBudget(0, 0, clock=clock, learning=LEARNING)
    unmetered.learn_server_limits(None, None)
    assert unmetered.limits.requests_per_minute == 0
    assert all(unmetered.try_acquire(requests=1).granted for _ in range(100))
    capped = MemoryBudget(30, 0, clock=clock, learning=LEARNING)
    capped.learn_server_limits(None, None)
    assert capped.limits.requests_per_minute == 30


def test_without_learning_a_budget_keeps_its_configured_limits(clock: FakeClock) -> None:
    budget = MemoryBudget(0, 0, clock=clock)
    budget.learn_server_limits(1200, 1000)
    assert (budget.limits.requests_per_minute, budget.limits.tokens_per_minute) == (0, 0)


def test_a_new_process_starts_at_the_limits_the_fleet_heard(redis_prefix: str, clock: FakeClock) -> None:
    """What one process heard is in Redis: another process's budget needs no probe."""
    client = redis_client()
    try:
        first = RedisBudget(client, 0, 0, key_prefix=redis_prefix, clock=clock, learning=LEARNING)
        first.learn_server_limits(1200, 90_000)
        second = RedisBudget(client, 0, 0, key_prefix=redis_prefix, clock=clock, learning=LEARNING)
        assert second.limits.requests_per_minute == 60
        assert all(second.try_acquire(requests=1).granted for _ in range(10))  # more than a probe's burst
        assert (second.limits.requests_per_minute, second.limits.tokens_per_minute) == (1080, 81_000)
    finally:
        client.close()
