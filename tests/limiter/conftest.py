"""Fixtures that run the same budget tests on the in-memory twin and on Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Protocol

import pytest
import redis

from batchrunner.limiter import Budget, MemoryBudget, RedisBudget
from batchrunner.testing.redis_scratch import REDIS_URL

# Database 0, which no scratch claim takes (a claimant deletes every key of its database): these tests
# keep to key prefixes of their own there, and delete only those.
LIMITER_REDIS_URL = f"{REDIS_URL}/0"
# An epoch-sized start, so the tests see the float precision production sees.
CLOCK_START = 1_700_000_000.0


class FakeClock:
    """A clock the test moves by hand; every budget built by one test shares it."""

    def __init__(self, start: float = CLOCK_START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class BudgetFactory(Protocol):
    def __call__(self, requests_per_minute: int, tokens_per_minute: int, *, burst_seconds: float = ...) -> Budget: ...


def redis_client() -> redis.Redis:
    return redis.Redis.from_url(LIMITER_REDIS_URL)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A unique key prefix on db 0, its keys deleted afterwards; skips without Redis unless CI=true."""
    client = redis_client()
    try:
        client.ping()
    except redis.ConnectionError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} is required under CI: {error}")
        pytest.skip(f"Redis at {REDIS_URL} is not reachable")
    prefix = f"test:limiter:{uuid.uuid4().hex}"
    try:
        yield prefix
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()


@pytest.fixture(params=["memory", "redis"])
def make_budget(request: pytest.FixtureRequest, clock: FakeClock) -> BudgetFactory:
    """Builds budgets of the parametrised kind, all driven by the test's ``clock``."""
    if request.param == "memory":

        def build_memory(requests_per_minute: int, tokens_per_minute: int, *, burst_seconds: float = 2.0) -> Budget:
            return MemoryBudget(requests_per_minute, tokens_per_minute, clock=clock, burst_seconds=burst_seconds)

        return build_memory
    prefix: str = request.getfixturevalue("redis_prefix")
    client = redis_client()
    request.addfinalizer(client.close)

    def build_redis(requests_per_minute: int, tokens_per_minute: int, *, burst_seconds: float = 2.0) -> Budget:
        return RedisBudget(
            client,
            requests_per_minute,
            tokens_per_minute,
            key_prefix=prefix,
            burst_seconds=burst_seconds,
            clock=clock,
        )

    return build_redis
