"""The job state machine driven step by step against the simulator, on a fake clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from batchrunner.backend.assistants import AssistantsBackend
from batchrunner.backend.base import Handle, ObjectSnapshot
from batchrunner.jobs import read_job_file
from batchrunner.limiter import MemoryBudget
from batchrunner.processor import ProcessorConfig
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import Crash, FakeClock, crash_once_at, job, job_states, query_rows, step_harness
from batchrunner.tools.registry import ToolRegistry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs.jsonl"
CREATE_RUN = "POST /v1/threads/{thread_id}/runs"


def test_example_file_succeeds_with_one_run_per_job(database_url: str) -> None:
    """Every example job succeeds, once, with its run, steps and output message stored."""
    specs = read_job_file(EXAMPLES).jobs
    with step_harness(database_url) as harness:
        harness.enqueue(specs, batch="examples")
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(database_url) == {spec.custom_id: "succeeded" for spec in specs}
    assert stats["runs_created"] == len(specs)
    assert set(stats["runs_by_job_key"].values()) == {1}
    assert CREATE_RUN in stats["requests"] and "400" not in stats["requests"][CREATE_RUN]
    runs = query_rows(database_url, "SELECT id, total_tokens FROM api_objects")
    assert len(runs) == len(specs) and all(run.total_tokens > 0 for run in runs)
    messages = query_rows(database_url, "SELECT count(DISTINCT object_pk) AS n FROM messages WHERE role = 'assistant'")
    assert messages[0].n == len(specs)


def test_duplicate_wakeups_do_not_duplicate_runs(sqlite_url: str) -> None:
    """Several deliveries of the same wake-up make one step; the rest find the job claimed or not due."""
    with step_harness(sqlite_url) as harness:
        (job_id,) = harness.enqueue([job("dup")])
        for _ in range(3):
            harness.wake(job_id)
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"dup": "succeeded"}
    assert stats["runs_by_job_key"] == {"batch/dup#1": 1}


@pytest.mark.parametrize("point", ["after_run_create", "after_thread_create", "after_tool_outputs"])
def test_crash_at_fault_point_never_duplicates_a_run(database_url: str, point: str) -> None:
    """A step that dies at a fault point is re-driven by the sweeper and adopts or resumes, never re-creates."""
    crash_once, crashed = crash_once_at(point)
    lease = 30.0
    with step_harness(database_url, fault_hook=crash_once, config=ProcessorConfig(step_lease_s=lease)) as harness:
        harness.enqueue([job("crashy", assistant_id="asst_math", text="What is 6 * 7?")])
        with pytest.raises(Crash):
            harness.drain()
        assert crashed == [point]
        harness.clock.advance_to(harness.clock.now + timedelta(seconds=lease + 60))
        overdue = harness.repository.claim_overdue(now=harness.clock.now, grace=timedelta(seconds=10))
        assert len(overdue) == 1
        for job_id in overdue:
            harness.wake(job_id)
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(database_url) == {"crashy": "succeeded"}
    assert stats["runs_by_job_key"] == {"batch/crashy#1": 1}
    assert len(query_rows(database_url, "SELECT id FROM api_objects")) == 1


def test_jobs_on_one_thread_never_overlap(sqlite_url: str) -> None:
    """Jobs naming the same existing thread run one at a time: the API never sees a second active run."""
    specs = [
        job(
            f"shared-{n}",
            thread_id="thread_demo_shared",
            line_no=n,
            params={"additional_messages": [{"role": "user", "content": f"Question {n}"}]},
        )
        for n in range(1, 5)
    ]
    with step_harness(sqlite_url) as harness:
        harness.enqueue(specs)
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert "400" not in stats["requests"][CREATE_RUN]
    assert stats["runs_created"] == 4
    assert query_rows(sqlite_url, "SELECT count(*) AS n FROM container_locks")[0].n == 0


def test_runs_failing_with_rate_limit_get_bounded_new_attempts(sqlite_url: str) -> None:
    """A run that fails with rate_limit_exceeded becomes a new attempt, up to max_run_attempts."""
    sim = SimConfig(run_duration_min_s=1, run_duration_max_s=2, run_fail_rate_limit_rate=1.0)
    with step_harness(sqlite_url, sim, config=ProcessorConfig(max_run_attempts=3)) as harness:
        harness.enqueue([job("flaky")])
        harness.drain()
        stats = harness.sim_stats()
    (row,) = query_rows(sqlite_url, "SELECT state, attempt, error_code FROM jobs")
    assert (row.state, row.attempt, row.error_code) == ("failed", 3, "rate_limit_exceeded")
    assert stats["runs_by_job_key"] == {"batch/flaky#1": 1, "batch/flaky#2": 1, "batch/flaky#3": 1}
    assert [r.attempt for r in query_rows(sqlite_url, "SELECT attempt FROM api_objects ORDER BY attempt")] == [1, 2, 3]


def test_persistent_server_errors_fail_the_job_after_bounded_retries(sqlite_url: str) -> None:
    """5xx on every request: the step is retried max_step_retries times with backoff, then the job fails."""
    sim = SimConfig(fault_5xx_rate=1.0)
    with step_harness(sqlite_url, sim, config=ProcessorConfig(max_step_retries=4)) as harness:
        harness.enqueue([job("doomed")])
        delivered = harness.drain()
    (row,) = query_rows(sqlite_url, "SELECT state, error_code FROM jobs")
    assert (row.state, row.error_code) == ("failed", "retries_exhausted")
    assert delivered == 5


def test_occasional_faults_are_retried_to_success(sqlite_url: str) -> None:
    """With 5xx and dropped connections on a share of requests, every job still succeeds exactly once."""
    sim = SimConfig(fault_5xx_rate=0.15, fault_drop_rate=0.1, seed=3)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job(f"j{n}", line_no=n) for n in range(1, 13)])
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert all(count == 1 for count in stats["runs_by_job_key"].values())


def test_insufficient_quota_stops_the_batch_and_keeps_jobs_resumable(sqlite_url: str) -> None:
    """insufficient_quota stops the batch with a reason; unfinished jobs are parked, not failed."""
    sim = SimConfig(quota_tokens=40, run_duration_min_s=1, run_duration_max_s=2)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job(f"q{n}", line_no=n) for n in range(1, 9)])
        harness.drain()
        batch = harness.repository.batch("batch")
    assert batch is not None and batch.status == "stopped"
    assert batch.stop_reason is not None and "insufficient_quota" in batch.stop_reason
    rows = query_rows(sqlite_url, "SELECT state, next_wake_at FROM jobs")
    parked = [row for row in rows if row.state not in ("succeeded",)]
    assert parked and all(row.state != "failed" and row.next_wake_at is None for row in parked)


def test_rejected_request_fails_the_job_with_the_servers_message(sqlite_url: str) -> None:
    """A 4xx other than 429 fails the job at once and stores what the server said."""
    with step_harness(sqlite_url) as harness:
        harness.enqueue([job("ghost", assistant_id="asst_does_not_exist")])
        harness.drain()
    (row,) = query_rows(sqlite_url, "SELECT state, error_code, error_message FROM jobs")
    assert row.state == "failed"
    assert "asst_does_not_exist" in row.error_message


def test_server_429s_pause_and_wait_without_spending_retries(sqlite_url: str) -> None:
    """Against a server limit the local budget does not know, 429s pause the fleet; jobs still succeed."""
    sim = SimConfig(rpm=30, run_duration_min_s=1, run_duration_max_s=2)
    with step_harness(sqlite_url, sim, config=ProcessorConfig(max_step_retries=0)) as harness:
        harness.enqueue([job(f"r{n}", line_no=n) for n in range(1, 7)])
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert stats["rate_limited"]["requests"] > 0


def test_local_budget_keeps_requests_under_the_limit(sqlite_url: str) -> None:
    """With the fleet budget set to the server's limit, jobs wait for budget and the server sends no 429."""
    sim = SimConfig(rpm=60, run_duration_min_s=1, run_duration_max_s=2)
    clock = FakeClock()
    budget = MemoryBudget(60, 0, clock=clock.timestamp, burst_seconds=1.0)
    with step_harness(sqlite_url, sim, budget=budget, clock=clock) as harness:
        harness.enqueue([job(f"b{n}", line_no=n) for n in range(1, 7)])
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert sum(stats["rate_limited"].values()) == 0


def test_cancelled_batch_cancels_runs_through_the_api(sqlite_url: str) -> None:
    """Cancelling a batch cancels in-flight runs at the API and records jobs as cancelled."""
    sim = SimConfig(run_duration_min_s=60, run_duration_max_s=90)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job(f"c{n}", line_no=n) for n in range(1, 4)])
        for _ in range(6):
            harness.step()
        harness.cancel_batch()
        harness.drain()
        stats = harness.sim_stats()
    assert set(job_states(sqlite_url).values()) == {"cancelled"}
    assert any(key.endswith("/cancel") for key in stats["requests"])
    statuses = {row.status for row in query_rows(sqlite_url, "SELECT status FROM api_objects")}
    assert statuses <= {"cancelled"}


def test_a_cancel_refused_because_the_run_just_ended_records_the_run(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run ends between the step's look and its cancel: the API refuses the cancel (400), the job
    looks again and records the run, instead of failing on the refusal."""
    sim = SimConfig(run_duration_min_s=60, run_duration_max_s=90)
    with step_harness(sqlite_url, sim) as harness:
        original_cancel = AssistantsBackend.cancel

        def cancel_after_the_run_ended(self: AssistantsBackend, handle: Handle) -> ObjectSnapshot:
            harness.clock.advance_to(harness.clock() + timedelta(seconds=120))
            return original_cancel(self, handle)

        monkeypatch.setattr(AssistantsBackend, "cancel", cancel_after_the_run_ended)
        harness.enqueue([job("late", line_no=1)])
        for _ in range(3):
            harness.step()
        harness.cancel_batch()
        harness.drain()
        stats = harness.sim_stats()
    assert job_states(sqlite_url) == {"late": "cancelled"}
    assert any(key.endswith("/cancel") and "400" in statuses for key, statuses in stats["requests"].items())
    statuses = [row.status for row in query_rows(sqlite_url, "SELECT status FROM api_objects")]
    assert statuses == ["completed"], "the run's end is recorded as it was"


def _raising(arguments: dict[str, Any]) -> str:
    raise RuntimeError("backend down")


@pytest.mark.parametrize(("policy_fail", "expected"), [(False, "succeeded"), (True, "failed")])
def test_tool_errors_follow_the_configured_policy(sqlite_url: str, policy_fail: bool, expected: str) -> None:
    """A raising handler sends an error output to the model, or fails the job, as configured; both are stored."""
    registry = ToolRegistry()
    registry.register("calculate", _raising)
    config = ProcessorConfig(fail_job_on_tool_error=policy_fail)
    with step_harness(sqlite_url, tools=registry, config=config) as harness:
        harness.enqueue([job("tool", assistant_id="asst_math", text="What is 2 + 2?")])
        harness.drain()
    assert job_states(sqlite_url) == {"tool": expected}
    (invocation,) = query_rows(sqlite_url, "SELECT name, outcome, error FROM tool_invocations")
    assert (invocation.name, invocation.outcome) == ("calculate", "error")
    assert "backend down" in invocation.error


def test_retry_resumes_a_batch_stopped_by_insufficient_quota(sqlite_url: str) -> None:
    """Once the account is topped up, `retry` (retry_batch + resume_batch) reactivates the stopped batch
    and its parked jobs finish, each on its first attempt (a quota stop fails none)."""
    sim = SimConfig(quota_tokens=40, run_duration_min_s=1, run_duration_max_s=2)
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue([job(f"q{n}", line_no=n) for n in range(1, 9)])
        harness.drain()
        batch_id = harness.repository.batch_id("batch")
        assert batch_id is not None and harness.repository.batch("batch").status == "stopped"  # type: ignore[union-attr]
        simulator = harness.transport._inner.app.state.simulator  # type: ignore[attr-defined]
        simulator.limiters.quota.tokens = 0  # topped up: no quota left to meet
        retried = harness.repository.retry_batch(batch_id, only_failed=True)
        resumed = harness.repository.resume_batch(batch_id)
        for job_id in sorted(set(retried + resumed)):
            harness.wake(job_id)
        harness.drain()
        batch = harness.repository.batch("batch")
    assert retried == [] and resumed  # nothing had failed; the parked jobs were woken
    assert batch is not None and (batch.status, batch.stop_reason) == ("active", None)
    assert set(job_states(sqlite_url).values()) == {"succeeded"}
    assert {row.attempt for row in query_rows(sqlite_url, "SELECT attempt FROM jobs")} == {1}


def test_retry_of_failed_jobs_leaves_the_cancelled_ones(sqlite_url: str) -> None:
    """`retry --failed` starts new attempts of failed jobs only; a plain `retry` takes the cancelled too."""
    with step_harness(sqlite_url) as harness:
        harness.enqueue([job("ghost", assistant_id="asst_does_not_exist", line_no=1), job("ok", line_no=2)])
        harness.drain()
        harness.enqueue([job("stopped", line_no=3)], batch="batch")
        harness.cancel_batch()
        harness.drain()
        batch_id = harness.repository.batch_id("batch")
        assert batch_id is not None
        assert job_states(sqlite_url) == {"ghost": "failed", "ok": "succeeded", "stopped": "cancelled"}
        failed_only = harness.repository.retry_batch(batch_id, only_failed=True)
        assert job_states(sqlite_url) == {"ghost": "pending", "ok": "succeeded", "stopped": "cancelled"}
        everything = harness.repository.retry_batch(batch_id, only_failed=False)
        assert job_states(sqlite_url) == {"ghost": "pending", "ok": "succeeded", "stopped": "pending"}
    ids = {row.custom_id: row.id for row in query_rows(sqlite_url, "SELECT custom_id, id FROM jobs")}
    assert failed_only == [ids["ghost"]] and everything == [ids["stopped"]]
