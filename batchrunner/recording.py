"""Store what a run produced and count it in the metrics, in one place."""

from __future__ import annotations

from datetime import UTC, datetime

from batchrunner.backend.base import MessageRecord, RunSnapshot
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
        self, job: JobView, snapshot: RunSnapshot, messages: list[MessageRecord], *, state: str, retry: bool
    ) -> JobView:
        job = self._repo.record_finished(job, snapshot, messages, state=state, retry=retry)
        model = snapshot.model or "unknown"
        RUNS_FINISHED.labels(status=snapshot.status, model=model).inc()
        if snapshot.usage is not None:
            TOKENS.labels(model=model, kind="prompt").inc(snapshot.usage.prompt_tokens)
            TOKENS.labels(model=model, kind="completion").inc(snapshot.usage.completion_tokens)
        finished = snapshot.finished_at
        if snapshot.created_at is not None and finished is not None:
            duration = (finished - snapshot.created_at).total_seconds()
            RUN_DURATION.labels(model=model).observe(max(duration, 0.0))
            if snapshot.status == "completed":
                self._durations.observe(snapshot.assistant_id, snapshot.model, duration)
            RUN_RECORD_DELAY.observe(max((datetime.now(UTC) - finished).total_seconds(), 0.0))
        return job
