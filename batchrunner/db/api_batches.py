"""Every query of the Batch API lane: submissions (``api_batches``) and the jobs they hold.

A submission is claimed like a job: its ``next_check_at`` is moved past the work (a lease) with a
compare-and-set on ``version``, and each later write names the version it holds (``SubmissionLost``
if another driver took it over). Jobs join a submission in the transaction that creates it, only while
they are still queued and in no other one, so two drivers never put one job in two input files.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete, func, insert, select, update

from batchrunner.db.models import ApiBatch, Batch, Job
from batchrunner.jobs import JobSpec
from batchrunner.states import ENQUEUED_PHASES, BatchStatus, JobState, SubmissionPhase

# Ids bound in one statement: SQLite allows 32,766 variables, a file holds up to 50,000 jobs.
_IDS_PER_STATEMENT = 10_000


class SubmissionLost(Exception):
    """Another driver took the submission over since this one claimed it; drop what this one was doing."""


@dataclass(frozen=True)
class BatchLaneJob:
    """A job of the batch lane as an input file needs it."""

    id: int
    batch_id: int
    batch_name: str
    custom_id: str
    attempt: int
    spec: JobSpec
    estimated_tokens: int

    @property
    def model(self) -> str:
        return str((self.spec.request or {}).get("model") or "")


@dataclass(frozen=True)
class Submission:
    id: int
    key: str
    version: int
    batch_id: int
    batch_name: str
    batch_status: str
    model: str
    phase: SubmissionPhase
    lines: int
    estimated_tokens: int
    input_file_id: str | None
    api_batch_id: str | None
    api_status: str | None
    output_file_id: str | None
    error_file_id: str | None
    error_message: str | None
    created_at: datetime

    @property
    def cancelled(self) -> bool:
        """Its batchrunner batch was cancelled: nothing more is submitted, and the API batch is cancelled."""
        return self.batch_status == BatchStatus.CANCELLED


_SUBMISSION_COLUMNS = (
    ApiBatch.id,
    ApiBatch.key,
    ApiBatch.version,
    ApiBatch.batch_id,
    Batch.name,
    Batch.status,
    ApiBatch.model,
    ApiBatch.phase,
    ApiBatch.lines,
    ApiBatch.estimated_tokens,
    ApiBatch.input_file_id,
    ApiBatch.api_batch_id,
    ApiBatch.api_status,
    ApiBatch.output_file_id,
    ApiBatch.error_file_id,
    ApiBatch.error_message,
    ApiBatch.created_at,
)
_JOB_COLUMNS = (Job.id, Job.batch_id, Batch.name, Job.custom_id, Job.attempt, Job.spec, Job.estimated_tokens)


def _submission(row: Any) -> Submission:
    values = list(row)
    values[7] = SubmissionPhase(values[7])
    created = values[-1]
    values[-1] = created if created.tzinfo else created.replace(tzinfo=UTC)
    return Submission(*values)


def _job(row: Any) -> BatchLaneJob:
    job_id, batch_id, batch_name, custom_id, attempt, spec, estimated = row
    return BatchLaneJob(job_id, batch_id, batch_name, custom_id, attempt, JobSpec.from_json(spec), estimated)


def new_submission_key() -> str:
    """The submission's name at the API (``metadata.batchrunner_submission``): unique, chosen before upload."""
    return f"brsub-{uuid.uuid4().hex}"


class ApiBatchStore:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] | None = None) -> None:
        self._engine = engine
        self._now = clock or (lambda: datetime.now(UTC))

    # -- jobs waiting for an input file -----------------------------------------------------------

    def queued_jobs(self, limit: int) -> list[BatchLaneJob]:
        """Queued jobs of active batches, oldest first, in no submission yet."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(*_JOB_COLUMNS)
                .join(Batch, Batch.id == Job.batch_id)
                .where(
                    Job.state == JobState.BATCH_QUEUED,
                    Job.api_batch_pk.is_(None),
                    Batch.status == BatchStatus.ACTIVE,
                )
                .order_by(Job.id)
                .limit(limit)
            ).all()
        return [_job(row) for row in rows]

    def enqueued_tokens(self) -> dict[str, int]:
        """Tokens of the submissions the API holds (or is about to), by model: the enqueued-token limit's count."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(ApiBatch.model, func.sum(ApiBatch.estimated_tokens))
                .where(ApiBatch.phase.in_(sorted(ENQUEUED_PHASES)))
                .group_by(ApiBatch.model)
            ).all()
        return {model: int(tokens or 0) for model, tokens in rows}

    def open_submission(
        self, batch_id: int, model: str, jobs: list[BatchLaneJob], *, lease_until: datetime
    ) -> tuple[Submission, list[BatchLaneJob]] | None:
        """Commit a new submission holding those of ``jobs`` still queued (with its lease); None if none is."""
        now = self._now()
        wanted = {job.id: job for job in jobs}
        with self._engine.begin() as connection:
            pk = connection.execute(
                insert(ApiBatch)
                .values(
                    key=new_submission_key(),
                    batch_id=batch_id,
                    model=model,
                    phase=SubmissionPhase.PREPARING,
                    next_check_at=lease_until,
                    created_at=now,
                    updated_at=now,
                )
                .returning(ApiBatch.id)
            ).scalar_one()
            ids = sorted(wanted)
            taken: list[int] = []
            for start in range(0, len(ids), _IDS_PER_STATEMENT):
                taken += connection.scalars(
                    update(Job)
                    .where(
                        Job.id.in_(ids[start : start + _IDS_PER_STATEMENT]),
                        Job.state == JobState.BATCH_QUEUED,
                        Job.api_batch_pk.is_(None),
                    )
                    .values(state=JobState.IN_API_BATCH, api_batch_pk=pk, version=Job.version + 1, updated_at=now)
                    .returning(Job.id)
                ).all()
            if not taken:
                connection.execute(delete(ApiBatch).where(ApiBatch.id == pk))
                return None
            members = [wanted[job_id] for job_id in sorted(taken)]
            connection.execute(
                update(ApiBatch)
                .where(ApiBatch.id == pk)
                .values(lines=len(members), estimated_tokens=sum(job.estimated_tokens for job in members))
            )
        submission = self.submission(pk)
        assert submission is not None
        return submission, members

    def members(self, submission: Submission) -> list[BatchLaneJob]:
        """The jobs whose line the submission still owes an answer, in input-file order."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(*_JOB_COLUMNS)
                .join(Batch, Batch.id == Job.batch_id)
                .where(Job.api_batch_pk == submission.id, Job.state == JobState.IN_API_BATCH)
                .order_by(Job.id)
            ).all()
        return [_job(row) for row in rows]

    def requeue_members(self, submission: Submission) -> list[int]:
        """Put the submission's unanswered jobs back in the queue (same attempt); their ids."""
        now = self._now()
        with self._engine.begin() as connection:
            ids = connection.scalars(
                update(Job)
                .where(Job.api_batch_pk == submission.id, Job.state == JobState.IN_API_BATCH)
                .values(state=JobState.BATCH_QUEUED, api_batch_pk=None, version=Job.version + 1, updated_at=now)
                .returning(Job.id)
            ).all()
        return sorted(ids)

    # -- submissions ------------------------------------------------------------------------------

    def submission(self, pk: int) -> Submission | None:
        with self._engine.connect() as connection:
            row = connection.execute(
                select(*_SUBMISSION_COLUMNS).join(Batch, Batch.id == ApiBatch.batch_id).where(ApiBatch.id == pk)
            ).first()
        return _submission(row) if row is not None else None

    def claim_due(self, *, now: datetime, lease_until: datetime, limit: int = 100) -> list[Submission]:
        """Unfinished submissions due for a look, each leased to this driver until ``lease_until``."""
        with self._engine.connect() as connection:
            due = connection.execute(
                select(ApiBatch.id, ApiBatch.version)
                .where(ApiBatch.phase != SubmissionPhase.DONE, ApiBatch.next_check_at <= now)
                .order_by(ApiBatch.next_check_at)
                .limit(limit)
            ).all()
        claimed = []
        for pk, version in due:
            with self._engine.begin() as connection:
                won = connection.execute(
                    update(ApiBatch)
                    .where(ApiBatch.id == pk, ApiBatch.version == version)
                    .values(version=version + 1, next_check_at=lease_until, updated_at=now)
                ).rowcount
            if won == 1:
                submission = self.submission(pk)
                if submission is not None:
                    claimed.append(submission)
        return claimed

    def advance(self, submission: Submission, **values: Any) -> Submission:
        """Write ``values`` (columns of ``api_batches``) at the version held; the submission as written."""
        now = self._now()
        with self._engine.begin() as connection:
            won = connection.execute(
                update(ApiBatch)
                .where(ApiBatch.id == submission.id, ApiBatch.version == submission.version)
                .values(version=submission.version + 1, updated_at=now, **values)
            ).rowcount
        if won != 1:
            raise SubmissionLost(f"submission {submission.id} moved past version {submission.version}")
        fields = {key: value for key, value in values.items() if key in Submission.__dataclass_fields__}
        return replace(submission, version=submission.version + 1, **fields)

    def open_count(self) -> int:
        with self._engine.connect() as connection:
            return int(
                connection.scalar(
                    select(func.count()).select_from(ApiBatch).where(ApiBatch.phase != SubmissionPhase.DONE)
                )
                or 0
            )


__all__ = ["ApiBatchStore", "BatchLaneJob", "Submission", "SubmissionLost", "new_submission_key"]
