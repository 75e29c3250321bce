"""What only the Redis budget does: the server's clock, expiring keys, parity with memory, construction."""

from __future__ import annotations

import random

import pytest
import redis

from batchrunner.limiter import Budget, MemoryBudget, RedisBudget, make_budget

from .conftest import FakeClock, redis_client


def test_the_servers_clock_is_used_when_no_clock_is_given(redis_prefix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a clock the budget runs on Redis TIME, so a wildly wrong local clock changes nothing."""
    monkeypatch.setattr("time.time", lambda: 0.0)
    budget = RedisBudget(redis_client(), 60, 0, key_prefix=redis_prefix, burst_seconds=2.5)
    assert [budget.try_acquire().granted for _ in range(4)] == [True, True, True, False]
    assert 0 < budget.try_acquire().wait_seconds <= 0.5 + 0.1
    budget.pause(5)
    assert 4.5 < budget.paused_for() <= 5


def test_the_state_key_expires_once_the_fleet_is_idle(redis_prefix: str, clock: FakeClock) -> None:
    """Keys live only while some budget is owed or a pause runs, so an idle fleet leaves nothing behind."""
    client = redis_client()
    budget = RedisBudget(client, 600, 6000, key_prefix=redis_prefix, clock=clock)
    budget.snapshot()
    assert not client.exists(budget.key)

    budget.try_acquire(tokens=600)  # 6 s of token budget owed
    ttl_ms = client.pttl(budget.key)
    assert 6000 <= ttl_ms <= 6000 + 1000

    clock.advance(6)
    budget.pause(0)
    assert not client.exists(budget.key)
    client.close()


def test_a_pause_keeps_the_key_alive_for_its_length(redis_prefix: str, clock: FakeClock) -> None:
    """A fleet-wide pause outlives idleness: its key expires only after the pause ends."""
    client = redis_client()
    budget = RedisBudget(client, 0, 0, key_prefix=redis_prefix, clock=clock)
    budget.pause(30)
    assert 30_000 <= client.pttl(budget.key) <= 31_000
    client.close()


def _random_operations(budget: Budget, clock: FakeClock, seed: int) -> list[object]:
    rng = random.Random(seed)
    seen: list[object] = []
    for _ in range(400):
        choice = rng.random()
        if choice < 0.6:
            grant = budget.try_acquire(
                requests=rng.randint(0, 2),
                tokens=rng.choice([0, 0, 50, 400, 3000]),
                reserve_share=rng.choice([0.0, 0.0, 0.5]),
            )
            seen.append(grant)
            if grant.reservation is not None and rng.random() < 0.5:
                budget.reconcile(grant.reservation, rng.randint(0, 2 * grant.reservation.tokens))
        elif choice < 0.8:
            clock.advance(rng.uniform(0, 3))
        elif choice < 0.9:
            budget.observe_server_limits(
                remaining_requests=rng.randint(0, 300),
                reset_requests_s=rng.choice([None, rng.uniform(0, 20)]),
                remaining_tokens=rng.randint(0, 40_000),
                reset_tokens_s=rng.choice([None, rng.uniform(0, 20)]),
            )
        elif choice < 0.95:
            budget.pause(rng.uniform(0, 4))
        seen.append(budget.snapshot())
    return seen


def test_the_script_and_the_memory_twin_agree_step_for_step(redis_prefix: str) -> None:
    """The same random mix of operations yields identical grants and snapshots from Lua and from Python."""
    memory_clock, redis_clock = FakeClock(), FakeClock()
    memory = MemoryBudget(300, 40_000, clock=memory_clock)
    in_redis = RedisBudget(redis_client(), 300, 40_000, key_prefix=redis_prefix, clock=redis_clock)
    memory_seen = _random_operations(memory, memory_clock, seed=7)
    redis_seen = _random_operations(in_redis, redis_clock, seed=7)
    assert any(getattr(item, "granted", True) is False for item in memory_seen)
    assert redis_seen == memory_seen


@pytest.mark.parametrize("url", [None, ""])
def test_make_budget_without_a_url_meters_in_memory(url: str | None) -> None:
    """Embedded mode: no URL gives the in-memory twin."""
    budget = make_budget(url, 60, 1000)
    assert isinstance(budget, MemoryBudget)
    assert (budget.requests_per_minute, budget.tokens_per_minute) == (60, 1000)


def test_make_budget_connects_only_when_used() -> None:
    """Building a Redis budget opens no connection; the first use reports an unreachable Redis."""
    budget = make_budget("redis://127.0.0.1:1/0", 60, 0, key_prefix="never")
    assert isinstance(budget, RedisBudget)
    assert budget.key.startswith("never")
    with pytest.raises(redis.ConnectionError):
        budget.try_acquire()


def test_make_budget_rejects_a_non_redis_url_without_echoing_it() -> None:
    """An AMQP broker URL cannot hold the budget; the error names the scheme but not the credentials."""
    with pytest.raises(ValueError, match="amqp") as raised:
        make_budget("amqp://user:s3cret@rabbit:5672/", 60, 0)
    assert "s3cret" not in str(raised.value)
