"""The circuit breaker: its transitions, and the fleet's breaker shared through memory or Redis."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchrunner.api.pipeline import RequestRecord
from batchrunner.limiter import breaker_state as transitions
from batchrunner.limiter.breaker import CircuitBreaker, MemoryBreakerStore, RedisBreakerStore
from batchrunner.limiter.breaker_state import CLOSED, BreakerPolicy, BreakerState
from batchrunner.metrics import API_DOWN, API_DOWN_SINCE, API_OUTAGES
from tests.limiter.conftest import CLOCK_START, FakeClock, redis_client

POLICY = BreakerPolicy(failure_threshold=3, probe_requests=2, first_probe_s=5, max_probe_interval_s=40)
NOW = CLOCK_START


def _failures(state: BreakerState, count: int, now: float = NOW, *, sources: int = 2) -> BreakerState:
    for n in range(count):
        state = transitions.failure(state, POLICY, now, f"job-{n % sources}")
    return state


def test_one_sources_failures_alone_never_open_the_breaker() -> None:
    """A job whose own request keeps failing, alone in the fleet, is no outage: its retry bound ends it."""
    alone = _failures(CLOSED, 50, sources=1)
    assert not alone.down and alone.failures == 50
    assert transitions.failure(alone, POLICY, NOW, "another-job").down


def test_failures_in_a_row_open_the_breaker_and_a_success_in_between_resets_them() -> None:
    assert not _failures(CLOSED, 2).down
    assert not _failures(transitions.success(_failures(CLOSED, 2)), 2).down  # one's bad luck never adds up
    opened = _failures(CLOSED, 3)
    assert opened.down and opened.down_since == NOW and opened.probe_at == NOW + 5


def test_while_open_nothing_goes_until_the_probe_time_then_only_the_probes() -> None:
    state = _failures(CLOSED, 3)
    assert transitions.admit(state, POLICY, NOW + 1) == (state, 4.0)
    state, first = transitions.admit(state, POLICY, NOW + 5)
    state, second = transitions.admit(state, POLICY, NOW + 5)
    state, third = transitions.admit(state, POLICY, NOW + 5)
    assert (first, second) == (0.0, 0.0) and third > 0, "only probe_requests requests go as probes"


def test_failed_probes_double_the_wait_up_to_the_cap_and_stragglers_change_nothing() -> None:
    state = _failures(CLOSED, 3)
    assert transitions.failure(state, POLICY, NOW + 1, "job-9") == state  # sent before the breaker opened
    intervals = []
    now = NOW
    for _ in range(5):
        now = state.probe_at
        state, _ = transitions.admit(state, POLICY, now)
        state = transitions.failure(state, POLICY, now, "job-1")
        intervals.append(state.interval)
    assert intervals == [10, 20, 40, 40, 40]
    assert state.down_since == NOW and state.probes_left == POLICY.probe_requests


def test_probes_whose_outcome_never_came_are_given_up_after_their_timeout() -> None:
    state = _failures(CLOSED, 3)
    for _ in range(2):
        state, _ = transitions.admit(state, POLICY, NOW + 5)
    _, wait = transitions.admit(state, POLICY, NOW + 30)
    assert wait > 0
    renewed, wait = transitions.admit(state, POLICY, NOW + 5 + POLICY.probe_timeout_s)
    assert wait == 0.0 and renewed.probes_left == POLICY.probe_requests - 1


StoreFactory = Callable[[], MemoryBreakerStore | RedisBreakerStore]


@pytest.fixture(params=["memory", "redis"])
def shared_store(request: pytest.FixtureRequest) -> StoreFactory:
    """Stores that all see one breaker: the same memory store, or the same Redis key."""
    if request.param == "memory":
        store = MemoryBreakerStore()
        return lambda: store
    prefix: str = request.getfixturevalue("redis_prefix")
    client = redis_client()
    request.addfinalizer(client.close)
    return lambda: RedisBreakerStore(client, f"{prefix}:breaker")


def _record(status: int | None) -> RequestRecord:
    return RequestRecord("/responses", "POST", status, 0.1)


def test_two_processes_share_one_breaker(shared_store: StoreFactory) -> None:
    """Failures seen by two processes add up; both hold back; one probe's answer resumes both."""
    clock = FakeClock()
    first = CircuitBreaker(shared_store(), POLICY, clock=clock, refresh_s=1.0)
    second = CircuitBreaker(shared_store(), POLICY, clock=clock, refresh_s=1.0)
    outages = API_OUTAGES._value.get()
    first.record_failure("job-1", "POST /responses: 503")
    first.observe(_record(503))  # the request hook counts answers only: the processor reports failures
    second.record_failure("job-2", "POST /responses: no answer")
    first.record_failure("job-3", "GET /responses/{response_id}: 502")
    assert first.is_down() and first.admit() == pytest.approx(5.0)
    assert API_OUTAGES._value.get() == outages + 1
    assert API_DOWN._value.get() == 1 and API_DOWN_SINCE._value.get() == clock.now
    clock.advance(1.5)  # the second process's copy is stale now: it asks the store
    assert second.is_down() and second.admit() == pytest.approx(3.5)
    clock.advance(3.5)
    assert [first.admit(), second.admit()] == [0.0, 0.0]  # the two probes of the fleet
    assert first.admit() > 0
    second.observe(_record(429))  # an answer, even a refusal, means the API is up
    assert not second.is_down() and second.admit() == 0.0
    clock.advance(1.5)
    assert not first.is_down() and first.admit() == 0.0
    assert API_DOWN._value.get() == 0 and API_DOWN_SINCE._value.get() == 0


def test_successes_cost_no_round_trip_while_nothing_failed() -> None:
    """A working fleet asks the store about the breaker once per refresh, whatever its request rate."""

    class CountingStore(MemoryBreakerStore):
        reads = updates = 0

        def read(self) -> BreakerState:
            CountingStore.reads += 1
            return super().read()

        def update(self, transition):  # type: ignore[no-untyped-def]
            CountingStore.updates += 1
            return super().update(transition)

    clock = FakeClock()
    breaker = CircuitBreaker(CountingStore(), POLICY, clock=clock, refresh_s=1.0)
    for _ in range(100):
        assert breaker.admit() == 0.0
        breaker.observe(_record(200))
        clock.advance(0.02)
    assert (CountingStore.reads, CountingStore.updates) == (2, 0)
