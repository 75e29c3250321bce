"""Every query batchrunner makes. Job transitions are compare-and-set updates on ``jobs.version``.

A step first *claims* a job (``claim``): the update succeeds only for a non-terminal job whose wake-up is
due, and moves ``next_wake_at`` past the step (a lease). Every later write of that step names the version
it claimed; if another worker claimed the job after the lease ran out, the write matches no row and
raises ``LeaseLost`` instead of overwriting newer state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import Connection, CursorResult, Engine, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from batchrunner.backend.base import (
    DetailRecord,
    MessageRecord,
    ObjectSnapshot,
    OutputItemRecord,
    StepRecord,
    UsageRecord,
    is_retryable_failure,
)
from batchrunner.db import step_statements as statements
from batchrunner.db.job_rows import rows_of
from batchrunner.db.models import (
    ApiObject,
    AssistantRunStep,
    Batch,
    ContainerLock,
    Job,
    ResponseOutputItem,
    ToolInvocation,
)
from batchrunner.db.new_jobs import insert_job_rows
from batchrunner.deadlines import DEADLINE_EXCEEDED, Deadline
from batchrunner.jobs import JobSpec
from batchrunner.lanes import Lane, running_lane
from batchrunner.states import TERMINAL_JOB_STATES, JobState, Phase
from batchrunner.tools.runner import ToolOutcome, ToolResult

TERMINAL_STATES = tuple(sorted(TERMINAL_JOB_STATES))
# Waiting on nothing but a resume or a cancel: no wake-up, or only the one at the job's deadline
# (a step's lease is never clamped to the deadline, so this is never a step in progress).
_PARKED = or_(Job.next_wake_at.is_(None), Job.next_wake_at == Job.deadline_at)
# Written on a job when a cancel was sent for its API object: a late completion is recorded, not believed.
CANCEL_REQUESTED = "cancel_requested"
# A due wake-up may be delivered a little early by the broker's clock; accept it.
_WAKE_TOLERANCE = timedelta(milliseconds=500)


def output_text(messages: list[MessageRecord]) -> str:
    return "\n\n".join(m.text for m in messages if m.role == "assistant" and m.text)


class LeaseLost(Exception):
    """Another worker claimed the job since this step did; the step's result must be dropped."""


# Named as JobView's fields; the batch's name and status come with them.
_JOB_VIEW_COLUMNS = (
    Job.id,
    Job.version,
    Job.batch_id,
    Job.custom_id,
    Job.spec,
    Job.backend,
    Job.state,
    Job.attempt,
    Job.tool_rounds,
    Job.container_id,
    Job.object_id,
    Job.target_container_id,
    Job.step_retries,
    Job.estimated_tokens,
    Job.error_code,
    Job.deadline_at,
    Job.lane,
)


_BATCH_OF_JOB = Batch.id == Job.batch_id
# Built once: a statement built per call spends more CPU on its cache key than the database on it.
_CLAIM = (
    update(Job)
    .where(
        Job.id == bindparam("job_id"),
        Job.state.not_in(TERMINAL_STATES),
        Job.next_wake_at <= bindparam("due_by"),
    )
    .values(version=Job.version + 1, next_wake_at=bindparam("lease_until"), updated_at=bindparam("now"))
    .returning(
        *_JOB_VIEW_COLUMNS,
        select(Batch.name).where(_BATCH_OF_JOB).scalar_subquery().label("batch_name"),
        select(Batch.status).where(_BATCH_OF_JOB).scalar_subquery().label("batch_status"),
    )
)


_VIEWS = select(
    *_JOB_VIEW_COLUMNS,
    select(Batch.name).where(_BATCH_OF_JOB).scalar_subquery().label("batch_name"),
    select(Batch.status).where(_BATCH_OF_JOB).scalar_subquery().label("batch_status"),
).where(Job.id.in_(bindparam("job_ids", expanding=True)))


class ResultRow(NamedTuple):
    """A job as ``results`` shows it: its ``RESULT_COLUMNS`` (after its id), and its newest API object
    as (id, status, how many it made), (None, None, 0) when it made none."""

    job: tuple[Any, ...]
    latest: tuple[str | None, str | None, int]


# What ``results`` shows of a job, in this order.
RESULT_COLUMNS = (
    Job.line_no,
    Job.custom_id,
    Job.state,
    Job.backend,
    Job.container_id,
    Job.object_id,
    Job.attempt,
    Job.output_text,
    Job.prompt_tokens,
    Job.completion_tokens,
    Job.total_tokens,
    Job.error_code,
    Job.error_message,
)
_NO_OBJECT: tuple[str | None, str | None, int] = (None, None, 0)


@dataclass(frozen=True)
class JobView:
    id: int
    version: int
    batch_id: int
    batch_name: str
    batch_status: str
    custom_id: str
    spec: JobSpec
    backend: str
    state: str
    attempt: int
    tool_rounds: int
    container_id: str | None
    object_id: str | None
    target_container_id: str | None
    step_retries: int
    estimated_tokens: int
    error_code: str | None
    deadline_at: datetime | None = None

    @property
    def cancel_requested(self) -> bool:
        """A cancel was sent for the job's object: for its batch, or because its deadline passed."""
        return self.error_code in (CANCEL_REQUESTED, DEADLINE_EXCEEDED)

    @property
    def stopped_state(self) -> JobState:
        """The state a job ends in when batchrunner stopped it: expired at its deadline, else cancelled."""
        return JobState.EXPIRED if self.error_code == DEADLINE_EXCEEDED else JobState.CANCELLED

    def past_deadline(self, now: datetime) -> bool:
        return self.deadline_at is not None and now >= self.deadline_at


def _job_view(mapping: Any) -> JobView:
    values = dict(mapping)
    # The lane the job runs in now (a flex job may have fallen back to standard), not the line's.
    values["spec"] = replace(JobSpec.from_json(values["spec"]), lane=values.pop("lane") or Lane.STANDARD.value)
    return JobView(**values)


def _stop_error(job: JobView, snapshot: ObjectSnapshot) -> dict[str, str]:
    """Why batchrunner stopped a job whose object ended after the cancel it sent."""
    if job.stopped_state is JobState.EXPIRED:
        assert job.deadline_at is not None
        message = f"the job's deadline ({job.deadline_at.isoformat()}) passed; the API object ended {snapshot.status}"
        return {"error_code": DEADLINE_EXCEEDED, "error_message": message}
    if snapshot.outcome is JobState.CANCELLED:
        return {}
    message = f"batch cancelled; the API object ended {snapshot.status} after the cancel"
    return {"error_code": "cancelled", "error_message": message}


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Repository:
    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime] | None = None) -> None:
        self._sessions = session_factory
        # A step's writes go through Core on the engine: the ORM's unit of work would only add CPU.
        self._engine: Engine = session_factory.kw["bind"]
        self._postgres = self._engine.dialect.name == "postgresql"
        self._now = clock or (lambda: datetime.now(UTC))
        # The version each thread last wrote, so a step's error handler can release the job it holds.
        self._written = threading.local()

    @property
    def engine(self) -> Engine:
        return self._engine

    # -- batches and enqueueing -------------------------------------------------------------------

    def get_or_create_batch(self, name: str, source_file: str | None = None) -> int:
        with self._sessions.begin() as session:
            return self._batch_in(session, name, source_file)

    def _batch_in(self, session: Session, name: str, source_file: str | None) -> int:
        batch_id = session.scalar(select(Batch.id).where(Batch.name == name))
        if batch_id is not None:
            return batch_id
        now = self._now()
        stmt = (
            self._insert(Batch)
            .values(name=name, status="active", source_file=source_file, created_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        session.execute(stmt)
        found = session.scalar(select(Batch.id).where(Batch.name == name))
        assert found is not None
        return found

    def add_job_rows(
        self, batch: int | str, rows: list[bytes], *, source_file: str | None = None
    ) -> tuple[int, list[int]]:
        """Add the jobs of ``rows`` (``job_rows``) whose custom_id is new to the batch, in one transaction.

        ``batch`` is a batch id, or a name: that batch, created if new in the same transaction (a failure
        leaves neither a batch nor a job behind). Returns the batch id and the new jobs' ids.
        """
        with self._sessions.begin() as session:
            batch_id = batch if isinstance(batch, int) else self._batch_in(session, batch, source_file)
            return batch_id, insert_job_rows(session, batch_id, rows, self._now())

    def now(self) -> datetime:
        return self._now()

    def batch_id(self, name: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(Batch.id).where(Batch.name == name))

    def add_batch_jobs(
        self,
        batch: int | str,
        specs: Iterable[JobSpec],
        *,
        source_file: str | None = None,
        deadline: Deadline | None = None,
    ) -> tuple[int, list[int]]:
        """``add_job_rows`` for specs in memory: a job's deadline is the earlier of its own and
        ``deadline``, durations counted from now."""
        now = self._now()
        rows = rows_of(specs, now, deadline.resolve(now) if deadline is not None else None)
        return self.add_job_rows(batch, rows, source_file=source_file)

    def insert_jobs(self, batch_id: int, specs: Iterable[JobSpec], *, deadline: Deadline | None = None) -> list[int]:
        """Insert the jobs whose custom_id is new to the batch; return the new jobs' ids."""
        return self.add_batch_jobs(batch_id, specs, deadline=deadline)[1]

    def set_batch_status(self, batch_id: int, status: str, reason: str | None = None) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                update(Batch)
                .where(Batch.id == batch_id)
                .values(status=status, stop_reason=reason, updated_at=self._now())
            )

    def stop_batch(self, batch_id: int, reason: str) -> None:
        """Stop a batch (quota exhausted): its jobs stay resumable where they are."""
        with self._engine.begin() as connection:
            connection.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.status == "active")
                .values(status="stopped", stop_reason=reason, updated_at=self._now())
            )

    def resume_batch(self, batch_id: int) -> list[int]:
        """Reactivate a stopped batch and wake its parked jobs; return their ids."""
        now = self._now()
        with self._engine.begin() as connection:
            connection.execute(
                update(Batch).where(Batch.id == batch_id).values(status="active", stop_reason=None, updated_at=now)
            )
            ids = connection.scalars(
                update(Job)
                .where(Job.batch_id == batch_id, Job.state.not_in(TERMINAL_STATES), _PARKED)
                .values(next_wake_at=now, updated_at=now)
                .returning(Job.id)
            ).all()
        return sorted(ids)

    def cancel_batch(self, batch_id: int) -> list[int]:
        """Mark a batch cancelled; return the ids of its unfinished jobs, which workers then cancel.

        Parked jobs and jobs waiting on an API object (``running``, which may be a followed stream's
        minute-long fallback) are made due now, so the cancel reaches their objects within a step. Other
        jobs may be in the middle of a step (their lease is their wake-up): they see the cancel at their
        next step, so a run being created is recorded and then cancelled, never orphaned. A ``running``
        job rarely is too (a look): then, as in ``wake_for_object``, the second claim wins and the first
        step loses its lease.
        """
        now = self._now()
        with self._engine.begin() as connection:
            connection.execute(update(Batch).where(Batch.id == batch_id).values(status="cancelled", updated_at=now))
            connection.execute(
                update(Job)
                .where(
                    Job.batch_id == batch_id,
                    Job.state.not_in(TERMINAL_STATES),
                    or_(_PARKED, Job.state == JobState.RUNNING),
                )
                .values(next_wake_at=now, updated_at=now)
            )
            ids = connection.scalars(
                select(Job.id).where(Job.batch_id == batch_id, Job.state.not_in(TERMINAL_STATES))
            ).all()
        return sorted(ids)

    def retry_batch(self, batch_id: int, *, only_failed: bool, deadline: Deadline | None = None) -> list[int]:
        """Start new attempts of finished jobs that did not succeed (or only failed ones).

        ``deadline`` replaces the retried jobs' deadlines (durations counted from now); without it they
        keep theirs, so a job retried after its deadline expires again at its first step.
        """
        now = self._now()
        new_deadline = {"deadline_at": deadline.resolve(now)} if deadline is not None else {}
        states = ("failed",) if only_failed else ("failed", "cancelled", "expired", "incomplete")
        with self._engine.begin() as connection:
            connection.execute(
                update(Batch).where(Batch.id == batch_id).values(status="active", stop_reason=None, updated_at=now)
            )
            ids = connection.scalars(
                update(Job)
                .where(Job.batch_id == batch_id, Job.state.in_(states))
                .values(
                    state="pending",
                    object_id=None,
                    tool_rounds=0,
                    step_retries=0,
                    error_code=None,
                    error_message=None,
                    finished_at=None,
                    next_wake_at=now,
                    updated_at=now,
                    version=Job.version + 1,
                    **new_deadline,
                )
                .returning(Job.id)
            ).all()
        return sorted(ids)

    # -- claiming and transitions -----------------------------------------------------------------

    def claim(self, job_id: int, *, now: datetime, lease_until: datetime) -> JobView | None:
        # One statement (the lease and everything the step needs to know): a step's first round trip.
        with self._single_statement() as connection:
            row = connection.execute(
                _CLAIM, {"job_id": job_id, "due_by": now + _WAKE_TOLERANCE, "lease_until": lease_until, "now": now}
            ).first()
        if row is None:
            return None
        return _job_view(row._mapping)

    def _single_statement(self) -> AbstractContextManager[Connection]:
        """A connection for one statement: on Postgres it commits by itself (no BEGIN and COMMIT round trips)."""
        if self._postgres:
            return self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._engine.begin()

    def _cas(self, connection: Connection, job: JobView, *, sum_usage: bool = False, **values: Any) -> int:
        """Write ``values`` to the job at the version this step holds (``LeaseLost`` if it moved on);
        ``sum_usage`` also sets its token counts to the sums over its API objects."""
        now = values.setdefault("updated_at", self._now())
        deadline = job.deadline_at
        unfinished = "next_wake_at" in values and values.get("state") not in TERMINAL_STATES
        if deadline is not None and deadline > now and unfinished:
            # No wake-up of an unfinished job lies past its deadline: that step expires it. (Past it,
            # the job is being stopped and waits for its cancel like any other.)
            wake = values["next_wake_at"]
            values["next_wake_at"] = deadline if wake is None else min(wake, deadline)
        statement = statements.job_compare_and_set(statements.columns_of(values), sum_usage=sum_usage)
        where = {statements.JOB_ID: job.id, statements.VERSION: job.version, statements.NEW_VERSION: job.version + 1}
        result = connection.execute(statement, statements.parameters(values, **where))
        if result.rowcount != 1:
            raise LeaseLost(f"job {job.id} moved past version {job.version}")
        self._written.job_version = (job.id, job.version + 1)
        return job.version + 1

    def latest(self, job: JobView) -> JobView:
        """``job`` at the version this thread last wrote for it (a step may fail after some writes)."""
        job_id, version = getattr(self._written, "job_version", (None, 0))
        return replace(job, version=version) if job_id == job.id and version > job.version else job

    def release(self, job: JobView, *, next_wake_at: datetime | None, step_retries: int | None = None) -> JobView:
        values: dict[str, Any] = {"next_wake_at": next_wake_at}
        if step_retries is not None:
            values["step_retries"] = step_retries
        with self._single_statement() as connection:
            version = self._cas(connection, job, **values)
        return replace(
            job, version=version, step_retries=step_retries if step_retries is not None else job.step_retries
        )

    def wake_for_object(self, job_id: int, object_id: str) -> bool:
        """Make job ``job_id`` due now if it is still waiting on API object ``object_id``; True when it was.

        Rarely a worker holds the job's lease at that moment (a fallback poll): the wake-up then lets a
        second worker claim the job, the first one's step loses its lease and is dropped, and the second
        looks at the object again. One extra request, never a lost or doubled record.
        """
        now = self._now()
        with self._single_statement() as connection:
            result = connection.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.object_id == object_id,
                    Job.state == JobState.RUNNING,
                    Job.next_wake_at > now,
                )
                .values(next_wake_at=now, updated_at=now)
            )
        return bool(result.rowcount == 1)

    def park(self, job: JobView) -> JobView:
        """Leave the job where it is with no wake-up (its batch is stopped); ``resume_batch`` wakes it."""
        return self.release(job, next_wake_at=None)

    def begin_attempt(self, job: JobView, *, estimated_tokens: int, container_id: str | None = None) -> JobView:
        """Mark the job ``creating_run`` for its next attempt, committing ``container_id`` with it if given."""
        attempt = job.attempt + 1
        container = container_id or job.container_id
        values: dict[str, Any] = {
            "state": JobState.CREATING,
            "attempt": attempt,
            "tool_rounds": 0,
            "object_id": None,
            "estimated_tokens": estimated_tokens,
            "container_id": container,
        }
        with self._single_statement() as connection:
            version = self._cas(connection, job, **values)
        return replace(job, version=version, **values)

    def move_to_lane(self, job: JobView, lane: Lane, *, next_wake_at: datetime) -> JobView:
        """Run the job in ``lane`` from its next step on (a fallback: its lane cannot meet its deadline)."""
        with self._single_statement() as connection:
            version = self._cas(connection, job, lane=lane.value, next_wake_at=next_wake_at)
        return replace(job, version=version, spec=replace(job.spec, lane=lane.value))

    def queue_for_api_batch(self, job: JobView, *, estimated_tokens: int) -> JobView:
        """Begin the job's next attempt as a line for the Batch API lane's driver to submit; the job wakes
        again only at its deadline (the driver moves it on)."""
        values: dict[str, Any] = {
            "state": JobState.BATCH_QUEUED,
            "attempt": job.attempt + 1,
            "tool_rounds": 0,
            "object_id": None,
            "estimated_tokens": estimated_tokens,
            "api_batch_pk": None,
            "step_retries": 0,
        }
        with self._single_statement() as connection:
            version = self._cas(connection, job, next_wake_at=job.deadline_at, **values)
        values.pop("api_batch_pk")
        return replace(job, version=version, **values)

    def retry_in_lane(self, job: JobView, lane: Lane, *, code: str | None, message: str | None) -> JobView:
        """End the job's attempt without an API object (a Batch API line that failed or was never run) and
        make it due for another attempt in ``lane``."""
        values: dict[str, Any] = {
            "state": JobState.PENDING,
            "lane": lane.value,
            "object_id": None,
            "error_code": code,
            "error_message": message,
            "step_retries": 0,
            "next_wake_at": self._now(),
        }
        with self._single_statement() as connection:
            version = self._cas(connection, job, **values)
        return replace(job, version=version, state=JobState.PENDING, spec=replace(job.spec, lane=lane.value))

    def view(self, job_id: int) -> JobView | None:
        """Job ``job_id`` as it stands, without claiming it (a write still needs the version read here)."""
        return self.views([job_id]).get(job_id)

    def views(self, job_ids: list[int]) -> dict[int, JobView]:
        """The jobs of ``job_ids`` (those that exist) as they stand, read 10,000 at a time."""
        found: dict[int, JobView] = {}
        with self._engine.connect() as connection:
            for start in range(0, len(job_ids), 10_000):
                rows = connection.execute(_VIEWS, {"job_ids": job_ids[start : start + 10_000]})
                found.update((row.id, _job_view(row._mapping)) for row in rows)
        return found

    def unstart_attempt(self, job: JobView) -> JobView:
        """Undo ``begin_attempt`` for an attempt whose first object the API refused to create (a 429)."""
        values: dict[str, Any] = {"state": JobState.PENDING, "attempt": job.attempt - 1}
        with self._single_statement() as connection:
            version = self._cas(connection, job, **values)
        return replace(job, version=version, **values)

    def mark_cancel_requested(self, job: JobView, *, reason: str = CANCEL_REQUESTED) -> JobView:
        with self._single_statement() as connection:
            version = self._cas(connection, job, error_code=reason)
        return replace(job, version=version, error_code=reason)

    def record_started(
        self, job: JobView, snapshot: ObjectSnapshot, *, reschedule_at: datetime | None = None
    ) -> JobView:
        """Commit the attempt's first API object; ``reschedule_at`` also sets the next wake-up."""
        return self._record_new_object(job, snapshot, round_=0, reschedule_at=reschedule_at)

    def record_continued(
        self, job: JobView, snapshot: ObjectSnapshot, *, reschedule_at: datetime | None = None
    ) -> JobView:
        """A tool round was answered: commit the object that now carries the attempt (new or the same)."""
        rounds = job.tool_rounds + 1
        if snapshot.object_id != job.object_id:
            job = replace(job, tool_rounds=rounds)
            return self._record_new_object(job, snapshot, round_=rounds, reschedule_at=reschedule_at)
        return self.record_observed(job, snapshot, state=JobState.RUNNING, reschedule_at=reschedule_at, rounds=rounds)

    def _record_new_object(
        self, job: JobView, snapshot: ObjectSnapshot, *, round_: int, reschedule_at: datetime | None
    ) -> JobView:
        now = self._now()
        values: dict[str, Any] = {
            "state": JobState.RUNNING,
            "object_id": snapshot.object_id,
            "step_retries": 0,
            "tool_rounds": job.tool_rounds,
        }
        if snapshot.container_id:
            values["container_id"] = snapshot.container_id
        wake: dict[str, Any] = {"next_wake_at": reschedule_at} if reschedule_at is not None else {}
        with self._engine.begin() as connection:
            version = self._cas(connection, job, **values, **wake)
            self._insert_object(connection, job, snapshot, round_=round_, recorded_at=now, want_key=False)
        return replace(job, version=version, **values)

    def _insert_object(
        self,
        connection: Connection,
        job: JobView,
        snapshot: ObjectSnapshot,
        *,
        round_: int,
        recorded_at: datetime,
        want_key: bool = True,
        **extra: Any,
    ) -> int | None:
        """Store a new API object of the job's attempt (and its details); its key, read back only when
        wanted or needed for the details (a step's hot path wants neither)."""
        row = {
            "job_id": job.id,
            "attempt": job.attempt,
            "round": round_,
            "backend": snapshot.backend,
            "kind": snapshot.kind,
            "recorded_at": recorded_at,
            "lane": running_lane(job.spec.lane).value,
            **self._object_columns(snapshot),
            **extra,
        }
        connection.execute(statements.insert_api_object(self._postgres), row)
        if not (want_key or snapshot.details):
            return None
        object_pk = self._object_pk(connection, snapshot.object_id)
        if snapshot.details:
            self._store_details(connection, object_pk, snapshot.details)
        return object_pk

    def record_observed(
        self,
        job: JobView,
        snapshot: ObjectSnapshot,
        *,
        state: str | None = None,
        reschedule_at: datetime | None = None,
        rounds: int | None = None,
    ) -> JobView:
        """Commit what a look at the object saw; ``reschedule_at`` also sets the next wake-up."""
        new_state = state or job.state
        values: dict[str, Any] = {"state": new_state, "step_retries": 0}
        if reschedule_at is not None:
            values["next_wake_at"] = reschedule_at
        if rounds is not None:
            values["tool_rounds"] = rounds
        with self._engine.begin() as connection:
            version = self._cas(connection, job, **values)
            self._update_object(connection, snapshot)
        values.pop("next_wake_at", None)
        return replace(job, version=version, **values)

    def _update_object(self, connection: Connection, snapshot: ObjectSnapshot, **extra: Any) -> int | None:
        """Store what ``snapshot`` says of its object (and ``extra`` columns); the object's key, if stored."""
        columns = self._object_columns(snapshot)
        if snapshot.phase is not Phase.DONE and snapshot.usage is None:
            # A look mid-run says little; keep what an earlier answer (a stream's first event) stored.
            columns = {key: columns[key] for key in ("status", "started_at") if columns[key] is not None}
        values = {**columns, **extra}
        statement = statements.object_update(statements.columns_of(values))
        object_pk: int | None = connection.scalar(
            statement, statements.parameters(values, **{statements.API_ID: snapshot.object_id})
        )
        if snapshot.details:
            self._store_details(connection, object_pk, snapshot.details)
        return object_pk

    @staticmethod
    def _object_pk(connection: Connection | Session, api_id: str | None) -> int | None:
        return connection.scalar(statements.OBJECT_KEY, {statements.API_ID: api_id})

    def object_pk(self, api_id: str) -> int | None:
        with self._sessions() as session:
            return self._object_pk(session, api_id)

    def recorded_tool_results(self, api_id: str) -> list[ToolResult]:
        """The tool results recorded for the API object ``api_id`` (a round answered before), oldest first."""
        with self._sessions() as session:
            rows = session.execute(
                select(ToolInvocation)
                .join(ApiObject, ApiObject.id == ToolInvocation.object_pk)
                .where(ApiObject.api_id == api_id)
                .order_by(ToolInvocation.id)
            ).scalars()
            return [
                ToolResult(
                    tool_call_id=row.tool_call_id,
                    name=row.name,
                    arguments=row.arguments,
                    output=row.output or "",
                    error=row.error,
                    outcome=cast(ToolOutcome, row.outcome),
                    duration_seconds=row.duration_seconds,
                    started_at=row.started_at,
                )
                for row in rows
            ]

    def record_tool_results(self, job: JobView, results: list[ToolResult]) -> JobView:
        with self._engine.begin() as connection:
            version = self._cas(connection, job)
            object_pk = self._object_pk(connection, job.object_id)
            rows = [
                {
                    "job_id": job.id,
                    "object_pk": object_pk,
                    "tool_call_id": result.tool_call_id,
                    "name": result.name,
                    "arguments": result.arguments,
                    "output": result.output,
                    "error": result.error,
                    "outcome": result.outcome,
                    "started_at": result.started_at,
                    "duration_seconds": result.duration_seconds,
                }
                for result in results
            ]
            if rows:
                connection.execute(statements.INSERT_TOOL_INVOCATIONS, rows)
        return replace(job, version=version)

    def record_terminal(self, job: JobView, snapshot: ObjectSnapshot) -> JobView:
        """The object ended at the API: keep what it said and collect its outputs next (state ``collecting``)."""
        with self._engine.begin() as connection:
            version = self._cas(connection, job, state=JobState.COLLECTING, step_retries=0)
            self._update_object(connection, snapshot)
        return replace(job, version=version, state=JobState.COLLECTING, step_retries=0)

    def load_snapshot(self, api_id: str) -> ObjectSnapshot | None:
        """A finished object as recorded (its details and messages are in their own tables)."""
        with self._sessions() as session:
            row = session.scalar(select(ApiObject).where(ApiObject.api_id == api_id))
        if row is None or row.outcome is None:
            return None
        usage = None
        if row.total_tokens is not None:
            usage = UsageRecord(
                row.prompt_tokens or 0,
                row.completion_tokens or 0,
                row.total_tokens,
                row.cached_tokens,
                row.reasoning_tokens,
            )
        outcome = JobState(row.outcome)
        return ObjectSnapshot(
            backend=row.backend,
            kind=row.kind,
            object_id=row.api_id,
            container_id=row.container_id,
            status=row.status,
            phase=Phase.DONE,
            outcome=outcome,
            assistant_id=row.assistant_id,
            model=row.model,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            error_code=row.error_code,
            error_message=row.error_message,
            incomplete_reason=row.incomplete_reason,
            usage=usage,
            retryable=is_retryable_failure(outcome, row.error_code),
        )

    def has_details(self, api_id: str) -> bool:
        with self._sessions() as session:
            object_pk = self._object_pk(session, api_id)
            found = session.scalar(
                select(AssistantRunStep.id).where(AssistantRunStep.object_pk == object_pk).limit(1)
            ) or session.scalar(select(ResponseOutputItem.id).where(ResponseOutputItem.object_pk == object_pk).limit(1))
        return found is not None

    def record_details(self, job: JobView, api_id: str, details: list[DetailRecord]) -> JobView:
        with self._engine.begin() as connection:
            version = self._cas(connection, job, step_retries=0)
            self._store_details(connection, self._object_pk(connection, api_id), details)
        return replace(job, version=version, step_retries=0)

    def record_finished(
        self, job: JobView, snapshot: ObjectSnapshot, messages: list[MessageRecord], *, state: str, retry: bool
    ) -> JobView:
        """Store a finished object (and its output messages) and move the job on, in one transaction.

        The job's usage is summed again over every API object it made, each of which was paid for.
        """
        now = self._now()
        with self._engine.begin() as connection:
            object_pk = self._update_object(connection, snapshot, finished_recorded_at=now)
            return self._finish_with(connection, job, snapshot, object_pk, messages, state=state, retry=retry, now=now)

    def record_answered(
        self, job: JobView, snapshot: ObjectSnapshot, messages: list[MessageRecord], *, state: str, retry: bool
    ) -> JobView:
        """An attempt whose one request came back answered whole (a Batch API line): its object, output and
        the job's next state in one transaction (``retry``: the job is pending for another attempt)."""
        now = self._now()
        with self._engine.begin() as connection:
            object_pk = self._insert_object(
                connection, job, snapshot, round_=0, recorded_at=now, finished_recorded_at=now
            )
            return self._finish_with(
                connection,
                job,
                snapshot,
                object_pk,
                messages,
                state=state,
                retry=retry,
                now=now,
                object_id=snapshot.object_id,
            )

    def _finish_with(
        self,
        connection: Connection,
        job: JobView,
        snapshot: ObjectSnapshot,
        object_pk: int | None,
        messages: list[MessageRecord],
        *,
        state: str,
        retry: bool,
        now: datetime,
        **job_extra: Any,
    ) -> JobView:
        self._store_messages(connection, job.id, object_pk, messages)
        job_values: dict[str, Any] = {"state": state, "step_retries": 0, **job_extra}
        if retry:
            job_values.update(
                next_wake_at=now,
                object_id=None,
                error_code=snapshot.error_code,
                error_message=snapshot.error_message,
            )
        else:
            job_values.update(
                next_wake_at=None,
                finished_at=now,
                output_text=output_text(messages) or None,
                error_code=snapshot.error_code or (snapshot.incomplete_reason if state == "incomplete" else None),
                error_message=snapshot.error_message,
            )
            if job.cancel_requested and state == job.stopped_state:
                job_values.update(_stop_error(job, snapshot))
        version = self._cas(connection, job, sum_usage=True, **job_values)
        if not retry and job.target_container_id:
            self._unlock_container(connection, job.target_container_id, job.id)
        return replace(job, version=version, state=state)

    def finish_without_object(self, job: JobView, *, state: str, code: str, message: str) -> None:
        now = self._now()
        with self._engine.begin() as connection:
            self._cas(
                connection,
                job,
                state=state,
                error_code=code,
                error_message=message,
                next_wake_at=None,
                finished_at=now,
                sum_usage=True,
            )
            if job.target_container_id:
                self._unlock_container(connection, job.target_container_id, job.id)

    def _store_details(self, connection: Connection, object_pk: int | None, details: Iterable[DetailRecord]) -> None:
        """A statement per kind of detail, however many there are (one round trip each)."""
        steps = [{"object_pk": object_pk, **_step_values(d)} for d in details if isinstance(d, StepRecord)]
        items = [
            {
                "object_pk": object_pk,
                "position": d.position,
                "api_item_id": d.item_id,
                "type": d.type,
                "status": d.status,
                "item": d.item,
            }
            for d in details
            if isinstance(d, OutputItemRecord)
        ]
        if steps:
            connection.execute(statements.insert_steps(self._postgres), steps)
        if items:
            connection.execute(statements.insert_output_items(self._postgres), items)

    def _store_messages(
        self, connection: Connection, job_id: int, object_pk: int | None, messages: list[MessageRecord]
    ) -> None:
        rows = [
            {
                "job_id": job_id,
                "object_pk": object_pk,
                "api_message_id": message.message_id,
                "role": message.role,
                "content_text": message.text,
                "content": message.content,
                "created_at": message.created_at,
            }
            for message in messages
        ]
        if rows:
            connection.execute(statements.insert_messages(self._postgres), rows)

    @staticmethod
    def _object_columns(snapshot: ObjectSnapshot) -> dict[str, Any]:
        usage = snapshot.usage
        return {
            "api_id": snapshot.object_id,
            "container_id": snapshot.container_id,
            "assistant_id": snapshot.assistant_id,
            "model": snapshot.model,
            "status": snapshot.status[:32],
            "outcome": str(snapshot.outcome) if snapshot.outcome is not None else None,
            "created_at": snapshot.created_at,
            "started_at": snapshot.started_at,
            "finished_at": snapshot.finished_at,
            "error_code": snapshot.error_code,
            "error_message": snapshot.error_message,
            "incomplete_reason": snapshot.incomplete_reason,
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
            "cached_tokens": usage.cached_tokens if usage else None,
            "reasoning_tokens": usage.reasoning_tokens if usage else None,
            "service_tier": snapshot.service_tier[:16] if snapshot.service_tier else None,
        }

    # -- container locks (one active API object per thread or conversation) ----------------------

    def try_lock_container(self, container_id: str, job_id: int) -> bool:
        with self._engine.begin() as connection:
            connection.execute(
                self._insert(ContainerLock)
                .values(container_id=container_id, job_id=job_id, acquired_at=self._now())
                .on_conflict_do_nothing(index_elements=["container_id"])
            )
            holder = connection.scalar(select(ContainerLock.job_id).where(ContainerLock.container_id == container_id))
            if holder == job_id:
                return True
            # A lock whose holder already finished is stale (it crashed before unlocking): take it over.
            holder_state = connection.scalar(select(Job.state).where(Job.id == holder))
            if holder_state is None or holder_state in TERMINAL_STATES:
                connection.execute(
                    update(ContainerLock)
                    .where(ContainerLock.container_id == container_id, ContainerLock.job_id == holder)
                    .values(job_id=job_id, acquired_at=self._now())
                )
                return True
            return False

    @staticmethod
    def _unlock_container(connection: Connection, container_id: str, job_id: int) -> None:
        connection.execute(
            delete(ContainerLock).where(ContainerLock.container_id == container_id, ContainerLock.job_id == job_id)
        )

    # -- sweeper ----------------------------------------------------------------------------------

    def claim_overdue(
        self, *, now: datetime, grace: timedelta, limit: int = 1000, starting: bool | None = None
    ) -> list[int]:
        """Jobs whose wake-up is overdue by more than ``grace``: mark them due now and return them.

        ``starting`` limits the claim to jobs waiting to start (True) or to jobs in flight (False).

        ``FOR UPDATE SKIP LOCKED`` (ignored on SQLite, which serialises writers) lets several sweepers
        run at once without re-driving the same job twice.
        """
        with self._engine.begin() as connection:
            candidates = select(Job.id).where(Job.state.not_in(TERMINAL_STATES), Job.next_wake_at < now - grace)
            if starting is not None:
                candidates = candidates.where((Job.state == "pending") if starting else (Job.state != "pending"))
            candidates = candidates.order_by(Job.next_wake_at).limit(limit).with_for_update(skip_locked=True)
            ids = list(connection.scalars(candidates).all())
            if ids:
                connection.execute(update(Job).where(Job.id.in_(ids)).values(next_wake_at=now))
        return ids

    # -- reading ----------------------------------------------------------------------------------

    def count_by_state(self, batch_id: int | None = None) -> dict[str, int]:
        with self._sessions() as session:
            stmt = select(Job.state, func.count()).group_by(Job.state)
            if batch_id is not None:
                stmt = stmt.where(Job.batch_id == batch_id)
            return {state: count for state, count in session.execute(stmt).all()}

    def batches(self) -> list[Batch]:
        with self._sessions() as session:
            return list(session.scalars(select(Batch).order_by(Batch.id)).all())

    def batch(self, name: str) -> Batch | None:
        with self._sessions() as session:
            return session.scalar(select(Batch).where(Batch.name == name))

    def result_pages(self, batch_id: int, *, page_size: int = 5000) -> Iterator[list[ResultRow]]:
        """The batch's jobs for ``results``, ``page_size`` at a time in id order (file order), each with its
        newest API object and how many it made; two plain queries per page, whatever the batch's size."""
        last_id = 0
        while True:
            with self._sessions() as session:
                connection = session.connection()
                jobs = _plain_rows(
                    connection.execute(
                        select(Job.id, *RESULT_COLUMNS)
                        .where(Job.batch_id == batch_id, Job.id > last_id)
                        .order_by(Job.id)
                        .limit(page_size)
                    )
                )
                if not jobs:
                    return
                objects = _plain_rows(
                    connection.execute(
                        select(ApiObject.job_id, ApiObject.api_id, ApiObject.status)
                        .where(ApiObject.job_id.between(jobs[0][0], jobs[-1][0]))
                        .order_by(ApiObject.job_id, ApiObject.attempt, ApiObject.round)
                    )
                )
            latest: dict[int, tuple[str, str, int]] = {}
            for job_id, api_id, status in objects:
                count = latest[job_id][2] + 1 if job_id in latest else 1
                latest[job_id] = (api_id, status, count)
            yield [ResultRow(job, latest.get(job[0], _NO_OBJECT)) for job in jobs]
            last_id = jobs[-1][0]

    def recent_run_durations(self, limit: int = 1000) -> list[tuple[str, str | None, float]]:
        """(assistant, model, seconds) of the latest API objects that ended well, oldest first."""
        with self._sessions() as session:
            rows = session.execute(
                select(ApiObject.assistant_id, ApiObject.model, ApiObject.created_at, ApiObject.finished_at)
                .where(
                    ApiObject.outcome == JobState.SUCCEEDED,
                    ApiObject.created_at.is_not(None),
                    ApiObject.finished_at.is_not(None),
                )
                .order_by(ApiObject.id.desc())
                .limit(limit)
            ).all()
        return [
            (assistant or "", model, (completed - created).total_seconds())
            for assistant, model, created, completed in reversed(rows)
            if created is not None and completed is not None
        ]

    def unfinished_job_ids(self, batch_id: int | None = None) -> list[int]:
        with self._sessions() as session:
            stmt = select(Job.id).where(Job.state.not_in(TERMINAL_STATES), Job.next_wake_at.is_not(None))
            if batch_id is not None:
                stmt = stmt.where(Job.batch_id == batch_id)
            return list(session.scalars(stmt).all())

    def _insert(self, table: Any) -> Any:
        return pg_insert(table) if self._postgres else sqlite_insert(table)


def _plain_rows(result: CursorResult[Any]) -> list[tuple[Any, ...]]:
    """The driver's own rows (tuples) of a query whose columns need no conversion (numbers and text):
    a million ``Row`` objects cost more than the query itself."""
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _step_values(step: StepRecord) -> dict[str, Any]:
    return {
        "api_step_id": step.step_id,
        "type": step.type,
        "status": step.status,
        "step_details": step.details,
        "created_at": step.created_at,
        "completed_at": step.completed_at,
        "last_error_code": step.last_error_code,
        "prompt_tokens": step.usage.prompt_tokens if step.usage else None,
        "completion_tokens": step.usage.completion_tokens if step.usage else None,
        "total_tokens": step.usage.total_tokens if step.usage else None,
    }


__all__ = [
    "CANCEL_REQUESTED",
    "TERMINAL_STATES",
    "JobView",
    "LeaseLost",
    "Repository",
]
