"""Scenario 5: the API answers 5xx, drops connections and answers slower than the client's timeout."""

from __future__ import annotations

import pytest

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.checks import check_batch
from batchrunner.testing.jobgen import generate_jobs
from tests.crash.conftest import MakeStack
from tests.crash.probes import metric_total, retry_numbers, scrape_metrics

pytestmark = pytest.mark.crash

MAX_REQUEST_RETRIES = 8
FAULTY_API = SimConfig(
    seed=505,
    run_duration_min_s=0.2,
    run_duration_max_s=1.0,
    poll_after_ms=200,
    fault_5xx_rate=0.05,
    fault_drop_rate=0.05,
    fault_slow_rate=0.05,
    fault_slow_seconds=2.0,
)


def _api_requests(stats: dict[str, dict[str, dict[str, int]]]) -> int:
    return sum(sum(statuses.values()) for statuses in stats["requests"].values())


def test_api_faults_are_retried_within_bounds(make_stack: MakeStack) -> None:
    """At 5 % each of 5xx, drops and too-slow answers, every job succeeds, once, after a bounded number of retries."""
    stack = make_stack(
        FAULTY_API,
        BATCHRUNNER_API_TIMEOUT_SECONDS="1",
        BATCHRUNNER_MAX_REQUEST_RETRIES=str(MAX_REQUEST_RETRIES),
    )
    jobs = generate_jobs(200, tool_share=0.2, seed=505)
    batch = "api-faults"
    supervisor = stack.supervise(processes=2, threads=8)
    stack.enqueue(jobs, batch)

    stack.wait_finished(batch, timeout=180)

    stats = stack.stats()
    faults = sum(
        count
        for statuses in stats["requests"].values()
        for status, count in statuses.items()
        if status in ("500", "503", "dropped")
    )
    assert faults > 0, "the simulator injected no fault"
    retries = metric_total(scrape_metrics(int(stack.env["BATCHRUNNER_METRICS_PORT"])), "batchrunner_step_retries_total")
    # Each fault or timeout costs one retry of its step; far more would mean retry storms.
    assert 0 < retries <= 0.3 * _api_requests(stats), (retries, _api_requests(stats))
    # With 15 % of requests failing, a step failing five times in a row happens in about one run of
    # ten; the bound that matters is the configured one, which no step may pass.
    assert max(retry_numbers(supervisor.log_text())) <= MAX_REQUEST_RETRIES
    records = check_batch(stack.engine, batch, stats, expected_jobs=[job["custom_id"] for job in jobs])
    assert {job.attempt for job in records.jobs.values()} == {1}
    assert not any(job.error_code == "retries_exhausted" for job in records.jobs.values())
