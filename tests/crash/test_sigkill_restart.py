"""Scenario 1: SIGKILL the worker process group at random moments during a 500-job batch, restarting it each time."""

from __future__ import annotations

import random
import time

import pytest

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch
from batchrunner.testing.jobgen import generate_jobs, tool_job_ids
from tests.crash.conftest import MakeStack

pytestmark = pytest.mark.crash

BATCH = "sigkill"
JOBS = 500
KILLS = 12


def test_sigkilled_workers_lose_and_duplicate_nothing(make_stack: MakeStack) -> None:
    """After 10+ SIGKILLs of the workers mid-batch, every job succeeds with exactly one API run per attempt."""
    stack = make_stack(SimConfig(seed=101, run_duration_min_s=0.2, run_duration_max_s=1.0, poll_after_ms=200))
    jobs = generate_jobs(JOBS, tool_share=0.2, seed=101)
    assert len(tool_job_ids(jobs)) == JOBS // 5
    supervisor = stack.supervise(processes=2, threads=8)
    stack.enqueue(jobs, BATCH)
    moments = random.Random(101)
    kills_mid_batch = 0
    for _ in range(KILLS):
        time.sleep(moments.uniform(1.0, 3.5))
        if stack.unfinished(BATCH) == 0:
            break
        supervisor.kill_and_restart()
        kills_mid_batch += 1
    assert kills_mid_batch >= 10, f"the batch finished after only {kills_mid_batch} kills"

    stack.wait_finished(BATCH, timeout=240, supervisor=supervisor)

    stats = stack.stats()
    records = check_batch(stack.engine, BATCH, stats, expected_jobs=[job["custom_id"] for job in jobs])
    assert stats["runs_created"] == len(records.runs) == JOBS
    assert {job.attempt for job in records.jobs.values()} == {1}
