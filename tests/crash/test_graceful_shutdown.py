"""Scenario 6: a worker SIGTERMed mid-batch stops in time, half-writes nothing, and a new one finishes the batch."""

from __future__ import annotations

import os
import signal
import time

import pytest
import sqlalchemy as sa

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch, load_records
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.processes import wait_until
from tests.crash.conftest import MakeStack

pytestmark = pytest.mark.crash

# Every step is a few fast requests, so a worker drains its in-flight steps in well under this.
SHUTDOWN_BOUND_SECONDS = 30.0


def _unfinished_without_wake_up(engine: sa.Engine, batch: str) -> int:
    """Unfinished jobs with no wake-up at all (nothing would ever re-drive them)."""
    with engine.connect() as conn:
        return int(
            conn.scalar(
                sa.text(
                    "SELECT count(*) FROM jobs j JOIN batches b ON b.id = j.batch_id WHERE b.name = :batch"
                    " AND j.state NOT IN ('succeeded','failed','cancelled','expired','incomplete')"
                    " AND j.next_wake_at IS NULL"
                ),
                {"batch": batch},
            )
            or 0
        )


def test_sigterm_drains_cleanly_and_a_new_worker_finishes(make_stack: MakeStack) -> None:
    """A SIGTERMed worker exits 0 promptly with no half-written run, and a fresh worker completes the batch."""
    stack = make_stack(SimConfig(seed=606, run_duration_min_s=0.2, run_duration_max_s=1.0, poll_after_ms=200))
    jobs = generate_jobs(300, tool_share=0.2, seed=606)
    batch = "sigterm"
    first = stack.worker("first", processes=2, threads=8).start()
    try:
        stack.enqueue(jobs, batch)
        wait_until(lambda: stack.unfinished(batch) <= 200, timeout=60, message="a third of the batch to finish")
        # Like Kubernetes, signal the main process only: it forwards SIGTERM to its worker processes.
        os.kill(first.pid, signal.SIGTERM)
        started = time.monotonic()
        wait_until(lambda: not first.alive(), timeout=SHUTDOWN_BOUND_SECONDS, message="the worker to stop")
        stopped_after = time.monotonic() - started
    finally:
        exit_code = first.terminate(timeout=5)
    log = first.log_text()

    assert exit_code == 0, log[-2000:]
    assert stopped_after < SHUTDOWN_BOUND_SECONDS
    assert "Killing worker process" not in log and "Traceback" not in log
    unfinished = stack.unfinished(batch)
    assert unfinished > 0, "the batch finished before the shutdown: nothing was interrupted"
    records = load_records(stack.engine, batch)
    half_written = [
        run
        for run in records.runs
        if run.status in ("completed", "failed", "cancelled", "expired", "incomplete")
        and run.finished_recorded_at is None
    ]
    assert half_written == []
    assert _unfinished_without_wake_up(stack.engine, batch) == 0

    second = stack.supervise("second", processes=2, threads=8)
    stack.wait_finished(batch, timeout=120, supervisor=second)
    assert second.generation == 0
    check_batch(stack.engine, batch, stack.stats(), expected_jobs=[job["custom_id"] for job in jobs])
