"""Shared fixtures. Fixture modules live in ``batchrunner.testing`` and are loaded as plugins here."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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
    with _child_server(command, f"http://127.0.0.1:{port}/health", tmp_path / "fakeai.log", "FakeAI"):
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def _child_server(command: list[str], probe_url: str, log_path: Path, name: str) -> Iterator[None]:
    """Run ``command`` (a server) as a child process, logging to ``log_path``, until ``probe_url`` answers."""
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:

            def answers() -> bool:
                try:
                    return httpx.get(probe_url, timeout=1).status_code < 500
                except httpx.HTTPError:
                    return False

            wait_until(answers, timeout=60, message=f"{name} to answer")
            yield
        finally:
            process.terminate()
            process.wait(timeout=10)


# aimock (npm ``@copilotkit/aimock``, MIT): an OpenAI API mock nobody here wrote whose Files and Batch API
# run /v1/responses batches. Installed once per machine from the npm registry into the user's cache.
AIMOCK_PACKAGE = "@copilotkit/aimock@1.43.0"


def _aimock_cli(services_required: bool) -> Path:
    override = os.environ.get("AIMOCK_CLI_PATH")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "batchrunner-tests" / "aimock-1.43.0"
    cli = cache / "node_modules" / "@copilotkit" / "aimock" / "dist" / "cli.js"
    if cli.exists():
        return cli
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        message = f"aimock needs Node.js >= 20.15 and npm ({', '.join(missing)} not found)"
        pytest.fail(message) if services_required else pytest.skip(message)
    cache.mkdir(parents=True, exist_ok=True)
    installed = subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(cache), AIMOCK_PACKAGE],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if installed.returncode != 0 or not cli.exists():
        message = f"npm install {AIMOCK_PACKAGE} failed: {installed.stderr[-2000:]}"
        pytest.fail(message) if services_required else pytest.skip(message)
    return cli


@pytest.fixture
def aimock_url(services_required: bool, tmp_path: Path) -> Iterator[str]:
    """The /v1 URL of an aimock server in a child process (its state is its own: one per test)."""
    cli = _aimock_cli(services_required)
    port = free_port()
    fixtures = tmp_path / "aimock-fixtures"
    fixtures.mkdir()
    command = ["node", str(cli), "--port", str(port), "--host", "127.0.0.1", "--fixtures", str(fixtures)]
    command += ["--log-level", "warn"]
    with _child_server(command, f"http://127.0.0.1:{port}/v1/batches", tmp_path / "aimock.log", "aimock"):
        yield f"http://127.0.0.1:{port}/v1"
