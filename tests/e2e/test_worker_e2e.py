"""End to end: a real Dramatiq worker (Redis broker, Postgres) against the simulator over HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from batchrunner.simulator.config import SimConfig
from batchrunner.simulator.server import BackgroundSimulator
from batchrunner.testing.checks import check_batch
from batchrunner.testing.processes import (
    WorkerProcess,
    batchrunner_env,
    free_port,
    run_cli,
    wait_until,
)
from batchrunner.testing.redis_scratch import scratch_redis_db

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples" / "jobs.jsonl"
API_KEY = "sk-e2e-secret-key-do-not-leak-4242"
TOOL_ASSISTANTS = {"asst_math", "asst_clock", "asst_analyst"}


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    config = SimConfig(seed=7, run_duration_min_s=0.5, run_duration_max_s=1.5, poll_after_ms=250)
    with BackgroundSimulator(config) as sim:
        yield sim


@pytest.fixture
def environment(postgres_url: str, simulator: BackgroundSimulator, tmp_path: Path) -> Iterator[dict[str, str]]:
    with scratch_redis_db() as redis_url:
        yield batchrunner_env(
            BATCHRUNNER_DATABASE_URL=postgres_url,
            BATCHRUNNER_BROKER_URL=redis_url,
            BATCHRUNNER_API_BASE_URL=simulator.base_url,
            BATCHRUNNER_METRICS_PORT=str(free_port()),
            BATCHRUNNER_METRICS_DIR=str(tmp_path / "metrics"),
            BATCHRUNNER_SWEEP_INTERVAL_SECONDS="5",
            OPENAI_API_KEY=API_KEY,
        )


def _assert_records_match_the_api(engine: sa.Engine, base_url: str) -> None:
    """Every run's stored steps and messages are the ones the API lists now (ids, statuses, usage, text)."""
    headers = {"Authorization": f"Bearer {API_KEY}", "OpenAI-Beta": "assistants=v2"}
    with engine.connect() as conn, httpx.Client(base_url=base_url, headers=headers) as api:
        runs = conn.execute(sa.text("SELECT id, api_id, container_id FROM api_objects")).all()
        assert runs
        for run_pk, run_id, thread_id in runs:
            listed_steps = api.get(f"/threads/{thread_id}/runs/{run_id}/steps", params={"order": "asc"}).json()
            stored_steps = conn.execute(
                sa.text(
                    "SELECT api_step_id, status, total_tokens FROM assistant_run_steps WHERE object_pk = :pk"
                    " ORDER BY api_step_id"
                ),
                {"pk": run_pk},
            ).all()
            expected_steps = sorted(
                (step["id"], step["status"], (step.get("usage") or {}).get("total_tokens"))
                for step in listed_steps["data"]
            )
            assert [tuple(row) for row in stored_steps] == expected_steps, run_id
            listed = api.get(f"/threads/{thread_id}/messages", params={"run_id": run_id, "order": "asc"}).json()
            stored = conn.execute(
                sa.text(
                    "SELECT api_message_id, content_text FROM messages WHERE object_pk = :pk ORDER BY api_message_id"
                ),
                {"pk": run_pk},
            ).all()
            expected = sorted(
                (m["id"], "".join(part["text"]["value"] for part in m["content"] if part["type"] == "text"))
                for m in listed["data"]
                if m["role"] == "assistant"
            )
            assert [tuple(row) for row in stored] == expected, run_id


def _jobs_file() -> list[dict[str, Any]]:
    return [json.loads(line) for line in EXAMPLES.read_text().splitlines() if line.strip()]


def _unfinished(engine: sa.Engine) -> int:
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


def test_worker_completes_example_batch_on_the_responses_backend(
    environment: dict[str, str], simulator: BackgroundSimulator, postgres_url: str, tmp_path: Path
) -> None:
    """On the default backend every example job succeeds with one response chain, tool rounds answered."""
    jobs = _jobs_file()
    engine = sa.create_engine(postgres_url)
    with WorkerProcess(environment, tmp_path / "worker.log", threads=4) as worker:
        enqueued = run_cli(["enqueue", str(EXAMPLES), "--batch", "e2e-responses"], environment)
        assert enqueued.returncode == 0, enqueued.stderr
        wait_until(lambda: _unfinished(engine) == 0, timeout=120, message="every job to finish")
        log_text = worker.log_text()
    stats = httpx.get(simulator.base_url.removesuffix("/v1") + "/_sim/stats").json()
    records = check_batch(engine, "e2e-responses", stats, expected_jobs=[job["custom_id"] for job in jobs])
    assert {run.backend for run in records.runs} == {"responses"}
    tool_jobs = {job["custom_id"] for job in jobs if job["assistant_id"] in TOOL_ASSISTANTS}
    rounds = {run.custom_id for run in records.runs if run.round > 0}
    assert rounds == tool_jobs  # exactly the tool jobs chained a second response
    assert stats["runs_created"] == 0 and len(stats["response_chains_by_job_key"]) == len(jobs)
    with engine.connect() as conn:
        by_model: dict[str, int] = dict(
            conn.execute(sa.text("SELECT model, sum(total_tokens) FROM usage_by_model GROUP BY model")).all()
        )
        sums: dict[str, int] = dict(
            conn.execute(sa.text("SELECT model, sum(total_tokens) FROM api_objects GROUP BY model")).all()
        )
        job_sums = conn.execute(
            sa.text(
                "SELECT count(*) FROM jobs j WHERE j.total_tokens <>"
                " (SELECT sum(o.total_tokens) FROM api_objects o WHERE o.job_id = j.id)"
            )
        ).scalar()
    assert by_model == sums and sum(sums.values()) > 0 and job_sums == 0
    assert API_KEY not in log_text
    engine.dispose()


def test_worker_completes_example_batch_with_complete_records(
    environment: dict[str, str], simulator: BackgroundSimulator, postgres_url: str, tmp_path: Path
) -> None:
    """On the Assistants backend every example job succeeds once, with runs, steps, usage, tool calls, messages."""
    environment = {**environment, "BATCHRUNNER_BACKEND": "assistants"}
    jobs = _jobs_file()
    engine = sa.create_engine(postgres_url)
    with WorkerProcess(environment, tmp_path / "worker.log", threads=4) as worker:
        enqueued = run_cli(["enqueue", str(EXAMPLES), "--batch", "e2e"], environment)
        assert enqueued.returncode == 0, enqueued.stderr
        assert f"{len(jobs)} new jobs" in enqueued.stdout
        wait_until(lambda: _unfinished(engine) == 0, timeout=120, message="every job to finish")
        again = run_cli(["enqueue", str(EXAMPLES), "--batch", "e2e"], environment)
        assert again.returncode == 0, again.stderr
        assert "0 new jobs" in again.stdout
        log_text = worker.log_text()

    with engine.connect() as conn:
        states: dict[str, str] = dict(conn.execute(sa.text("SELECT custom_id, state FROM jobs")).all())
        assert states == {job["custom_id"]: "succeeded" for job in jobs}
        runs = conn.execute(
            sa.text(
                "SELECT j.custom_id, j.assistant_id, r.id, r.status, r.prompt_tokens, r.completion_tokens,"
                " r.total_tokens, r.model FROM api_objects r JOIN jobs j ON j.id = r.job_id"
            )
        ).all()
        assert len(runs) == len(jobs)
        for custom_id, assistant_id, run_pk, status, prompt, completion, total, model in runs:
            assert status == "completed", custom_id
            assert prompt > 0 and completion > 0 and total == prompt + completion, custom_id
            assert model, custom_id
            steps = conn.execute(
                sa.text("SELECT type, total_tokens FROM assistant_run_steps WHERE object_pk = :pk"), {"pk": run_pk}
            ).all()
            assert "message_creation" in {step.type for step in steps}, custom_id
            assert sum(step.total_tokens or 0 for step in steps) == total, custom_id
            tools = conn.execute(
                sa.text("SELECT name, outcome, output FROM tool_invocations WHERE object_pk = :pk"), {"pk": run_pk}
            ).all()
            if assistant_id in TOOL_ASSISTANTS:
                assert "tool_calls" in {step.type for step in steps}, custom_id
                assert tools and all(tool.outcome == "ok" and tool.output for tool in tools), custom_id
            else:
                assert tools == [], custom_id
            messages = conn.execute(
                sa.text("SELECT role, content_text FROM messages WHERE object_pk = :pk"), {"pk": run_pk}
            ).all()
            assert messages and all(m.role == "assistant" and m.content_text for m in messages), custom_id

        by_model: dict[str, int] = dict(
            conn.execute(sa.text("SELECT model, sum(total_tokens) FROM usage_by_model GROUP BY model")).all()
        )
        sums: dict[str, int] = dict(
            conn.execute(sa.text("SELECT model, sum(total_tokens) FROM api_objects GROUP BY model")).all()
        )
        assert by_model == sums and sum(sums.values()) > 0
        outputs = conn.execute(sa.text("SELECT count(*) FROM jobs WHERE output_text IS NULL")).scalar()
        assert outputs == 0

    stats = httpx.get(simulator.base_url.removesuffix("/v1") + "/_sim/stats").json()
    assert stats["runs_created"] == len(jobs)
    assert len(stats["runs_by_job_key"]) == len(jobs)
    assert set(stats["runs_by_job_key"].values()) == {1}
    # Runs are streamed, every tool round's answer too, in the one worker process: each run, its steps and
    # messages are recorded from its streams' events, so no run is retrieved and nothing is listed.
    requests = stats["requests"]
    for route in (
        "GET /v1/threads/{thread_id}/runs/{run_id}",
        "GET /v1/threads/{thread_id}/runs/{run_id}/steps",
        "GET /v1/threads/{thread_id}/messages",
    ):
        assert sum(requests.get(route, {}).values()) == 0, (route, requests)
    _assert_records_match_the_api(engine, simulator.base_url)
    assert API_KEY not in log_text

    results = run_cli(["results", "e2e"], environment)
    assert results.returncode == 0, results.stderr
    lines = [json.loads(line) for line in results.stdout.splitlines()]
    assert [line["custom_id"] for line in lines] == [job["custom_id"] for job in jobs]
    assert all(line["status"] == "succeeded" and line["output"] and line["usage"]["total_tokens"] > 0 for line in lines)
