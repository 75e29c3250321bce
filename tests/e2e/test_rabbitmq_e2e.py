"""The fleet on a RabbitMQ broker: several worker processes, the budget in Redis, a batch completed.

And a fleet that would have no shared budget (RabbitMQ without BATCHRUNNER_BUDGET_REDIS_URL) refuses
to start instead of metering per process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa

from batchrunner.runtime import unshared_budget_problem
from batchrunner.settings import Settings
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.server import BackgroundSimulator
from batchrunner.testing.checks import check_batch
from batchrunner.testing.processes import WorkerProcess, batchrunner_env, free_port, run_cli, wait_until
from batchrunner.testing.rabbitmq import AMQP_URL, delete_queues, queue_family, rabbitmq_available
from batchrunner.testing.redis_scratch import scratch_redis_db

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "jobs.jsonl"
API_KEY = "sk-e2e-rabbit-0000"


@pytest.fixture
def rabbitmq(services_required: bool) -> Iterator[str]:
    """A queue name of this test's own on the RabbitMQ server, its queues deleted afterwards."""
    if not rabbitmq_available():
        if services_required:
            pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} (or pika is missing)")
        pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL} (or pika is missing)")
    queue_name = f"e2e-{uuid.uuid4().hex[:10]}"
    yield queue_name
    delete_queues(queue_family(queue_name))


def _unfinished(engine: sa.Engine) -> int:
    query = "SELECT count(*) FROM jobs WHERE state NOT IN ('succeeded','failed','cancelled','expired','incomplete')"
    with engine.connect() as conn:
        return int(conn.scalar(sa.text(query)) or 0)


@pytest.mark.e2e
def test_a_batch_completes_on_rabbitmq_with_the_budget_in_redis(
    rabbitmq: str, postgres_url: str, tmp_path: Path
) -> None:
    """Two worker processes on RabbitMQ finish the example batch, one chain per job, metering in Redis."""
    jobs = [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]
    config = SimConfig(seed=9, run_duration_min_s=0.5, run_duration_max_s=1.5)
    with BackgroundSimulator(config) as simulator, scratch_redis_db() as budget_url:
        env = batchrunner_env(
            BATCHRUNNER_DATABASE_URL=postgres_url,
            BATCHRUNNER_BROKER_URL=AMQP_URL,
            BATCHRUNNER_BUDGET_REDIS_URL=budget_url,
            BATCHRUNNER_QUEUE_NAME=rabbitmq,
            BATCHRUNNER_API_BASE_URL=simulator.base_url,
            BATCHRUNNER_METRICS_PORT=str(free_port()),
            BATCHRUNNER_METRICS_DIR=str(tmp_path / "metrics"),
            BATCHRUNNER_SWEEP_INTERVAL_SECONDS="5",
            OPENAI_API_KEY=API_KEY,
        )
        engine = sa.create_engine(postgres_url)
        try:
            with WorkerProcess(env, tmp_path / "worker.log", processes=2, threads=4) as worker:
                enqueued = run_cli(["enqueue", str(EXAMPLES), "--batch", "rabbit"], env)
                assert enqueued.returncode == 0, enqueued.stderr
                wait_until(lambda: _unfinished(engine) == 0, timeout=180, message="every job to finish")
                log_text = worker.log_text()
            stats: dict[str, Any] = httpx.get(simulator.base_url.removesuffix("/v1") + "/_sim/stats").json()
            check_batch(engine, "rabbit", stats, expected_jobs=[job["custom_id"] for job in jobs])
        finally:
            engine.dispose()
        budget_keys = redis.Redis.from_url(budget_url).keys("batchrunner:budget*")
    assert budget_keys, "the workers metered nowhere in Redis: the budget was not the fleet's"
    assert "Traceback" not in log_text and API_KEY not in log_text


def test_a_fleet_without_a_shared_budget_is_refused() -> None:
    """RabbitMQ alone gives the budget nowhere to live; a Redis broker, or a Redis budget URL, does."""
    assert unshared_budget_problem(Settings(broker_url="redis://127.0.0.1:6379/0")) is None
    refusal = unshared_budget_problem(Settings(broker_url=AMQP_URL))
    assert refusal is not None and "BATCHRUNNER_BUDGET_REDIS_URL" in refusal
    shared = Settings(broker_url=AMQP_URL, budget_redis_url="redis://127.0.0.1:6379/3")
    assert unshared_budget_problem(shared) is None
    wrong = unshared_budget_problem(Settings(broker_url=AMQP_URL, budget_redis_url="amqp://elsewhere"))
    assert wrong is not None and "redis://" in wrong


def test_the_worker_refuses_to_start_without_a_shared_budget(postgres_url: str, tmp_path: Path) -> None:
    """`dramatiq batchrunner.worker` on RabbitMQ with no budget Redis exits at once, saying what to set."""
    env = batchrunner_env(
        BATCHRUNNER_DATABASE_URL=postgres_url,
        BATCHRUNNER_BROKER_URL=AMQP_URL,
        BATCHRUNNER_METRICS_DIR=str(tmp_path / "metrics"),
        OPENAI_API_KEY=API_KEY,
    )
    command = [sys.executable, "-m", "dramatiq", "batchrunner.worker", "--processes", "1", "--threads", "1"]
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert finished.returncode != 0
    assert "BATCHRUNNER_BUDGET_REDIS_URL" in finished.stdout + finished.stderr
