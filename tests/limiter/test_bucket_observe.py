"""The pure budget arithmetic: which server observations can change a bucket."""

from __future__ import annotations

import random

from batchrunner.limiter import bucket


def _random_case(rng: random.Random) -> tuple[bucket.BucketState, bucket.Limits, float, int, float | None]:
    limit = rng.choice([60, 600, 3000, 60_000])
    limits = bucket.Limits(limit, 0, rng.choice([1.0, 5.0, 10.0, 60.0]))
    now = 1_700_000_000.0 + rng.uniform(0, 100)
    state = bucket.BucketState(requests_tat=now + rng.uniform(-30, 70))
    remaining = rng.randint(0, limit)
    reset_s = rng.choice([None, rng.uniform(0, 70)])
    return state, limits, now, remaining, reset_s


def test_an_observation_that_does_not_bind_changes_no_decision() -> None:
    """Skipping observations whose floor lies before now admits exactly what applying them would."""
    rng = random.Random(7)
    skipped = applied = 0
    for _ in range(20_000):
        state, limits, now, remaining, reset_s = _random_case(rng)
        observed = bucket.observe(
            state,
            limits,
            now,
            remaining_requests=remaining,
            reset_requests_s=reset_s,
            remaining_tokens=None,
            reset_tokens_s=None,
        )
        if bucket.server_floor_binds(limits.requests_per_minute, limits.burst_seconds, remaining, reset_s):
            applied += 1
            continue
        skipped += 1
        assert bucket.backlog(observed.requests_tat, now) == bucket.backlog(state.requests_tat, now)
        for cost in (1, 2):
            assert bucket.acquire(observed, limits, now, cost, 0)[1] == bucket.acquire(state, limits, now, cost, 0)[1]
    assert skipped > 1_000 and applied > 1_000, "the random cases must exercise both sides"


def test_a_server_with_plenty_left_does_not_bind() -> None:
    """59,000 of 60,000 requests left with a 1 s reset cannot hold a 5 s burst back; 10 left can."""
    assert not bucket.server_floor_binds(60_000, 5.0, 59_000, 1.0)
    assert bucket.server_floor_binds(60_000, 5.0, 10, 1.0)
    assert not bucket.server_floor_binds(0, 5.0, 0, 1.0), "an unmetered resource is never held back"
    assert not bucket.server_floor_binds(600, 5.0, None, 1.0)
