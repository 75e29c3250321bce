"""The crash scenarios on the Responses backend: SIGKILLs and fault points lose nothing and record nothing twice.

The Responses API lists no responses, so a response created in the instant before a crash cannot be
adopted (README, "No duplicate runs"): the API may then hold an extra response for that attempt, which
batchrunner counts in ``batchrunner_blind_recreates_total``. These tests bound that window: the records
still hold exactly one chain per attempt, and the API's extra chains are at most one per step that
was in flight when a process died.
"""

from __future__ import annotations

import random
import time

import pytest

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch, job_keys_in_stats
from batchrunner.testing.jobgen import generate_jobs
from tests.crash.conftest import MakeStack

pytestmark = pytest.mark.crash

RESPONSES = {"BATCHRUNNER_BACKEND": "responses"}


@pytest.mark.parametrize("broker", ["redis", "amqp"])
def test_sigkilled_workers_lose_nothing_on_the_responses_backend(make_stack: MakeStack, broker: str) -> None:
    """After SIGKILLs mid-batch, every job succeeds with one recorded chain; extra chains stay within the window.

    On RabbitMQ too: a killed consumer's unacknowledged messages go back to the queue, and the budget
    lives in Redis."""
    stack = make_stack(SimConfig(seed=111, run_duration_min_s=0.2, run_duration_max_s=1.0), broker=broker, **RESPONSES)
    jobs = generate_jobs(300, tool_share=0.2, seed=111, prefix="rk")
    processes, threads = 2, 8
    supervisor = stack.supervise(processes=processes, threads=threads)
    stack.enqueue(jobs, "responses-sigkill")
    moments = random.Random(111)
    kills = 0
    for _ in range(8):
        time.sleep(moments.uniform(1.0, 3.0))
        if stack.unfinished("responses-sigkill") == 0:
            break
        supervisor.kill_and_restart()
        kills += 1
    assert kills >= 5, f"the batch finished after only {kills} kills"

    stack.wait_finished("responses-sigkill", timeout=240, supervisor=supervisor)

    stats = stack.stats()
    window = kills * processes * threads
    records = check_batch(
        stack.engine,
        "responses-sigkill",
        stats,
        expected_jobs=[job["custom_id"] for job in jobs],
        blind_recreates_allowed=window,
    )
    assert {run.backend for run in records.runs} == {"responses"}
    assert {job.attempt for job in records.jobs.values()} == {1}
    assert len(job_keys_in_stats(stats, "responses-sigkill")) == len(jobs)


# Enough crash points passed (30 jobs: 30 creates, ~22 tool rounds) at a probability high enough that
# "fewer than two crashes" is a rare run (about 0.1 % or less), and low enough for few crash cycles.
@pytest.mark.parametrize(("point", "probability"), [("after_run_create", 0.3), ("after_tool_outputs", 0.35)])
def test_fault_points_on_the_responses_backend_record_one_chain_per_attempt(
    make_stack: MakeStack, point: str, probability: float
) -> None:
    """Dying between a create and its commit re-creates the attempt or round once per crash, never more."""
    stack = make_stack(SimConfig(seed=212, run_duration_min_s=0.2, run_duration_max_s=0.6), **RESPONSES)
    jobs = generate_jobs(30, tool_share=0.75 if point == "after_tool_outputs" else 0.25, seed=212, prefix=point)
    batch = f"responses-{point}"
    # A crash loses every create in flight in its process, and re-driven jobs are created again side by
    # side: with T threads a group survives a cycle with probability (1 - p)^T. Two threads keep the
    # cycles few, and a short lease and sweeper grace keep each one short, for the timeout.
    threads = 2
    supervisor = stack.supervise(
        processes=2,
        threads=threads,
        BATCHRUNNER_FAULT_POINTS=f"{point}={probability}",
        BATCHRUNNER_STEP_LEASE_SECONDS="3",
        BATCHRUNNER_SWEEP_GRACE_SECONDS="2",
    )
    stack.enqueue(jobs, batch)

    stack.wait_finished(batch, timeout=180, supervisor=supervisor)

    crashes = supervisor.fault_crashes()
    assert crashes >= 2, f"the fault point fired only {crashes} times"
    stats = stack.stats()
    records = check_batch(
        stack.engine,
        batch,
        stats,
        expected_jobs=[job["custom_id"] for job in jobs],
        blind_recreates_allowed=crashes * threads,
    )
    assert {job.attempt for job in records.jobs.values()} == {1}
    if point == "after_run_create":
        extra = sum(count - 1 for count in job_keys_in_stats(stats, batch).values())
        assert 1 <= extra <= crashes * threads  # each crash leaves the responses its process had just created
        assert "cannot look up; creating it again" in supervisor.log_text()
