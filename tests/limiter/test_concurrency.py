"""Many threads and processes drawing from one budget never get more than it holds."""

from __future__ import annotations

import math
import multiprocessing
import threading
import time
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

import pytest

from batchrunner.limiter import Budget, MemoryBudget, RedisBudget

from .conftest import CLOCK_START, BudgetFactory, redis_client

THREADS = 8
# 205.5 units of burst at these rates: a count well clear of a boundary that float rounding could tip.
BURST_SECONDS = 2.055
REQUESTS_PER_MINUTE = 6000


def hammer(budget: Budget, *, threads: int, attempts: int, tokens: int = 0) -> int:
    """Grants won by ``threads`` threads each trying ``attempts`` times, all released at once."""
    start = threading.Barrier(threads)
    granted = [0] * threads

    def work(index: int) -> None:
        start.wait()
        granted[index] = sum(budget.try_acquire(tokens=tokens).granted for _ in range(attempts))

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(granted)


@pytest.mark.parametrize(("requests_per_minute", "tokens_per_minute", "tokens"), [(6000, 0, 0), (0, 60_000, 10)])
def test_threads_get_exactly_the_burst_at_a_frozen_instant(
    make_budget: BudgetFactory, requests_per_minute: int, tokens_per_minute: int, tokens: int
) -> None:
    """Eight threads racing at one instant win exactly the burst between them, no more."""
    budget = make_budget(requests_per_minute, tokens_per_minute, burst_seconds=BURST_SECONDS)
    per_second = (requests_per_minute or tokens_per_minute / tokens) / 60
    expected = math.ceil(BURST_SECONDS * per_second)
    assert hammer(budget, threads=THREADS, attempts=60, tokens=tokens) == expected


@pytest.fixture(params=["memory", "redis"])
def real_clock_budget(request: pytest.FixtureRequest) -> Budget:
    """A budget on real time: the process clock in memory, the server's clock in Redis."""
    if request.param == "memory":
        return MemoryBudget(REQUESTS_PER_MINUTE, 0, burst_seconds=BURST_SECONDS)
    prefix: str = request.getfixturevalue("redis_prefix")
    client = redis_client()
    request.addfinalizer(client.close)
    return RedisBudget(client, REQUESTS_PER_MINUTE, 0, key_prefix=prefix, burst_seconds=BURST_SECONDS)


def test_threads_on_a_real_clock_stay_within_the_rate(real_clock_budget: Budget) -> None:
    """While time runs, racing threads win the burst plus the rate times the elapsed time, at most."""
    started = time.monotonic()
    granted = hammer(real_clock_budget, threads=THREADS, attempts=150)
    elapsed = time.monotonic() - started
    per_second = REQUESTS_PER_MINUTE / 60
    burst = math.ceil(BURST_SECONDS * per_second)
    assert burst <= granted <= burst + math.ceil(elapsed * per_second) + 1


def _hammer_in_process(prefix: str, now: float, start: Barrier, results: Queue[int]) -> None:
    client = redis_client()
    budget = RedisBudget(
        client, REQUESTS_PER_MINUTE, 0, key_prefix=prefix, burst_seconds=BURST_SECONDS, clock=lambda: now
    )
    start.wait()
    results.put(hammer(budget, threads=4, attempts=30))
    client.close()


def test_processes_share_one_redis_budget(redis_prefix: str) -> None:
    """Two processes of four threads each win exactly the burst between them, as one fleet."""
    burst = math.ceil(BURST_SECONDS * REQUESTS_PER_MINUTE / 60)
    # Each process alone tries fewer times than the burst, both together more: only a shared,
    # atomic budget ends at exactly the burst.
    assert 4 * 30 < burst < 2 * 4 * 30
    context = multiprocessing.get_context("fork")
    start = context.Barrier(2)
    results: Queue[int] = context.Queue()
    processes = [
        context.Process(target=_hammer_in_process, args=(redis_prefix, CLOCK_START, start, results)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    totals = [results.get(timeout=30) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    assert sum(totals) == burst


def test_budgets_built_separately_on_one_key_are_one_budget(redis_prefix: str) -> None:
    """Budget objects on different connections but the same key prefix draw from the same bucket."""
    clients = [redis_client(), redis_client()]
    now: Callable[[], float] = lambda: CLOCK_START  # noqa: E731
    budgets = [
        RedisBudget(client, REQUESTS_PER_MINUTE, 0, key_prefix=redis_prefix, burst_seconds=BURST_SECONDS, clock=now)
        for client in clients
    ]
    granted = 0
    for _ in range(300):
        granted += sum(budget.try_acquire().granted for budget in budgets)
    assert granted == math.ceil(BURST_SECONDS * REQUESTS_PER_MINUTE / 60)
    for client in clients:
        client.close()
