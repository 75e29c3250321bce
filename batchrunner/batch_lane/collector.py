"""Recording what an ended Batch API batch answered: each output or error line into its job's records.

A line that succeeded becomes the attempt's API object (its output items, messages and usage, in the
``batch`` lane) and ends the job as any response would, a retryable failure included. A line that got
no answer (``batch_expired``, a cancel batchrunner did not ask for) or a retryable error (429, 5xx)
starts a new attempt in the cheapest lane that still meets the job's deadline, while attempts are left.
A job whose line is in neither file is treated as unanswered. Recording is idempotent: a job is moved
on only while it still waits in this submission, so reading the files again after a crash skips the
lines already recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pydantic import ValidationError

from batchrunner.api.models import ApiResponse, ResponseMeta
from batchrunner.backend.base import ObjectSnapshot
from batchrunner.backend.responses.adapter import snapshot_of
from batchrunner.backend.responses.batch_models import BatchOutputLine
from batchrunner.db.api_batches import Submission
from batchrunner.db.repository import JobView, LeaseLost, Repository
from batchrunner.lanes import DEFAULT_FLEX_MODELS, RUNNABLE_LANES, Lane, choose_lane
from batchrunner.metrics import BATCH_LANE_LINES
from batchrunner.recording import RunRecorder
from batchrunner.states import JobState, Phase

log = logging.getLogger(__name__)

BATCH_EXPIRED = "batch_expired"
BATCH_CANCELLED = "batch_cancelled"
# Line answers worth another attempt: the API was busy or broken, not the request.
_RETRYABLE_STATUS = frozenset({408, 409, 429})


@dataclass(frozen=True)
class LineFailure:
    """Why a line got no usable answer."""

    code: str
    message: str
    retryable: bool
    # Whether another attempt may go to the Batch API again (not when the job can never fit it).
    batch_again: bool = True


def failure_of(line: BatchOutputLine) -> LineFailure:
    """What went wrong with a line that did not succeed (an error-file line, or a non-2xx answer)."""
    if line.error is not None:
        code = line.error.code or "batch_line_error"
        return LineFailure(code, line.error.message or code, code in (BATCH_EXPIRED, BATCH_CANCELLED))
    response = line.response
    status = response.status_code if response is not None else 0
    error = response.body.get("error") if response is not None else None
    detail = error if isinstance(error, dict) else {}
    code = str(detail.get("code") or detail.get("type") or f"http_{status}")[:64]
    message = str(detail.get("message") or f"the batch answered this line with HTTP {status}")
    return LineFailure(code, message, status in _RETRYABLE_STATUS or status >= 500)


class LineRecorder:
    """Moves the jobs of one ended submission on, line by line."""

    def __init__(
        self,
        repository: Repository,
        recorder: RunRecorder,
        wake: Callable[[list[int]], None],
        *,
        max_run_attempts: int,
        flex_models: Collection[str] = DEFAULT_FLEX_MODELS,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._repo = repository
        self._recorder = recorder
        self._wake = wake
        self._max_attempts = max_run_attempts
        self._flex_models = flex_models
        self._now = clock or (lambda: datetime.now(UTC))

    def waiting(self, job_ids: list[int]) -> dict[int, JobView]:
        """Those of ``job_ids`` still waiting for their line (others were recorded already, or ended
        otherwise: a deadline passed). Each write names the version read here, so a job that moves on
        meanwhile is skipped, never written twice."""
        views = self._repo.views(job_ids)
        return {job_id: job for job_id, job in views.items() if job.state == JobState.IN_API_BATCH}

    def record(self, submission: Submission, job: JobView, line: BatchOutputLine) -> None:
        """Record ``line``, the answer to ``job``, one of the submission's members."""
        if not line.succeeded:
            self.unanswered(submission, job, failure_of(line))
            return
        try:
            response = line.response_body()
        except ValidationError as error:
            failure = LineFailure("invalid_batch_line", f"the line's body is not a response: {error}", False)
            self.unanswered(submission, job, failure)
            return
        request_id = line.response.request_id if line.response is not None else None
        snapshot = snapshot_of(ApiResponse(response, ResponseMeta(200, request_id=request_id)))
        self._conclude(job, snapshot)

    def _conclude(self, job: JobView, snapshot: ObjectSnapshot) -> None:
        if snapshot.phase is Phase.WORKING:
            # A batch answers a line once it is over; an unfinished one will never be looked at again.
            message = f"the batch answered with a {snapshot.status} response"
            self.unanswered(None, job, LineFailure("batch_response_unfinished", message, True))
            return
        if snapshot.phase is Phase.NEEDS_TOOL_OUTPUTS:
            # Tool rounds never go to the Batch API: a line that asks for one cannot be continued.
            message = "the response asks for tool outputs, which the batch lane cannot answer"
            snapshot = replace(
                snapshot, outcome=JobState.FAILED, error_code="batch_tool_call", error_message=message, retryable=False
            )
        retry = snapshot.retryable and job.attempt < self._max_attempts
        state = JobState.PENDING if retry else (snapshot.outcome or JobState.FAILED)
        try:
            job = self._recorder.record_answered(job, snapshot, list(snapshot.messages or ()), state=state, retry=retry)
            if retry:
                self._next_attempt(job, snapshot.error_code, snapshot.error_message)
        except LeaseLost:  # the job moved on meanwhile (its deadline passed): the newer state stands
            return
        BATCH_LANE_LINES.labels(outcome="retried" if retry else state).inc()

    def unanswered(self, submission: Submission | None, job: JobView, failure: LineFailure) -> None:
        """A line with no usable answer: cancelled with its batch, another attempt, or the job fails."""
        try:
            if failure.code == BATCH_CANCELLED and submission is not None and submission.cancelled:
                self._repo.finish_without_object(
                    job, state=JobState.CANCELLED, code="cancelled", message="batch cancelled"
                )
                BATCH_LANE_LINES.labels(outcome=JobState.CANCELLED).inc()
                return
            if failure.retryable and job.attempt < self._max_attempts:
                self._next_attempt(job, failure.code, failure.message, batch_again=failure.batch_again)
                BATCH_LANE_LINES.labels(outcome="retried").inc()
                return
            self._repo.finish_without_object(job, state=JobState.FAILED, code=failure.code, message=failure.message)
            BATCH_LANE_LINES.labels(outcome=JobState.FAILED).inc()
        except LeaseLost:
            return

    def _next_attempt(self, job: JobView, code: str | None, message: str | None, *, batch_again: bool = True) -> None:
        lane = self._lane_for_retry(job, batch_again=batch_again)
        log.info("job %s: batch line ended %s; attempt %s runs in the %s lane", job.id, code, job.attempt + 1, lane)
        self._repo.retry_in_lane(job, lane, code=code, message=message)
        self._wake([job.id])

    def _lane_for_retry(self, job: JobView, *, batch_again: bool) -> Lane:
        """The cheapest lane that still meets the job's deadline; with none, the batch lane it was put in
        (or standard, when it may not go back)."""
        if job.deadline_at is None:
            return Lane.BATCH if batch_again else Lane.STANDARD
        time_left = job.deadline_at - self._now()
        return choose_lane(
            time_left=max(time_left, timedelta(0)),
            uses_tools=False,
            model=(job.spec.request or {}).get("model"),
            flex_models=self._flex_models,
            offered=RUNNABLE_LANES if batch_again else RUNNABLE_LANES - {Lane.BATCH},
        )


__all__ = ["BATCH_CANCELLED", "BATCH_EXPIRED", "LineFailure", "LineRecorder", "failure_of"]
