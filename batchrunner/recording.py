"""Store what a run produced and count it in the metrics, in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from batchrunner.backend.base import MessageRecord, ObjectSnapshot
from batchrunner.db.repository import JobView, Repository
from batchrunner.metrics import (
    RUN_DURATION,
    RUN_RECORD_DELAY,
    RUNS_FINISHED,
    TOKENS,
    TOOL_CALL_DURATION,
    TOOL_CALLS,
)
from batchrunner.polling import DurationTracker
from batchrunner.states import JobState
from batchrunner.tools.runner import ToolResult


class RunRecorder:
    def __init__(self, repository: Repository, durations: DurationTracker) -> None:
        self._repo = repository
        self._durations = durations

    def record_tool_results(self, job: JobView, results: list[ToolResult]) -> JobView:
        job = self._repo.record_tool_results(job, results)
        for result in results:
            TOOL_CALLS.labels(name=result.name, outcome=result.outcome).inc()
            TOOL_CALL_DURATION.labels(name=result.name).observe(result.duration_seconds)
        return job

    def record_finished(
        self, job: JobView, snapshot: ObjectSnapshot, messages: list[MessageRecord], *, state: str, retry: bool
    ) -> JobView:
        job = self._repo.record_finished(job, snapshot, messages, state=state, retry=retry)
        self.count_finished(job, snapshot)
        return job

    def record_answered(
        self, job: JobView, snapshot: ObjectSnapshot, messages: list[MessageRecord], *, state: str, retry: bool
    ) -> JobView:
        """An attempt answered whole by one request (a Batch API line): stored and counted at once."""
        job = self._repo.record_answered(job, snapshot, messages, state=state, retry=retry)
        self.count_finished(job, snapshot)
        return job

    def count_finished(self, job: JobView, snapshot: ObjectSnapshot) -> None:
        """Count one API object that ended (a run, or each response of a chain: each was paid for)."""
        model = snapshot.model or "unknown"
        RUNS_FINISHED.labels(status=snapshot.status, model=model, backend=snapshot.backend).inc()
        usage = snapshot.usage
        if usage is not None:
            TOKENS.labels(model=model, kind="prompt").inc(usage.prompt_tokens)
            TOKENS.labels(model=model, kind="completion").inc(usage.completion_tokens)
            if usage.cached_tokens:
                TOKENS.labels(model=model, kind="cached").inc(usage.cached_tokens)
            if usage.reasoning_tokens:
                TOKENS.labels(model=model, kind="reasoning").inc(usage.reasoning_tokens)
        finished = snapshot.finished_at
        if snapshot.created_at is not None and finished is not None:
            duration = (finished - snapshot.created_at).total_seconds()
            RUN_DURATION.labels(model=model).observe(max(duration, 0.0))
            if snapshot.outcome is JobState.SUCCEEDED and not snapshot.tool_calls:
                self._durations.observe(snapshot.assistant_id or job.spec.assistant_id, snapshot.model, duration)
            RUN_RECORD_DELAY.observe(max((datetime.now(UTC) - finished).total_seconds(), 0.0))
