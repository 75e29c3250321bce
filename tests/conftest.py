"""Shared fixtures. Fixture modules live in ``batchrunner.testing`` and are loaded as plugins here."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from batchrunner.testing.processes import free_port, wait_until
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


@pytest.fixture
def fakeai_url(services_required: bool, tmp_path: Path) -> Iterator[str]:
    """The /v1 URL of FakeAI (PyPI ``fakeai``, a Responses server nobody here wrote) in a child process."""
    if importlib.util.find_spec("fakeai") is None:
        if services_required:
            pytest.fail("fakeai is not installed (it comes with the test extra)")
        pytest.skip("fakeai is not installed")
    port = free_port()
    log = (tmp_path / "fakeai.log").open("w")
    command = [
        sys.executable,
        "-m",
        "fakeai",
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--response-delay",
        "0",
        "--no-random-delay",
    ]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code < 500
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=60, message="FakeAI to answer")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
