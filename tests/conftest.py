"""Shared fixtures. Fixture modules live in ``batchrunner.testing`` and are loaded as plugins here."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

from batchrunner.testing.redis_scratch import REDIS_URL, scratch_redis_db

pytest_plugins = ["batchrunner.testing.databases"]


@pytest.fixture(scope="session")
def services_required() -> bool:
    """Under CI (``CI=true``) a test whose service (Postgres, Redis) is down fails instead of skipping."""
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def scratch_redis_url(services_required: bool) -> Iterator[str]:
    """The URL of an empty Redis database of this test's own (skipped without Redis, failed under CI)."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError:
        if services_required:
            pytest.fail(f"Redis is not reachable at {REDIS_URL}")
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    with scratch_redis_db() as url:
        yield url
