"""The Batch API lane's driver: puts queued jobs into input files, submits them, follows each batch and
records its answers. ``run_once`` does one round; a worker runs it every ``check_interval_s``.

A submission moves ``preparing`` -> ``uploaded`` -> ``submitted`` -> ``collecting`` -> ``done``
(``states.SubmissionPhase``), committing each id before the next request:

- ``preparing``: its row and its jobs are committed; the input file is built from the jobs and uploaded.
  A crash before the file id is committed leaves an orphan file (never a second batch) and uploads again.
- ``uploaded``: the file id is committed; the batch is created with ``metadata.batchrunner_submission``.
  Resumed after a crash, the driver first looks for a batch with that key or that input file (newest
  first, back to the submission's creation) and adopts it: no second batch for one file.
- ``submitted``: retrieved every ``check_interval_s``; cancelled at the API when its batchrunner batch is.
- ``collecting``: the output and error files are read line by line into the jobs' records
  (``collector.LineRecorder``); a crash reads them again, skipping what was recorded.

Jobs are put in files per batchrunner batch and model (one model per file, the API's rule), within
the file limits, and only while the model's enqueued-token limit has room (the Batch API's own limit,
apart from the per-minute budget): the tokens of the submissions the API holds are counted from the
database, so every driver of the fleet sees the same count.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from batchrunner.api.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    QuotaExhaustedError,
    RequestRejectedError,
)
from batchrunner.backend.responses.batch_client import BatchClient
from batchrunner.backend.responses.batch_models import Batch, iter_output_lines
from batchrunner.batch_lane.collector import BATCH_CANCELLED, BATCH_EXPIRED, LineFailure, LineRecorder
from batchrunner.batch_lane.input_files import MAX_FILE_BYTES, MAX_FILE_LINES, input_line, job_id_of, pack
from batchrunner.db.api_batches import ApiBatchStore, BatchLaneJob, Submission, SubmissionLost
from batchrunner.db.repository import JobView, LeaseLost, Repository
from batchrunner.faults import FaultHook, no_faults
from batchrunner.metrics import API_BATCHES_ENDED, BATCH_LANE_SUBMITTED_LINES
from batchrunner.processor import run_tag
from batchrunner.states import JobState, SubmissionPhase

log = logging.getLogger(__name__)

# The batch's metadata key that names its submission (found again after a crash).
SUBMISSION_KEY = "batchrunner_submission"
_CANCELLABLE = frozenset({"validating", "in_progress"})
_NOT_YET_SUBMITTED = frozenset({SubmissionPhase.PREPARING, SubmissionPhase.UPLOADED})
# How far back from a submission's creation its batch may have been created (clocks differ).
_CLOCK_SLACK = timedelta(hours=1)
_LIST_PAGE = 100
# A batch refused because the model's enqueued tokens would pass the organization's limit.
TOKEN_LIMIT_EXCEEDED = "token_limit_exceeded"


@dataclass(frozen=True)
class BatchLaneConfig:
    check_interval_s: float = 30.0
    # How long one driver holds a submission it works on before another may take it over.
    lease_s: float = 600.0
    max_file_lines: int = MAX_FILE_LINES
    max_file_bytes: int = MAX_FILE_BYTES
    # Enqueued tokens the Batch API allows per model (0: no limit known); ``default_enqueued_tokens``
    # for models not named.
    enqueued_token_limits: Mapping[str, int] = field(default_factory=dict)
    default_enqueued_tokens: int = 0
    max_run_attempts: int = 3
    # Threads that record an ended batch's lines (each line is a few database round trips).
    recording_threads: int = 4
    # Queued jobs read at a time (a full file's worth); a round reads on while it fills files.
    max_queued_per_round: int = MAX_FILE_LINES

    def token_limit(self, model: str) -> int:
        return self.enqueued_token_limits.get(model, self.default_enqueued_tokens)


class BatchLane:
    def __init__(
        self,
        store: ApiBatchStore,
        repository: Repository,
        client: BatchClient,
        lines: LineRecorder,
        wake: Callable[[list[int]], None],
        config: BatchLaneConfig | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        fault_hook: FaultHook = no_faults,
    ) -> None:
        self._store = store
        self._repo = repository
        self._client = client
        self._lines = lines
        self._wake = wake
        self._config = config or BatchLaneConfig()
        self._now = clock or (lambda: datetime.now(UTC))
        self._fault = fault_hook

    def run_once(self) -> None:
        """Submit what is queued, then move every due submission on (each one's failure is its own)."""
        while True:
            opened, read = self._submit_queued()
            for submission in opened:
                self._drive_safely(submission, fresh=True)
            if not opened or read < self._config.max_queued_per_round:
                break
        now = self._now()
        for submission in self._store.claim_due(now=now, lease_until=self._lease_end()):
            self._drive_safely(submission, fresh=False)

    def has_work(self) -> bool:
        return self._store.open_count() > 0 or bool(self._store.queued_jobs(1))

    # -- forming submissions ----------------------------------------------------------------------

    def _lease_end(self) -> datetime:
        return self._now() + timedelta(seconds=self._config.lease_s)

    def _submit_queued(self) -> tuple[list[Submission], int]:
        """Open submissions for a slice of the queue; them, and how many queued jobs were read."""
        queued = self._store.queued_jobs(self._config.max_queued_per_round)
        if not queued:
            return [], 0
        enqueued = self._store.enqueued_tokens()
        groups: dict[tuple[int, str], list[BatchLaneJob]] = defaultdict(list)
        for job in queued:
            groups[(job.batch_id, job.model)].append(job)
        opened: list[Submission] = []
        for (batch_id, model), jobs in groups.items():
            for file_jobs in self._files(model, jobs, enqueued):
                result = self._store.open_submission(batch_id, model, file_jobs, lease_until=self._lease_end())
                if result is not None:
                    opened.append(result[0])
                    enqueued[model] = enqueued.get(model, 0) + result[0].estimated_tokens
        return opened, len(queued)

    def _files(self, model: str, jobs: list[BatchLaneJob], enqueued: dict[str, int]) -> Iterable[list[BatchLaneJob]]:
        """The input files ``jobs`` fill now, within the file limits and the model's enqueued-token room."""
        limit = self._config.token_limit(model)
        room = limit - enqueued.get(model, 0) if limit > 0 else None
        fitting: list[BatchLaneJob] = []
        for job in jobs:
            if limit > 0 and job.estimated_tokens > limit:
                self._too_large_for_limit(job, limit)
                continue
            if room is not None:
                if job.estimated_tokens > room:
                    break  # the rest waits until batches the API holds end
                room -= job.estimated_tokens
            fitting.append(job)
        encoded = [(job, input_line(job, run_tag(job.batch_name, job.custom_id, job.attempt))) for job in fitting]
        for file_lines in pack(encoded, max_lines=self._config.max_file_lines, max_bytes=self._config.max_file_bytes):
            yield [job for job, _ in file_lines]

    def _too_large_for_limit(self, job: BatchLaneJob, limit: int) -> None:
        view = self._repo.view(job.id)
        if view is None or view.state != JobState.BATCH_QUEUED:
            return
        message = (
            f"the job's estimated {job.estimated_tokens} tokens exceed the Batch API's enqueued-token limit of "
            f"{limit} for {job.model}"
        )
        with contextlib.suppress(LeaseLost):
            self._lines.unanswered(None, view, LineFailure("batch_token_limit", message, True, batch_again=False))

    # -- moving a submission on -------------------------------------------------------------------

    def _drive_safely(self, submission: Submission, *, fresh: bool) -> None:
        try:
            self._drive(submission, fresh=fresh)
        except SubmissionLost:
            log.info("submission %s: taken over by another driver", submission.id)
        except QuotaExhaustedError as error:
            # As for any job: the batch stops, resumable once the quota is raised (``batchrunner resume``).
            log.error("submission %s: %s; stopping batch %s", submission.id, error, submission.batch_name)
            self._repo.stop_batch(submission.batch_id, f"insufficient_quota: {error.message}")
            self._check_later(submission)
        except RequestRejectedError as error:
            # The phase it reached in this call: a refusal once the batch exists must not send its jobs elsewhere.
            phase = (self._store.submission(submission.id) or submission).phase
            if isinstance(error, AuthenticationError) or phase not in _NOT_YET_SUBMITTED:
                log.warning("submission %s (%s): %s; retrying later", submission.id, submission.phase, error)
                self._check_later(submission)
            else:
                self._refused(submission, error)
        except ApiError as error:
            # The API refused or failed: look again next round (the lease is handed back).
            log.warning("submission %s (%s): %s; retrying later", submission.id, submission.phase, error)
            self._check_later(submission)

    def _refused(self, submission: Submission, error: RequestRejectedError) -> None:
        """The API refused the input file or the batch: its jobs run in another lane (the Batch API
        would refuse them again), within their attempts."""
        latest = self._store.submission(submission.id) or submission
        log.warning("submission %s: the Batch API refused it (%s); its jobs go to another lane", latest.id, error)
        code = (error.code or f"http_{error.status_code}")[:64]
        failure = LineFailure(code, f"the Batch API refused the batch: {error.message}", True, batch_again=False)
        members = self._lines.waiting([job.id for job in self._store.members(latest)])
        for job in members.values():
            self._lines.unanswered(latest, job, failure)
        self._store.advance(
            latest, phase=SubmissionPhase.DONE, error_message=error.message[:2000], finished_at=self._now()
        )

    def _check_later(self, submission: Submission) -> None:
        latest = self._store.submission(submission.id)
        if latest is None or latest.phase is SubmissionPhase.DONE:
            return
        with contextlib.suppress(SubmissionLost):
            self._store.advance(latest, next_check_at=self._now() + timedelta(seconds=self._config.check_interval_s))

    def _drive(self, submission: Submission, *, fresh: bool) -> None:
        if submission.phase is SubmissionPhase.PREPARING:
            if submission.cancelled:
                return self._drop(submission)
            submission = self._upload(submission)
            fresh = True
        if submission.phase is SubmissionPhase.UPLOADED:
            if submission.cancelled:
                return self._drop(submission)
            submission = self._create(submission, fresh=fresh)
        if submission.phase is SubmissionPhase.SUBMITTED:
            submission = self._follow(submission)
        if submission.phase is SubmissionPhase.COLLECTING:
            self._collect(submission)
        return None

    def _upload(self, submission: Submission) -> Submission:
        members = self._store.members(submission)
        if not members:
            return self._store.advance(submission, phase=SubmissionPhase.DONE, finished_at=self._now())
        content = b"".join(input_line(job, run_tag(job.batch_name, job.custom_id, job.attempt)) for job in members)
        uploaded = self._client.upload_file(content, f"batchrunner-{submission.key}.jsonl").data
        self._fault("after_batch_upload")
        BATCH_LANE_SUBMITTED_LINES.inc(len(members))
        return self._store.advance(submission, phase=SubmissionPhase.UPLOADED, input_file_id=uploaded.id)

    def _create(self, submission: Submission, *, fresh: bool) -> Submission:
        assert submission.input_file_id is not None
        batch = None if fresh else self._find_created(submission)
        if batch is None:
            batch = self._client.create_batch(submission.input_file_id, metadata={SUBMISSION_KEY: submission.key}).data
            self._fault("after_batch_create")
        else:
            log.info("submission %s: adopted batch %s created before a crash", submission.id, batch.id)
        return self._store.advance(
            submission,
            phase=SubmissionPhase.SUBMITTED,
            api_batch_id=batch.id,
            api_status=batch.status[:32],
            next_check_at=self._now() + timedelta(seconds=self._config.check_interval_s),
        )

    def _find_created(self, submission: Submission) -> Batch | None:
        """The batch created for the submission before a crash, by its key or input file; None if none was."""
        oldest = (submission.created_at - _CLOCK_SLACK).timestamp()
        after: str | None = None
        while True:
            page = self._client.list_batches(after=after, limit=_LIST_PAGE).data
            for batch in page.data:
                if (
                    batch.metadata.get(SUBMISSION_KEY) == submission.key
                    or batch.input_file_id == submission.input_file_id
                ):
                    return batch
            older = [b for b in page.data if b.created_at is not None and b.created_at < oldest]
            if older or not page.has_more or not page.data:
                return None
            after = page.data[-1].id

    def _follow(self, submission: Submission) -> Submission:
        assert submission.api_batch_id is not None
        try:
            batch = self._client.retrieve_batch(submission.api_batch_id).data
        except NotFoundError:
            log.warning("submission %s: the API no longer has batch %s", submission.id, submission.api_batch_id)
            return self._store.advance(submission, phase=SubmissionPhase.COLLECTING, api_status="not_found")
        if submission.cancelled and batch.status in _CANCELLABLE:
            batch = self._client.cancel_batch(batch.id).data
        counts = batch.request_counts
        progress = {
            "api_status": batch.status[:32],
            "completed_lines": counts.completed,
            "failed_lines": counts.failed,
        }
        if not batch.is_final:
            return self._store.advance(
                submission, next_check_at=self._now() + timedelta(seconds=self._config.check_interval_s), **progress
            )
        API_BATCHES_ENDED.labels(status=batch.status).inc()
        errors = "; ".join(f"{e.code}: {e.message}" + (f" (line {e.line})" if e.line else "") for e in batch.errors)
        return self._store.advance(
            submission,
            phase=SubmissionPhase.COLLECTING,
            output_file_id=batch.output_file_id,
            error_file_id=batch.error_file_id,
            error_message=errors or None,
            **progress,
        )

    def _collect(self, submission: Submission) -> None:
        if submission.api_status == "failed" and TOKEN_LIMIT_EXCEEDED in (submission.error_message or ""):
            # Nothing ran: the lines wait in the queue for a later file (no attempt is spent).
            requeued = self._store.requeue_members(submission)
            log.warning(
                "submission %s: the Batch API's enqueued-token limit for %s is reached; %s jobs wait in the queue "
                "(set BATCHRUNNER_BATCH_ENQUEUED_TOKEN_LIMITS to stay under it)",
                submission.id,
                submission.model,
                len(requeued),
            )
        waiting = self._lines.waiting([job.id for job in self._store.members(submission)])
        for file_id in (submission.output_file_id, submission.error_file_id):
            if file_id and waiting:
                self._record_file(submission, file_id, waiting)
        if waiting:
            self._unanswered(submission, waiting)
        self._store.advance(submission, phase=SubmissionPhase.DONE, finished_at=self._now())
        log.info(
            "submission %s: batch %s ended %s; its %s lines are recorded",
            submission.id,
            submission.api_batch_id,
            submission.api_status,
            submission.lines,
        )

    def _record_file(self, submission: Submission, file_id: str, waiting: dict[int, JobView]) -> None:
        """Record each line of the file whose job still waits. Lines are independent (one job each) and
        recording one is mostly waiting on the database, so a few threads record them side by side."""
        with (
            self._client.stream_file_content(file_id) as chunks,
            ThreadPoolExecutor(self._config.recording_threads, thread_name_prefix="batch-lines") as pool,
        ):
            pending: set[Future[None]] = set()
            for line in iter_output_lines(chunks, file_id=file_id):
                job_id = job_id_of(line.custom_id)
                job = waiting.pop(job_id, None) if job_id is not None else None
                if job is None:
                    continue
                pending.add(pool.submit(self._lines.record, submission, job, line))
                if len(pending) >= 4 * self._config.recording_threads:  # read no further ahead than this
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        future.result()
            for future in pending:
                future.result()

    def _unanswered(self, submission: Submission, waiting: dict[int, JobView]) -> None:
        """Jobs the batch gave no line: a failed batch names the input lines it refused."""
        named = self._refused_lines(submission)
        for job in waiting.values():
            self._lines.unanswered(submission, job, named.get(job.id) or self._batch_failure(submission))

    def _refused_lines(self, submission: Submission) -> dict[int, LineFailure]:
        """job id -> why the batch refused its line, for a failed batch whose errors name lines (1-based in
        the input file, read back to know whose line it was)."""
        if submission.api_status != "failed" or submission.api_batch_id is None or submission.input_file_id is None:
            return {}
        try:
            errors = [e for e in self._client.retrieve_batch(submission.api_batch_id).data.errors if e.line]
            content = self._client.file_content(submission.input_file_id) if errors else b""
        except NotFoundError:
            return {}
        custom_ids = [json.loads(line).get("custom_id", "") for line in content.splitlines() if line.strip()]
        by_job: dict[int, LineFailure] = {}
        for error in errors:
            assert error.line is not None
            job_id = job_id_of(custom_ids[error.line - 1]) if 1 <= error.line <= len(custom_ids) else None
            if job_id is not None:
                code = error.code or "invalid_batch_line"
                by_job[job_id] = LineFailure(code, error.message or code, False)
        return by_job

    @staticmethod
    def _batch_failure(submission: Submission) -> LineFailure:
        status = submission.api_status or "unknown"
        if status == "cancelled":
            return LineFailure(BATCH_CANCELLED, "the batch was cancelled before answering this line", True)
        if status == "failed":
            message = f"the Batch API refused the batch: {submission.error_message or 'no reason given'}"
            return LineFailure("batch_failed", message, True)
        return LineFailure(BATCH_EXPIRED, f"the batch ended {status} without answering this line", True)

    def _drop(self, submission: Submission) -> None:
        """A submission whose batch was cancelled before it reached the API: its jobs end cancelled."""
        for job in self._store.members(submission):
            view = self._repo.view(job.id)
            if view is None or view.state != JobState.IN_API_BATCH:
                continue
            try:
                self._repo.finish_without_object(
                    view, state=JobState.CANCELLED, code="cancelled", message="batch cancelled"
                )
            except LeaseLost:
                continue
        if submission.input_file_id is not None:
            try:
                self._client.delete_file(submission.input_file_id)
            except ApiError:
                log.warning("submission %s: could not delete input file %s", submission.id, submission.input_file_id)
        self._store.advance(submission, phase=SubmissionPhase.DONE, finished_at=self._now())


__all__ = ["SUBMISSION_KEY", "TOKEN_LIMIT_EXCEEDED", "BatchLane", "BatchLaneConfig"]
