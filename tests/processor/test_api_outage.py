"""An API outage across the fleet: the breaker holds every request back and probes, so no job fails of it."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from batchrunner.jobs import BackendName
from batchrunner.limiter.breaker_state import BreakerPolicy
from batchrunner.processor import ProcessorConfig
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import StepHarness, job, job_states, query_rows, step_harness
from batchrunner.testing.outage import Outage

BACKENDS = [BackendName.ASSISTANTS, BackendName.RESPONSES]
# Few retries, so that an outage spent on them would fail every job.
CONFIG = ProcessorConfig(max_step_retries=3, retry_base_s=1.0, retry_max_s=5.0)
POLICY = BreakerPolicy(failure_threshold=3, probe_requests=2, first_probe_s=5, max_probe_interval_s=60)
SIM = SimConfig(run_duration_min_s=20, run_duration_max_s=40)


def _run_until(harness: StepHarness, seconds: float) -> None:
    end = harness.clock.now + timedelta(seconds=seconds)
    while harness.queue and harness.queue[0][0] <= end:
        harness.step()
    harness.clock.advance_to(end)


@pytest.mark.parametrize("outage", [Outage.SERVER_ERRORS, Outage.REFUSED])
@pytest.mark.parametrize("backend", BACKENDS)
def test_a_two_hour_outage_fails_no_job_and_costs_only_probes(
    sqlite_url: str, backend: BackendName, outage: Outage
) -> None:
    """Jobs in flight and jobs not started all succeed after the outage, each with one chain, no retry spent."""
    specs = [job(f"j{n}", line_no=n, backend=backend) for n in range(1, 9)]
    with step_harness(sqlite_url, SIM, config=CONFIG, breaker_policy=POLICY) as harness:
        harness.enqueue(specs[:4])
        _run_until(harness, 5)  # four jobs are in flight
        harness.outage.outage = outage
        harness.enqueue(specs[4:])
        _run_until(harness, 2 * 3600)
        assert harness.breaker.is_down()
        during = harness.outage.requests_during_outage
        harness.outage.outage = Outage.NONE
        harness.drain()
        stats = harness.sim_stats()
        assert not harness.breaker.is_down()
    assert job_states(sqlite_url) == {spec.custom_id: "succeeded" for spec in specs}
    # Probes every minute at most (2 each), plus the failures that opened the breaker.
    assert during <= POLICY.failure_threshold + 8 + 2 * (2 * 3600 / 60 + 1), during
    retried = query_rows(sqlite_url, "SELECT max(attempt) AS attempts FROM jobs")
    assert retried[0].attempts == 1
    if backend is BackendName.RESPONSES:
        assert set(stats["response_chains_by_job_key"].values()) == {1}
    else:
        assert set(stats["runs_by_job_key"].values()) == {1}


def test_one_jobs_failing_request_still_ends_it_alone_or_among_working_jobs(sqlite_url: str) -> None:
    """Per-job retry bounds hold: one job's failures never open the breaker, even after the others ended."""
    config = ProcessorConfig(max_step_retries=6, retry_base_s=5.0, retry_max_s=120.0)
    with step_harness(sqlite_url, SIM, config=config, breaker_policy=POLICY) as harness:
        harness.enqueue([job("doomed", backend=BackendName.RESPONSES)])
        harness.enqueue([job(f"ok{n}", line_no=n + 1, backend=BackendName.RESPONSES) for n in range(6)])
        passing = harness.outage.handle_request

        def refuse_the_doomed_job(request: httpx.Request) -> httpx.Response:
            if b"batch/doomed#" in request.content:
                raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
            return passing(request)

        harness.outage.handle_request = refuse_the_doomed_job  # type: ignore[method-assign]
        harness.drain()
        assert not harness.breaker.is_down()
    rows = query_rows(sqlite_url, "SELECT custom_id, state, error_code, finished_at FROM jobs ORDER BY finished_at")
    assert [(row.custom_id, row.state, row.error_code) for row in rows][-1] == ("doomed", "failed", "retries_exhausted")
    assert {row.state for row in rows[:-1]} == {"succeeded"}  # the others ended first: the doomed job was alone
