"""Scenarios 3 and 4: the broker's Redis db is wiped, or Postgres restarts, in the middle of a batch."""

from __future__ import annotations

import pytest

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.processes import wait_until
from tests.crash.conftest import MakeStack
from tests.crash.probes import can_restart_postgres, restart_postgres

pytestmark = pytest.mark.crash

SIM = SimConfig(seed=303, run_duration_min_s=0.2, run_duration_max_s=1.0, poll_after_ms=200)


def test_flushed_broker_db_loses_no_job(make_stack: MakeStack) -> None:
    """FLUSHDB of the broker's Redis db mid-batch: the sweeper re-drives the lost wake-ups and every job succeeds."""
    stack = make_stack(SIM)
    jobs = generate_jobs(300, tool_share=0.2, seed=303)
    batch = "flushdb"
    supervisor = stack.supervise(processes=2, threads=4)
    stack.enqueue(jobs, batch)
    wait_until(lambda: stack.unfinished(batch) <= 270, timeout=60, message="the first jobs to finish")

    queue_keys = [f"dramatiq:{stack.queue_name}", f"dramatiq:{stack.queue_name}.start"]
    # Count and flush in one MULTI: the workers keep sending wake-ups, so a count read after the
    # flush could already see new ones, and a count read before it could be stale.
    flush = stack.redis_client.pipeline(transaction=True)
    for key in queue_keys:
        flush.llen(key)
    flush.flushdb()
    *lengths, flushed = flush.execute()
    assert flushed is True
    assert sum(lengths) > 0, "no wake-up was waiting in the broker: the flush would prove nothing"

    stack.wait_finished(batch, timeout=150)

    assert supervisor.generation == 0, "the worker died instead of riding out the flush"
    check_batch(stack.engine, batch, stack.stats(), expected_jobs=[job["custom_id"] for job in jobs])


@pytest.mark.skipif(not can_restart_postgres(), reason="needs root and Debian's pg_ctlcluster for the local server")
def test_postgres_restart_mid_batch_loses_no_job(make_stack: MakeStack) -> None:
    """A Postgres restart mid-batch: the same workers recover by themselves and every job succeeds once."""
    stack = make_stack(SIM)
    jobs = generate_jobs(300, tool_share=0.2, seed=304)
    batch = "pg-restart"
    supervisor = stack.supervise(processes=2, threads=4)
    stack.enqueue(jobs, batch)
    wait_until(lambda: stack.unfinished(batch) <= 240, timeout=60, message="the first jobs to finish")
    unfinished_at_restart = stack.unfinished(batch)

    restart_postgres()
    stack.engine.dispose()  # the test's own pooled connections died with the server

    stack.wait_finished(batch, timeout=180)

    assert unfinished_at_restart > 0
    assert supervisor.current.alive() and supervisor.generation == 0, "a worker died with the database"
    check_batch(stack.engine, batch, stack.stats(), expected_jobs=[job["custom_id"] for job in jobs])
