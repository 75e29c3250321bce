"""Scenario 8: `batchrunner cancel` in the middle of a batch of long runs, then `batchrunner retry`."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch, job_keys_in_stats, load_records
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.processes import wait_until
from tests.crash.conftest import MakeStack
from tests.crash.fleet import CrashStack

pytestmark = pytest.mark.crash

BATCH = "cancel-retry"
JOBS = 30


def _running(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM jobs WHERE state IN ('running', 'requires_action')")) or 0)


def _api_run_status(stack: CrashStack, thread_id: str, run_id: str) -> str:
    response = httpx.get(
        f"{stack.simulator.base_url}/threads/{thread_id}/runs/{run_id}",
        headers={"OpenAI-Beta": "assistants=v2"},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["status"])


def _thread_of(engine: sa.Engine, api_run_id: str) -> str:
    with engine.connect() as conn:
        return str(conn.scalar(sa.text("SELECT container_id FROM api_objects WHERE api_id = :id"), {"id": api_run_id}))


def test_cancel_stops_pending_and_in_flight_jobs_and_retry_reruns_them(make_stack: MakeStack) -> None:
    """Cancel ends every job cancelled (in-flight runs cancelled at the API); retry gives each a new successful run."""
    stack = make_stack(SimConfig(seed=808, run_duration_min_s=5.0, run_duration_max_s=8.0, poll_after_ms=200))
    jobs = generate_jobs(JOBS, tool_share=0.2, shared_thread_jobs=3, seed=808)
    stack.supervise(processes=1, threads=4)
    stack.enqueue(jobs, BATCH)
    # Cancel early: the first runs must still be in flight (5 s or more) when the workers see the cancel.
    wait_until(lambda: _running(stack.engine) >= 6, timeout=60, message="six runs in flight")

    cancelled = stack.cli("cancel", BATCH)
    assert cancelled.returncode == 0, cancelled.stderr
    stack.wait_finished(BATCH, timeout=60)

    records = load_records(stack.engine, BATCH)
    assert {job.state for job in records.jobs.values()} == {"cancelled"}
    with_runs = {run.custom_id for run in records.runs}
    without_runs = set(records.jobs) - with_runs
    assert with_runs and without_runs, "need both in-flight and pending jobs at the moment of the cancel"
    for run in records.runs:
        assert run.status == "cancelled" and run.finished_recorded_at is not None, run
        assert _api_run_status(stack, _thread_of(stack.engine, run.api_id), run.api_id) == "cancelled"
    for custom_id in without_runs:
        assert records.jobs[custom_id].error_code == "cancelled"
    check_batch(stack.engine, BATCH, stack.stats(), states=("cancelled",))
    attempts_before = {job.custom_id: job.attempt for job in records.jobs.values()}

    retried = stack.cli("retry", BATCH)
    assert retried.returncode == 0, retried.stderr
    assert f"{JOBS} jobs started again" in retried.stdout
    stack.wait_finished(BATCH, timeout=90)

    stats = stack.stats()
    after = check_batch(stack.engine, BATCH, stats, expected_jobs=attempts_before)
    for custom_id, job in after.jobs.items():
        assert job.attempt == attempts_before[custom_id] + 1, custom_id
        new_runs = [run for run in after.runs_of(custom_id) if run.attempt > attempts_before[custom_id]]
        assert [run.attempt for run in new_runs] == [job.attempt], custom_id
    assert len(job_keys_in_stats(stats, BATCH)) == len(after.runs) == len(with_runs) + JOBS
