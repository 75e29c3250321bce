"""Behaviour every budget has, run on the in-memory twin and on Redis alike."""

from __future__ import annotations

import math

import pytest

from batchrunner.limiter import Budget, Reservation

from .conftest import BudgetFactory, FakeClock

TOLERANCE_S = 1e-3


def burst_size(budget: Budget, per_minute: int, cost: int = 1) -> int:
    """How many requests of ``cost`` an idle bucket admits at once: one per unit of backlog under the burst."""
    return math.ceil(budget.limits.burst_seconds * per_minute / 60 / cost)


def grant_until_refused(
    budget: Budget, *, requests: int = 1, tokens: int = 0, reserve_share: float = 0.0, limit: int = 100_000
) -> int:
    for count in range(limit):
        if not budget.try_acquire(requests=requests, tokens=tokens, reserve_share=reserve_share).granted:
            return count
    raise AssertionError("the budget never refused")


def test_grants_up_to_the_burst_then_refuses_with_the_exact_wait(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """An idle budget admits burst_seconds' worth of requests, then names the wait until the next one fits."""
    budget = make_budget(60, 0, burst_seconds=2.5)
    granted = grant_until_refused(budget)
    assert granted == burst_size(budget, 60) == 3

    refusal = budget.try_acquire()
    assert refusal.reason == "requests"
    assert refusal.reservation is None
    # Three requests put the fleet 3 s ahead of one a second; the next fits once under 2.5 s again.
    assert refusal.wait_seconds == pytest.approx(0.5, abs=TOLERANCE_S)

    clock.advance(refusal.wait_seconds / 2)
    assert budget.try_acquire().wait_seconds == pytest.approx(refusal.wait_seconds / 2, abs=TOLERANCE_S)
    clock.advance(refusal.wait_seconds / 2)
    assert budget.try_acquire().granted


@pytest.mark.parametrize(("requests_per_minute", "tokens_per_minute", "tokens"), [(600, 0, 0), (0, 60_000, 500)])
def test_long_run_rate_equals_the_limit(
    make_budget: BudgetFactory,
    clock: FakeClock,
    requests_per_minute: int,
    tokens_per_minute: int,
    tokens: int,
) -> None:
    """A greedy client that retries after every wait gets the configured rate over three simulated minutes."""
    budget = make_budget(requests_per_minute, tokens_per_minute)
    end = clock.now + 180
    units = 0
    while clock.now < end:
        grant = budget.try_acquire(tokens=tokens)
        if grant.granted:
            units += tokens or 1
        else:
            clock.advance(grant.wait_seconds)
    expected = 3 * (requests_per_minute or tokens_per_minute)
    assert abs(units - expected) <= 0.02 * expected


def test_a_refusal_for_tokens_consumes_no_request(make_budget: BudgetFactory) -> None:
    """Requests and tokens are taken together or not at all."""
    budget = make_budget(60, 600, burst_seconds=2.5)
    assert budget.try_acquire(tokens=100).granted
    for _ in range(5):
        assert budget.try_acquire(tokens=10).reason == "tokens"
    assert grant_until_refused(budget) == burst_size(budget, 60) - 1


def test_a_refusal_for_requests_consumes_no_tokens(make_budget: BudgetFactory) -> None:
    """A request refused for lack of requests leaves the token bucket as it was."""
    budget = make_budget(60, 600, burst_seconds=2.5)
    before = budget.snapshot().remaining_tokens
    assert grant_until_refused(budget) == burst_size(budget, 60)
    for _ in range(5):
        assert budget.try_acquire(tokens=10).reason == "requests"
    assert budget.snapshot().remaining_tokens == before


def test_a_grant_reserves_its_tokens(make_budget: BudgetFactory) -> None:
    """A grant carries a reservation of exactly the tokens it took, and none when it took no tokens."""
    budget = make_budget(600, 6000)
    assert budget.try_acquire(tokens=120).reservation == Reservation(tokens=120)
    assert budget.try_acquire().reservation is None
    assert budget.snapshot().remaining_tokens == 6000 - 120


def test_reconcile_returns_unused_tokens(make_budget: BudgetFactory) -> None:
    """Tokens estimated but not used go back to the budget at once."""
    budget = make_budget(0, 600)
    grant = budget.try_acquire(tokens=100)
    assert grant.reservation is not None
    assert budget.try_acquire(tokens=1).reason == "tokens"

    budget.reconcile(grant.reservation, actual_tokens=10)
    assert budget.snapshot().remaining_tokens == 600 - 10
    assert budget.try_acquire(tokens=1).granted


def test_reconcile_charges_an_overrun(make_budget: BudgetFactory) -> None:
    """Tokens used beyond the estimate are charged and delay the next request accordingly."""
    budget = make_budget(0, 600)
    grant = budget.try_acquire(tokens=10)
    assert grant.reservation is not None

    budget.reconcile(grant.reservation, actual_tokens=100)
    assert budget.snapshot().remaining_tokens == 600 - 100
    refusal = budget.try_acquire(tokens=1)
    # 100 tokens at 10 a second are 10 s of budget, 2 s of which is the burst.
    assert refusal.reason == "tokens"
    assert refusal.wait_seconds == pytest.approx(10 - 2, abs=TOLERANCE_S)


def test_returned_tokens_never_fill_the_bucket_past_full(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """Reconciling an old estimate after the bucket refilled gives no extra burst."""
    # 20.5 tokens of burst: a count well clear of a boundary that float rounding could tip.
    budget = make_budget(0, 600, burst_seconds=2.05)
    grant = budget.try_acquire(tokens=100)
    assert grant.reservation is not None
    clock.advance(60)

    budget.reconcile(grant.reservation, actual_tokens=0)
    assert budget.snapshot().remaining_tokens == 600
    assert grant_until_refused(budget, requests=0, tokens=1) == burst_size(budget, 600)


def test_pause_refuses_everything_until_it_ends(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """After a 429 every acquire waits out the pause, however much budget is left."""
    budget = make_budget(600, 60_000)
    budget.pause(5)
    refusal = budget.try_acquire(requests=0, tokens=0)
    assert (refusal.granted, refusal.reason) == (False, "paused")
    assert refusal.wait_seconds == pytest.approx(5, abs=TOLERANCE_S)

    clock.advance(4)
    assert budget.paused_for() == pytest.approx(1, abs=TOLERANCE_S)
    assert budget.try_acquire(tokens=100).reason == "paused"
    clock.advance(1)
    assert budget.paused_for() == 0
    assert budget.try_acquire(tokens=100).granted


def test_a_shorter_later_pause_does_not_shorten_the_pause(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """Pauses keep the latest end: a short pause inside a long one changes nothing, a longer one extends it."""
    budget = make_budget(600, 0)
    budget.pause(10)
    clock.advance(1)
    budget.pause(2)
    assert budget.paused_for() == pytest.approx(9, abs=TOLERANCE_S)
    budget.pause(30)
    assert budget.snapshot().paused_for == pytest.approx(30, abs=TOLERANCE_S)


def test_the_wait_covers_both_the_pause_and_the_budget(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """A refusal waits for whichever of the pause and the spent budget ends last."""
    budget = make_budget(60, 0)
    grant_until_refused(budget)
    budget.pause(0.5)
    # Two requests at one a second put the fleet 2 s ahead, exactly the burst: the budget is
    # free at once, so the pause is what binds.
    assert budget.try_acquire().reason == "paused"
    clock.advance(0.5)
    assert budget.try_acquire().granted
    refusal = budget.try_acquire()
    assert refusal.reason == "requests"
    assert refusal.wait_seconds == pytest.approx(0.5, abs=TOLERANCE_S)


def test_observe_server_limits_lowers_our_view_until_the_reset(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """When the server reports nothing left, requests wait for the server's reset."""
    budget = make_budget(600, 0)
    before = budget.snapshot().remaining_requests
    budget.observe_server_limits(remaining_requests=0, reset_requests_s=5, remaining_tokens=None, reset_tokens_s=None)
    after = budget.snapshot().remaining_requests
    assert before is not None and after is not None and after < before

    refusal = budget.try_acquire()
    assert refusal.reason == "requests"
    assert refusal.wait_seconds == pytest.approx(5, abs=TOLERANCE_S)
    clock.advance(refusal.wait_seconds)
    assert budget.try_acquire().granted


def test_observe_server_limits_admits_no_more_than_the_server_has_left(
    make_budget: BudgetFactory, clock: FakeClock
) -> None:
    """With 30 requests left for 10 s, no more than about 30 are admitted before the reset."""
    budget = make_budget(600, 0)
    budget.observe_server_limits(remaining_requests=30, reset_requests_s=10, remaining_tokens=None, reset_tokens_s=None)
    end = clock.now + 10
    granted = 0
    while True:
        grant = budget.try_acquire()
        if grant.granted:
            granted += 1
        elif clock.now + grant.wait_seconds >= end:
            break
        else:
            clock.advance(grant.wait_seconds)
    assert 30 <= granted <= 31


def test_observe_server_limits_for_tokens_leaves_requests_alone(make_budget: BudgetFactory) -> None:
    """A server out of tokens holds back token-carrying requests only."""
    budget = make_budget(600, 60_000)
    budget.observe_server_limits(remaining_requests=None, reset_requests_s=None, remaining_tokens=0, reset_tokens_s=3)
    refusal = budget.try_acquire(tokens=100)
    assert refusal.reason == "tokens"
    assert refusal.wait_seconds == pytest.approx(3, abs=TOLERANCE_S)
    assert budget.try_acquire(tokens=0).granted


def test_observe_server_limits_ignores_a_server_with_more_left(make_budget: BudgetFactory) -> None:
    """A server reporting more than we think left never raises our budget."""
    budget = make_budget(60, 0)
    budget.try_acquire()
    before = budget.snapshot()
    budget.observe_server_limits(remaining_requests=60, reset_requests_s=0.5, remaining_tokens=10**6, reset_tokens_s=1)
    assert budget.snapshot() == before
    assert grant_until_refused(budget) == burst_size(budget, 60) - 1


def test_observe_server_limits_without_a_reset_assumes_a_continuous_refill(
    make_budget: BudgetFactory,
) -> None:
    """No reset header: an empty server is assumed to refill over a whole minute."""
    budget = make_budget(600, 0)
    budget.observe_server_limits(
        remaining_requests=0, reset_requests_s=None, remaining_tokens=None, reset_tokens_s=None
    )
    assert budget.try_acquire().wait_seconds == pytest.approx(60, abs=TOLERANCE_S)


def test_zero_limits_are_unlimited_but_still_pause(make_budget: BudgetFactory) -> None:
    """A limit of 0 meters nothing, yet a 429 pause still holds everyone back."""
    budget = make_budget(0, 0)
    assert all(budget.try_acquire(requests=5, tokens=10**6).granted for _ in range(500))
    assert budget.snapshot().remaining_requests is None
    assert budget.snapshot().remaining_tokens is None
    budget.observe_server_limits(remaining_requests=0, reset_requests_s=9, remaining_tokens=0, reset_tokens_s=9)
    assert budget.try_acquire(tokens=10).granted

    budget.pause(3)
    refusal = budget.try_acquire()
    assert (refusal.granted, refusal.reason) == (False, "paused")
    assert refusal.wait_seconds == pytest.approx(3, abs=TOLERANCE_S)


def test_a_request_larger_than_the_burst_is_admitted_into_debt(make_budget: BudgetFactory) -> None:
    """An estimate bigger than the burst is not starved: it is admitted and later requests wait it out."""
    budget = make_budget(0, 6000)
    assert budget.try_acquire(tokens=1000).granted
    refusal = budget.try_acquire(tokens=1)
    # 1000 tokens at 100 a second are 10 s of budget; the burst covers 2 s of them.
    assert refusal.wait_seconds == pytest.approx(8, abs=TOLERANCE_S)


def test_snapshot_reports_the_minute_as_a_server_would(make_budget: BudgetFactory, clock: FakeClock) -> None:
    """Remaining counts drop with each grant and recover at the configured rate."""
    budget = make_budget(600, 6000)
    assert budget.snapshot().remaining_requests == 600
    assert all(budget.try_acquire(tokens=10).granted for _ in range(10))
    snapshot = budget.snapshot()
    assert (snapshot.remaining_requests, snapshot.remaining_tokens, snapshot.paused_for) == (590, 5900, 0)
    clock.advance(0.5)
    assert budget.snapshot().remaining_requests == 595


@pytest.mark.parametrize(("requests", "tokens"), [(-1, 0), (1, -5)])
def test_negative_amounts_are_rejected(make_budget: BudgetFactory, requests: int, tokens: int) -> None:
    """Asking for a negative amount is a programming error, not a grant."""
    budget = make_budget(60, 600)
    with pytest.raises(ValueError):
        budget.try_acquire(requests=requests, tokens=tokens)


@pytest.mark.parametrize(("requests_per_minute", "burst_seconds"), [(-1, 2.0), (60, 0.0), (60, 61.0)])
def test_invalid_configuration_is_rejected(
    make_budget: BudgetFactory, requests_per_minute: int, burst_seconds: float
) -> None:
    """Negative limits and bursts outside (0, 60] s fail at construction."""
    with pytest.raises(ValueError):
        make_budget(requests_per_minute, 0, burst_seconds=burst_seconds)


def test_a_reserve_leaves_part_of_the_burst_to_requests_without_one(
    make_budget: BudgetFactory, clock: FakeClock
) -> None:
    """Requests asking for a reserve stop at its edge; requests without one still get the rest at once."""
    # One request every 0.1 s; the reserving edge is at 1.025 s of backlog, the burst at 2.05 s.
    budget = make_budget(600, 0, burst_seconds=2.05)
    assert grant_until_refused(budget, reserve_share=0.5) == 11
    assert grant_until_refused(budget) == 10
    # Twenty-one requests put the fleet 2.1 s ahead; a reserving one fits once under 1.025 s again.
    refusal = budget.try_acquire(reserve_share=0.5)
    assert refusal.reason == "requests"
    assert refusal.wait_seconds == pytest.approx(1.075, abs=TOLERANCE_S)

    clock.advance(0.1)
    assert not budget.try_acquire(reserve_share=0.5).granted
    assert budget.try_acquire().granted


def test_an_out_of_range_reserve_is_rejected(make_budget: BudgetFactory) -> None:
    budget = make_budget(60, 0)
    with pytest.raises(ValueError, match="reserve_share"):
        budget.try_acquire(reserve_share=1.0)
