"""Races found by the crash tests, each pinned down with a deterministic reproduction.

Both races are fixed: a create-run with an unclear outcome waits ``create_settle_s`` and looks for the
run before creating another, and ``cancel_batch`` no longer takes over the lease of a step in flight.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from starlette.applications import Starlette

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import assert_one_run_per_attempt, job_keys_in_stats, load_records
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.processes import wait_until
from tests.crash.asgi import HeldRequests, HoldFirstRunCreation
from tests.crash.conftest import MakeStack

pytestmark = pytest.mark.crash

SHORT_RUNS = SimConfig(seed=1111, run_duration_min_s=0.2, run_duration_max_s=0.4, poll_after_ms=200)


def _holding(held: HeldRequests) -> Callable[[Starlette], None]:
    def prepare(app: Starlette) -> None:
        app.add_middleware(HoldFirstRunCreation, held=held)

    return prepare


def test_create_run_served_after_client_timeout_is_not_duplicated(make_stack: MakeStack) -> None:
    """A create-run that times out at the client but is served later must not leave a second run for the attempt."""
    held = HeldRequests(delay_s=4.0)
    stack = make_stack(SHORT_RUNS, prepare_app=_holding(held), BATCHRUNNER_API_TIMEOUT_SECONDS="1")
    jobs = generate_jobs(6, tool_share=0.0, shared_thread_jobs=0, seed=1111)
    stack.supervise(processes=1, threads=8)
    stack.enqueue(jobs, "late-create")
    stack.wait_finished("late-create", timeout=60)
    wait_until(lambda: held.served == held.held == len(jobs), timeout=30, message="the held requests to be served")

    stats = stack.stats()
    if sum(job_keys_in_stats(stats, "late-create").values()) < len(jobs):
        pytest.fail("fewer runs than jobs reached the API")
    assert_one_run_per_attempt(load_records(stack.engine, "late-create"), stats)


def test_cancel_while_a_run_is_being_created_cancels_that_run(make_stack: MakeStack) -> None:
    """A cancel that arrives while a step waits for create-run leaves no unrecorded run at the API."""
    held = HeldRequests(delay_s=8.0)
    stack = make_stack(SHORT_RUNS, prepare_app=_holding(held))
    jobs = generate_jobs(3, tool_share=0.0, shared_thread_jobs=0, seed=1112)
    stack.supervise(processes=1, threads=8)
    stack.enqueue(jobs, "cancel-race")
    wait_until(lambda: held.held == len(jobs), timeout=30, message="every create-run to be held")

    cancelled = stack.cli("cancel", "cancel-race")
    if cancelled.returncode != 0 or held.served:
        pytest.fail(f"the cancel failed or came too late to race the held requests: {cancelled.stderr}")
    stack.wait_finished("cancel-race", timeout=60)
    wait_until(lambda: held.served == len(jobs), timeout=30, message="the held requests to be served")

    records = load_records(stack.engine, "cancel-race")
    # A run created by the step in flight is recorded, then cancelled; one that finishes before the
    # step after it sees the cancel is recorded as what it is. Either way no run goes unrecorded.
    assert {job.state for job in records.jobs.values()} <= {"cancelled", "succeeded"}
    assert_one_run_per_attempt(records, stack.stats())
