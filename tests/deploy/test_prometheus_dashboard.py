"""Every query of the Grafana dashboard returns data from a real Prometheus scraping real workers.

Two isolated fleets (own database, Redis database, simulator and worker) feed one Prometheus: the
"happy" fleet runs examples/jobs.jsonl against a well-behaved simulator; the "troubled" fleet runs a
few jobs against a rate-limited, flaky one, so the panels for 429s, fleet pauses and retries have
data too. Then each panel's expressions are evaluated through Prometheus' HTTP API.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from batchrunner.db.migrate import upgrade
from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.server import BackgroundSimulator
from batchrunner.testing.processes import (
    WorkerProcess,
    batchrunner_env,
    free_port,
    run_cli,
    wait_until,
)
from batchrunner.testing.redis_scratch import REDIS_URL, scratch_redis_db
from tests.deploy.dashboard_queries import iter_targets, load_dashboard, substitute_grafana_variables
from tests.deploy.prometheus_server import PrometheusServer

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "jobs.jsonl"
API_KEY = "sk-dashboard-e2e-not-a-real-key"
HAPPY_API = SimConfig(seed=1, run_duration_min_s=0.3, run_duration_max_s=1.0, poll_after_ms=200)
# Half the requests fail with a 5xx, and the token quota runs out at once: the fleet meters itself at the
# rate limit it learns, so its 429s are insufficient_quota ones (and its batch stops).
TROUBLED_API = SimConfig(
    seed=2,
    run_duration_min_s=0.3,
    run_duration_max_s=1.0,
    poll_after_ms=200,
    rpm=60,
    fault_5xx_rate=0.5,
    quota_tokens=1,
)
TROUBLED_JOBS = 6


BATCH_TIMEOUT_SECONDS = 120
NAN_HINT = "(the series exist but did not increase within the last minute while Prometheus watched)"


@pytest.fixture
def prometheus_binary(services_required: bool) -> str:
    path = shutil.which("prometheus")
    if path is None:
        message = "the prometheus binary is not installed (.ci/system-packages installs Debian's prometheus)"
        if services_required:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def redis_server(services_required: bool) -> None:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        if services_required:
            pytest.fail(f"Redis is not reachable: {error}")
        pytest.skip(f"Redis is not reachable: {error}")
    finally:
        client.close()


@pytest.fixture
def second_postgres_url(empty_postgres_url: str) -> str:
    """A second fresh database at head, for the troubled fleet."""
    upgrade(empty_postgres_url)
    return empty_postgres_url


def _unfinished_jobs(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM jobs"
                    " WHERE state NOT IN ('succeeded','failed','cancelled','expired','incomplete')"
                )
            )
            or 0
        )


def _wait_or_fail(
    condition: Callable[[], bool], *, timeout: float, message: str, logs: list[WorkerProcess | PrometheusServer]
) -> None:
    try:
        wait_until(condition, timeout=timeout, message=message)
    except TimeoutError as error:
        tails = "\n".join(f"--- {type(log).__name__} log tail:\n{log.log_text()[-3000:]}" for log in logs)
        pytest.fail(f"{error}\n{tails}")


def _fleet_env(
    database_url: str, redis_url: str, sim: BackgroundSimulator, metrics_port: int, metrics_dir: Path, **extra: str
) -> dict[str, str]:
    return batchrunner_env(
        BATCHRUNNER_DATABASE_URL=database_url,
        BATCHRUNNER_BROKER_URL=redis_url,
        BATCHRUNNER_API_BASE_URL=sim.base_url,
        BATCHRUNNER_METRICS_PORT=str(metrics_port),
        BATCHRUNNER_METRICS_DIR=str(metrics_dir),
        BATCHRUNNER_SWEEP_INTERVAL_SECONDS="1",
        BATCHRUNNER_ASSISTANTS_FILE=str(EXAMPLES.parent / "assistants.yaml"),
        OPENAI_API_KEY=API_KEY,
        **extra,
    )


def _enqueue(path: Path, batch: str, env: dict[str, str]) -> None:
    result = run_cli(["enqueue", str(path), "--batch", batch], env)
    assert result.returncode == 0, f"enqueue {path.name} failed:\n{result.stdout}\n{result.stderr}"


def _describe(result: list[dict[str, object]]) -> str:
    return ", ".join(f"{row['metric']}={row['value'][1]}" for row in result[:4])  # type: ignore[index]


def test_every_dashboard_query_returns_data(
    prometheus_binary: str, redis_server: None, postgres_url: str, second_postgres_url: str, tmp_path: Path
) -> None:
    """After a batch, each expression of each panel evaluates in Prometheus to a non-empty, numeric result."""
    targets = list(iter_targets(load_dashboard()))
    assert targets
    job_lines = [line for line in EXAMPLES.read_text(encoding="utf-8").splitlines() if line.strip()]
    troubled_file = tmp_path / "troubled.jsonl"
    troubled_file.write_text("\n".join(job_lines[:TROUBLED_JOBS]) + "\n", encoding="utf-8")
    happy_port, troubled_port = free_port(), free_port()
    happy_instance = f"127.0.0.1:{happy_port}"

    with ExitStack() as stack:
        happy_sim = stack.enter_context(BackgroundSimulator(HAPPY_API))
        troubled_sim = stack.enter_context(BackgroundSimulator(TROUBLED_API))
        happy_env = _fleet_env(
            postgres_url,
            stack.enter_context(scratch_redis_db()),
            happy_sim,
            happy_port,
            tmp_path / "metrics-happy",
            # Metered but generous: the budget gauges have values without slowing the batch.
            BATCHRUNNER_REQUESTS_PER_MINUTE="60000",
            BATCHRUNNER_TOKENS_PER_MINUTE="50000000",
            # Streamed runs (the run-streams gauge) come from the Assistants backend; the troubled fleet
            # runs the default, Responses.
            BATCHRUNNER_BACKEND="assistants",
        )
        troubled_env = _fleet_env(
            second_postgres_url,
            stack.enter_context(scratch_redis_db()),
            troubled_sim,
            troubled_port,
            tmp_path / "metrics-troubled",
            BATCHRUNNER_RETRY_MAX_SECONDS="2",
            # Polled, its jobs make enough requests to meet the 5xx faults and run out of quota (streamed,
            # a Responses job costs about one request, and the retry panels would have little to show).
            BATCHRUNNER_MAX_RUN_STREAMS="0",
        )
        prometheus = stack.enter_context(
            PrometheusServer(
                prometheus_binary,
                [happy_instance, f"127.0.0.1:{troubled_port}"],
                tmp_path / "prometheus",
                free_port(),
            )
        )
        happy = stack.enter_context(WorkerProcess(happy_env, tmp_path / "happy-worker.log", threads=4))
        troubled = stack.enter_context(WorkerProcess(troubled_env, tmp_path / "troubled-worker.log", threads=2))
        logs: list[WorkerProcess | PrometheusServer] = [happy, troubled, prometheus]
        _wait_or_fail(
            lambda: prometheus.targets_up() == 2,
            timeout=30,
            message="Prometheus to scrape both workers' metrics endpoints",
            logs=logs,
        )

        _enqueue(troubled_file, "troubled", troubled_env)
        finished = f'sum(batchrunner_runs_finished_total{{instance="{happy_instance}"}})'
        engine = sa.create_engine(postgres_url)
        try:
            # Two batches: Prometheus sees a labelled series only from its first observation on, so a
            # tool whose calls all fell between two scrapes would show no rate; the second batch's do.
            for wave, batch in enumerate(("dashboard", "dashboard-again"), start=1):
                _enqueue(EXAMPLES, batch, happy_env)
                _wait_or_fail(
                    lambda: _unfinished_jobs(engine) == 0,
                    timeout=BATCH_TIMEOUT_SECONDS,
                    message=f"every job of batch {batch} to finish",
                    logs=logs,
                )
                expected_runs = wave * len(job_lines)
                _wait_or_fail(
                    lambda: prometheus.scalar(finished) >= expected_runs,  # noqa: B023
                    timeout=30,
                    message=f"Prometheus to scrape every finished run of batch {batch}",
                    logs=logs,
                )
        finally:
            engine.dispose()
        time.sleep(2.5)  # two more scrapes, so every rate() has its last increase

        failures = []
        for panel, target in targets:
            expr = substitute_grafana_variables(target["expr"])
            where = f"{panel['title']!r} {target['refId']}: {expr}"
            try:
                result = prometheus.query(expr)["result"]
            except ValueError as error:
                failures.append(f"{where}\n    error: {error}")
                continue
            values = [float(row["value"][1]) for row in result]
            if not values:
                failures.append(f"{where}\n    no data")
            elif not any(math.isfinite(value) for value in values):
                failures.append(f"{where}\n    only NaN/Inf: {_describe(result)}\n    {NAN_HINT}")

    assert not failures, f"{len(failures)} of {len(targets)} dashboard queries failed:\n" + "\n".join(failures)
