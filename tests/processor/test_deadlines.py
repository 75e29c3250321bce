"""Deadlines on both backends: an unfinished job is cancelled at the API at its deadline and recorded expired."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchrunner.deadlines import parse_deadline
from batchrunner.jobs import BackendName
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import StepHarness, job, job_states, query_rows, step_harness

BACKENDS = [BackendName.ASSISTANTS, BackendName.RESPONSES]
CANCEL_ENDPOINTS = {
    BackendName.ASSISTANTS: "POST /v1/threads/{thread_id}/runs/{run_id}/cancel",
    BackendName.RESPONSES: "POST /v1/responses/{response_id}/cancel",
}
CREATE_ENDPOINTS = {
    BackendName.ASSISTANTS: "POST /v1/threads/{thread_id}/runs",
    BackendName.RESPONSES: "POST /v1/responses",
}


def _finished_job(url: str) -> Any:
    (row,) = query_rows(
        url, "SELECT state, error_code, error_message, total_tokens, created_at, finished_at, deadline_at FROM jobs"
    )
    return row


def _utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_job_running_at_its_deadline_is_cancelled_at_the_api_and_expired(
    sqlite_url: str, backend: BackendName
) -> None:
    """The run or response is cancelled through the API when the deadline comes, not at the next poll."""
    sim = SimConfig(run_duration_min_s=300, run_duration_max_s=400)
    with step_harness(sqlite_url, sim) as harness:
        enqueued_at = harness.clock.now
        harness.enqueue([job("slow", backend=backend, deadline="45s")])
        while CANCEL_ENDPOINTS[backend] not in harness.sim_stats()["requests"]:
            assert harness.step() is not None, "the job ended without a cancel"
        # Sent at the deadline itself, whatever the poll delay was.
        assert harness.clock.now - enqueued_at == timedelta(seconds=45)
        harness.drain()
        stats = harness.sim_stats()
    row = _finished_job(sqlite_url)
    assert (row.state, row.error_code) == ("expired", "deadline_exceeded")
    assert "deadline" in row.error_message
    assert sum(stats["requests"][CANCEL_ENDPOINTS[backend]].values()) == 1
    statuses = {r.status for r in query_rows(sqlite_url, "SELECT status FROM api_objects")}
    assert statuses <= {"cancelled", "cancelling"} and statuses
    assert _utc(row.deadline_at) - _utc(row.created_at) == timedelta(seconds=45)


def test_an_expired_job_keeps_the_usage_of_the_rounds_it_finished(sqlite_url: str) -> None:
    """A tool round completed before the deadline was paid for: its usage stays on the expired job."""
    sim = SimConfig(run_duration_min_s=20, run_duration_max_s=25)
    spec = job("math", assistant_id="asst_math", text="What is 6 * 7?", backend=BackendName.RESPONSES, deadline="35s")
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([spec])
        harness.drain()
    row = _finished_job(sqlite_url)
    assert (row.state, row.error_code) == ("expired", "deadline_exceeded")
    objects = query_rows(sqlite_url, "SELECT round, status, total_tokens FROM api_objects ORDER BY round")
    assert [(o.round, o.status) for o in objects] == [(0, "completed"), (1, "cancelled")]
    assert objects[0].total_tokens > 0
    assert row.total_tokens == sum(o.total_tokens or 0 for o in objects)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_job_not_started_by_its_deadline_is_never_started(sqlite_url: str, backend: BackendName) -> None:
    """A batch past its deadline starts nothing more: its pending jobs expire without a request."""
    with step_harness(sqlite_url) as harness:
        passed = (harness.clock.now - timedelta(minutes=1)).isoformat()
        harness.enqueue([job(f"late{n}", line_no=n, backend=backend, deadline=passed) for n in range(1, 4)])
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"expired"}
    assert CREATE_ENDPOINTS[backend] not in stats["requests"]
    assert "POST /v1/threads" not in stats["requests"]


def test_the_batch_deadline_and_the_jobs_own_the_earlier_wins(database_url: str) -> None:
    """``insert_jobs(deadline=...)`` applies to every job; a job's own earlier deadline stays."""
    with step_harness(database_url) as harness:
        batch_id = harness.repository.get_or_create_batch("b")
        specs = [job("own", deadline="10m"), job("batch", line_no=2), job("later", line_no=3, deadline="2h")]
        harness.repository.insert_jobs(batch_id, specs, deadline=parse_deadline("1h"))
        now = harness.clock.now
    rows = {
        r.custom_id: _utc(r.deadline_at) for r in query_rows(database_url, "SELECT custom_id, deadline_at FROM jobs")
    }
    assert rows == {
        "own": now + timedelta(minutes=10),
        "batch": now + timedelta(hours=1),
        "later": now + timedelta(hours=1),
    }


def _parked_job(harness: StepHarness) -> tuple[int, int]:
    """A job with a 10-minute deadline in a batch stopped by insufficient_quota, parked by its first step."""
    (job_id,) = harness.enqueue([job("parked", deadline="10m")])
    batch_id = harness.repository.batch_id("batch")
    assert batch_id is not None
    harness.repository.stop_batch(batch_id, "insufficient_quota: test")
    harness.step()
    return job_id, batch_id


def test_a_parked_job_with_a_deadline_still_resumes_and_expires_when_due(database_url: str) -> None:
    """Parking (a stopped batch) leaves the deadline as the only wake-up; a resume still wakes the job now."""
    with step_harness(database_url) as harness:
        job_id, batch_id = _parked_job(harness)
        (row,) = query_rows(database_url, "SELECT state, next_wake_at, deadline_at FROM jobs")
        assert row.state == "pending" and _utc(row.next_wake_at) == _utc(row.deadline_at)
        assert harness.repository.resume_batch(batch_id) == [job_id]
        harness.wake(job_id)
        harness.drain()
    assert job_states(database_url) == {"parked": "succeeded"}


def test_a_parked_job_expires_when_the_sweeper_finds_its_deadline_passed(database_url: str) -> None:
    """A stopped batch's job never resumed ends expired at its deadline (the sweeper re-drives it)."""
    with step_harness(database_url) as harness:
        job_id, _ = _parked_job(harness)
        grace = timedelta(seconds=30)
        assert harness.repository.claim_overdue(now=harness.clock.now + timedelta(minutes=9), grace=grace) == []
        harness.clock.advance_to(harness.clock.now + timedelta(minutes=11))
        assert harness.repository.claim_overdue(now=harness.clock.now, grace=grace) == [job_id]
        harness.wake(job_id)
        harness.drain()
        stats = harness.sim_stats()
    row = _finished_job(database_url)
    assert (row.state, row.error_code) == ("expired", "deadline_exceeded")
    assert "POST /v1/responses" not in stats["requests"] and "POST /v1/threads" not in stats["requests"]


def test_retry_with_a_new_deadline_runs_expired_jobs_again(sqlite_url: str) -> None:
    """`retry --deadline`: jobs that expired get a new deadline and a new attempt; without one they keep theirs."""
    with step_harness(sqlite_url) as harness:
        passed = (harness.clock.now - timedelta(minutes=1)).isoformat()
        harness.enqueue([job("late", deadline=passed)])
        harness.drain()
        batch_id = harness.repository.batch_id("batch")
        assert batch_id is not None and job_states(sqlite_url) == {"late": "expired"}
        for job_id in harness.repository.retry_batch(batch_id, only_failed=False):
            harness.wake(job_id)
        harness.drain()
        assert job_states(sqlite_url) == {"late": "expired"}  # its deadline still passed
        for job_id in harness.repository.retry_batch(batch_id, only_failed=False, deadline=parse_deadline("1h")):
            harness.wake(job_id)
        harness.drain()
        now = harness.clock.now
    row = _finished_job(sqlite_url)
    assert row.state == "succeeded" and now < _utc(row.deadline_at) <= now + timedelta(hours=1)
