"""The state machine with streamed runs: a followed run waits for its stream, not for polls."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from batchrunner.backend.assistants.adapter import AssistantsBackend
from batchrunner.backend.assistants.client import AssistantsClient
from batchrunner.backend.base import Handle, ObjectSnapshot
from batchrunner.db.models import Job
from batchrunner.jobs import JobSpec
from batchrunner.limiter import MemoryBudget
from batchrunner.processor import ProcessorConfig
from batchrunner.testing.harness import job, step_harness

GET_RUN = "GET /v1/threads/{thread_id}/runs/{run_id}"
FALLBACK_S = 45.0


class StreamedBackend(AssistantsBackend):
    """The real backend, reporting every created run as streamed; ``follows`` says if its stream is still open."""

    follows = True

    def __init__(self, client: AssistantsClient) -> None:
        super().__init__(client)
        self.followed: dict[str, int] = {}

    def start(self, job: JobSpec, container_id: str | None, tag: str) -> ObjectSnapshot:
        return replace(super().start(job, container_id, tag), streamed=True)

    def follow(self, object_id: str, job_id: int, round_key: str | None = None) -> bool:
        if self.follows:
            self.followed[object_id] = job_id
        return self.follows

    def is_followed(self, object_id: str) -> bool:
        return object_id in self.followed


class SettledStreams(StreamedBackend):
    follows = False


def _job_row(url: str, job_id: int) -> Any:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(Job.state, Job.object_id, Job.next_wake_at).where(Job.id == job_id)).one()
    finally:
        engine.dispose()


def test_a_followed_run_waits_for_its_stream_until_the_fallback(sqlite_url: str) -> None:
    config = ProcessorConfig(stream_fallback_s=FALLBACK_S)
    with step_harness(sqlite_url, config=config, backend_factory=StreamedBackend) as harness:
        (job_id,) = harness.enqueue([job("streamed")])
        wake = harness.processor.advance(job_id)
        row = _job_row(sqlite_url, job_id)
        assert wake == FALLBACK_S and row.state == "running"
        assert row.next_wake_at == harness.clock.now + timedelta(seconds=FALLBACK_S)
        # The stream settles: the job is due now, once, and only for its own run.
        assert not harness.repository.wake_for_object(job_id, "run_other")
        assert harness.repository.wake_for_object(job_id, row.object_id)
        assert not harness.repository.wake_for_object(job_id, row.object_id), "already due"
        assert _job_row(sqlite_url, job_id).next_wake_at == harness.clock.now
        # Looked at too early (the run is still going), a followed run is not polled again before the fallback.
        assert harness.processor.advance(job_id) == FALLBACK_S


def test_a_stream_that_settled_before_the_commit_makes_the_job_look_now(sqlite_url: str) -> None:
    with step_harness(sqlite_url, backend_factory=SettledStreams) as harness:
        (job_id,) = harness.enqueue([job("fast")])
        assert harness.processor.advance(job_id) == 0.0
        row = _job_row(sqlite_url, job_id)
        assert row.state == "running"
        assert row.next_wake_at == harness.clock.now


def test_followed_runs_are_looked_at_once_each(sqlite_url: str) -> None:
    """With runs shorter than the fallback, each job retrieves its run once: no poll before the stream's word."""
    specs = [job(f"j{n}") for n in range(6)]
    with step_harness(
        sqlite_url, config=ProcessorConfig(stream_fallback_s=FALLBACK_S), backend_factory=StreamedBackend
    ) as harness:
        harness.enqueue(specs)
        harness.drain()
        stats = harness.sim_stats()
    engine = sa.create_engine(sqlite_url)
    with engine.connect() as conn:
        states = set(conn.scalars(sa.text("SELECT state FROM jobs")).all())
    engine.dispose()
    assert states == {"succeeded"}
    assert sum(stats["requests"][GET_RUN].values()) == len(specs)


class KeptEndBackend(StreamedBackend):
    """The run's stream ended and kept its final run: the look answers from it, with no request."""

    def look_is_free(self, handle: Handle) -> bool:
        return True


def test_a_look_answered_from_the_stream_spends_no_budget(sqlite_url: str) -> None:
    budget = MemoryBudget(600, 0, burst_seconds=60, clock=lambda: 0.0)  # a stopped clock: no refill
    with step_harness(sqlite_url, budget=budget, backend_factory=KeptEndBackend) as harness:
        (job_id,) = harness.enqueue([job("kept")])
        harness.processor.advance(job_id)
        assert harness.repository.wake_for_object(job_id, _job_row(sqlite_url, job_id).object_id)
        before = budget.snapshot().remaining_requests
        stats_before = harness.sim_stats()["requests"].get(GET_RUN, {})
        harness.processor.advance(job_id)  # the look (the real GET here; the budget must not count it)
        assert budget.snapshot().remaining_requests == before
        assert sum(harness.sim_stats()["requests"].get(GET_RUN, {}).values()) == sum(stats_before.values()) + 1


def test_a_batch_cancel_reaches_a_followed_run_at_once_not_at_its_fallback(sqlite_url: str) -> None:
    """A followed run's wake-up is the stream's fallback, a minute away: the cancel makes it due now."""
    config = ProcessorConfig(stream_fallback_s=FALLBACK_S)
    with step_harness(sqlite_url, config=config, backend_factory=StreamedBackend) as harness:
        (job_id,) = harness.enqueue([job("streamed")])
        assert harness.processor.advance(job_id) == FALLBACK_S
        harness.queue.clear()
        harness.cancel_batch()
        cancelled_at = harness.clock.now
        harness.step()
        stats = harness.sim_stats()
        assert harness.clock.now == cancelled_at
    assert stats["requests"]["POST /v1/threads/{thread_id}/runs/{run_id}/cancel"] == {"200": 1}
