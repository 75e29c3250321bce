"""Outages mid-batch: the broker's Redis db is wiped, Postgres restarts, or the API is down for a while."""

from __future__ import annotations

import os
import time

import pytest

from batchrunner.db.migrate import upgrade
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch
from batchrunner.testing.databases import temporary_postgres_url
from batchrunner.testing.jobgen import generate_jobs
from batchrunner.testing.outage import Outage
from batchrunner.testing.outage_proxy import OutageProxy
from batchrunner.testing.processes import wait_until
from batchrunner.testing.redis_scratch import CLAIM_KEY
from tests.crash.conftest import MakeStack
from tests.crash.fleet import CrashStack
from tests.crash.private_postgres import PrivatePostgres, can_run_private_postgres
from tests.crash.probes import metric_total, scrape_metrics

pytestmark = pytest.mark.crash

# Each phase of the staged outage (5xx, then refused connections); BATCHRUNNER_TEST_OUTAGE_SECONDS=90
# gives the 3-minute outage of the issue (the suite keeps 10 for its running time).
OUTAGE_PHASE_S = float(os.environ.get("BATCHRUNNER_TEST_OUTAGE_SECONDS", "10"))
SIM = SimConfig(seed=303, run_duration_min_s=0.2, run_duration_max_s=1.0, poll_after_ms=200)


# Reads the queues' lengths and deletes every key of the test's database but its claim, in one step:
# what a Redis that lost its data (a restart without persistence) leaves, without a FLUSHDB that
# would also drop the claim that keeps the database this test's own.
_LOSE_EVERY_KEY = """
local lengths = {}
for i, key in ipairs(KEYS) do lengths[i] = redis.call('LLEN', key) end
for _, key in ipairs(redis.call('KEYS', '*')) do
  if key ~= ARGV[1] then redis.call('DEL', key) end
end
return lengths
"""


def test_a_broker_db_that_loses_every_key_loses_no_job(make_stack: MakeStack) -> None:
    """Every key of the broker's Redis db gone mid-batch: the sweeper re-drives the lost wake-ups and every
    job succeeds."""
    stack = make_stack(SIM)
    jobs = generate_jobs(300, tool_share=0.2, seed=303)
    batch = "lost-keys"
    supervisor = stack.supervise(processes=2, threads=4)
    stack.enqueue(jobs, batch)
    wait_until(lambda: stack.unfinished(batch) <= 270, timeout=60, message="the first jobs to finish")

    queue_keys = [f"dramatiq:{stack.queue_name}", f"dramatiq:{stack.queue_name}.start"]
    # Counted in the same script: the workers keep sending wake-ups, so a count read after the
    # deletion could already see new ones, and a count read before it could be stale.
    lengths = stack.redis_client.eval(_LOSE_EVERY_KEY, len(queue_keys), *queue_keys, CLAIM_KEY)
    assert sum(lengths) > 0, "no wake-up was waiting in the broker: losing the keys would prove nothing"

    stack.wait_finished(batch, timeout=150)

    assert supervisor.generation == 0, "the worker died instead of riding out the flush"
    check_batch(stack.engine, batch, stack.stats(), expected_jobs=[job["custom_id"] for job in jobs])


def test_postgres_restart_mid_batch_loses_no_job(make_stack: MakeStack, services_required: bool) -> None:
    """A Postgres restart mid-batch (a private cluster, never the shared server): the same workers recover
    by themselves and every job succeeds once."""
    if not can_run_private_postgres():
        if services_required:
            pytest.fail("no Postgres server binaries (initdb, pg_ctl) to start a private cluster with")
        pytest.skip("no Postgres server binaries (initdb, pg_ctl) to start a private cluster with")
    server = PrivatePostgres()
    with server, temporary_postgres_url(server.admin_url) as database_url:
        upgrade(database_url)
        _restart_mid_batch(make_stack(SIM, database_url=database_url), server)


def _restart_mid_batch(stack: CrashStack, server: PrivatePostgres) -> None:
    jobs = generate_jobs(300, tool_share=0.2, seed=304)
    batch = "pg-restart"
    supervisor = stack.supervise(processes=2, threads=4)
    stack.enqueue(jobs, batch)
    wait_until(lambda: stack.unfinished(batch) <= 240, timeout=60, message="the first jobs to finish")
    unfinished_at_restart = stack.unfinished(batch)

    server.restart()
    stack.engine.dispose()  # the test's own pooled connections died with the server

    stack.wait_finished(batch, timeout=180)

    assert unfinished_at_restart > 0
    assert supervisor.current.alive() and supervisor.generation == 0, "a worker died with the database"
    check_batch(stack.engine, batch, stack.stats(), expected_jobs=[job["custom_id"] for job in jobs])
    stack.stop_workers()  # before the private server and its database go


@pytest.mark.parametrize("backend", ["assistants", "responses"])
def test_an_api_outage_mid_batch_fails_no_job(make_stack: MakeStack, backend: str) -> None:
    """The API answers 503s, then refuses connections, then comes back: every job succeeds, one chain each.

    Two retries per step would not outlast a second of it: the fleet's breaker holds the requests back.
    """
    sim = SimConfig(seed=305, run_duration_min_s=1.0, run_duration_max_s=3.0, poll_after_ms=200)
    stack = make_stack(sim)
    proxy = OutageProxy(stack.simulator.port).start()
    try:
        stack.env.update(
            BATCHRUNNER_BACKEND=backend,
            BATCHRUNNER_API_BASE_URL=proxy.base_url,
            BATCHRUNNER_MAX_REQUEST_RETRIES="2",
            BATCHRUNNER_API_PROBE_FIRST_SECONDS="1",
            BATCHRUNNER_API_PROBE_MAX_SECONDS="4",
        )
        jobs = generate_jobs(150, tool_share=0.2, seed=305, prefix=f"out-{backend}")
        batch = f"api-outage-{backend}"
        processes, threads = 2, 4
        supervisor = stack.supervise(processes=processes, threads=threads)
        stack.enqueue(jobs, batch)
        wait_until(lambda: stack.unfinished(batch) <= 130, timeout=60, message="the first jobs to finish")
        proxy.set(Outage.SERVER_ERRORS)
        time.sleep(OUTAGE_PHASE_S)
        proxy.set(Outage.REFUSED)
        time.sleep(OUTAGE_PHASE_S)
        assert stack.unfinished(batch) > 0, "the batch ended before the outage did: it proves nothing"
        outages = metric_total(scrape_metrics(int(stack.env["BATCHRUNNER_METRICS_PORT"])), "batchrunner_api_down")
        proxy.set(Outage.NONE)

        stack.wait_finished(batch, timeout=120)
    finally:
        proxy.stop()

    assert supervisor.generation == 0, "a worker died of the outage"
    # A create cut off by the outage cannot be looked up on the Responses backend (the residual window).
    allowed = processes * threads if backend == "responses" else 0
    check_batch(
        stack.engine,
        batch,
        stack.stats(),
        expected_jobs=[job["custom_id"] for job in jobs],
        blind_recreates_allowed=allowed,
    )
    assert outages >= 1, "no worker reported the API down"
    assert "the API is down since" in supervisor.log_text()
    assert "the API is back after" in supervisor.log_text()
