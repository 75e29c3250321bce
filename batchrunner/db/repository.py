"""Every query batchrunner makes. Job transitions are compare-and-set updates on ``jobs.version``.

A step first *claims* a job (``claim``): the update succeeds only for a non-terminal job whose wake-up is
due, and moves ``next_wake_at`` past the step (a lease). Every later write of that step names the version
it claimed; if another worker claimed the job after the lease ran out, the write matches no row and
raises ``LeaseLost`` instead of overwriting newer state.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from batchrunner.backend.base import MessageRecord, RunSnapshot, StepRecord, UsageRecord
from batchrunner.db.models import Batch, Job, Message, Run, RunStep, ThreadLock, ToolInvocation
from batchrunner.jobs import JobSpec
from batchrunner.tools.runner import ToolResult

TERMINAL_STATES = ("succeeded", "failed", "cancelled", "expired", "incomplete")
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
    Job.state,
    Job.attempt,
    Job.thread_id,
    Job.run_id,
    Job.target_thread_id,
    Job.step_retries,
    Job.estimated_tokens,
)


@dataclass(frozen=True)
class JobView:
    id: int
    version: int
    batch_id: int
    batch_name: str
    batch_status: str
    custom_id: str
    spec: JobSpec
    state: str
    attempt: int
    thread_id: str | None
    run_id: str | None
    target_thread_id: str | None
    step_retries: int
    estimated_tokens: int


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Repository:
    def __init__(self, session_factory: sessionmaker[Session], clock: Callable[[], datetime] | None = None) -> None:
        self._sessions = session_factory
        self._now = clock or (lambda: datetime.now(UTC))
        # The version each thread last wrote, so a step's error handler can release the job it holds.
        self._written = threading.local()

    # -- batches and enqueueing -------------------------------------------------------------------

    def get_or_create_batch(self, name: str, source_file: str | None = None) -> int:
        with self._sessions.begin() as session:
            batch_id = session.scalar(select(Batch.id).where(Batch.name == name))
            if batch_id is not None:
                return batch_id
            now = self._now()
            stmt = (
                self._insert(session, Batch)
                .values(name=name, status="active", source_file=source_file, created_at=now, updated_at=now)
                .on_conflict_do_nothing(index_elements=["name"])
            )
            session.execute(stmt)
            found = session.scalar(select(Batch.id).where(Batch.name == name))
            assert found is not None
            return found

    def batch_id(self, name: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(Batch.id).where(Batch.name == name))

    def insert_jobs(self, batch_id: int, specs: Iterable[JobSpec], *, chunk_size: int = 1000) -> list[int]:
        """Insert the jobs whose custom_id is new to the batch; return the new jobs' ids."""
        now = self._now()
        new_ids: list[int] = []
        chunk: list[dict[str, Any]] = []

        def flush(session: Session) -> None:
            if not chunk:
                return
            stmt = (
                self._insert(session, Job)
                .values(chunk)
                .on_conflict_do_nothing(index_elements=["batch_id", "custom_id"])
                .returning(Job.id)
            )
            new_ids.extend(session.scalars(stmt).all())
            chunk.clear()

        with self._sessions.begin() as session:
            for spec in specs:
                chunk.append(
                    {
                        "batch_id": batch_id,
                        "custom_id": spec.custom_id,
                        "line_no": spec.line_no,
                        "spec": spec.to_json(),
                        "assistant_id": spec.assistant_id,
                        "target_thread_id": spec.thread_id,
                        "state": "pending",
                        "attempt": 0,
                        "version": 0,
                        "step_retries": 0,
                        "next_wake_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                if len(chunk) >= chunk_size:
                    flush(session)
            flush(session)
        return sorted(new_ids)

    def set_batch_status(self, batch_id: int, status: str, reason: str | None = None) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(Batch)
                .where(Batch.id == batch_id)
                .values(status=status, stop_reason=reason, updated_at=self._now())
            )

    def stop_batch(self, batch_id: int, reason: str) -> None:
        """Stop a batch (quota exhausted): its jobs stay resumable where they are."""
        with self._sessions.begin() as session:
            session.execute(
                update(Batch)
                .where(Batch.id == batch_id, Batch.status == "active")
                .values(status="stopped", stop_reason=reason, updated_at=self._now())
            )

    def resume_batch(self, batch_id: int) -> list[int]:
        """Reactivate a stopped batch and wake its parked jobs; return their ids."""
        now = self._now()
        with self._sessions.begin() as session:
            session.execute(
                update(Batch).where(Batch.id == batch_id).values(status="active", stop_reason=None, updated_at=now)
            )
            ids = session.scalars(
                update(Job)
                .where(Job.batch_id == batch_id, Job.state.not_in(TERMINAL_STATES), Job.next_wake_at.is_(None))
                .values(next_wake_at=now, updated_at=now)
                .returning(Job.id)
            ).all()
        return sorted(ids)

    def cancel_batch(self, batch_id: int) -> list[int]:
        """Mark a batch cancelled; return the ids of its unfinished jobs, which workers then cancel.

        Only parked jobs are made due now. A job with a wake-up may be in the middle of a step (its
        lease is its wake-up): it sees the cancel at its next step, so a run being created is
        recorded and then cancelled, never orphaned.
        """
        now = self._now()
        with self._sessions.begin() as session:
            session.execute(update(Batch).where(Batch.id == batch_id).values(status="cancelled", updated_at=now))
            session.execute(
                update(Job)
                .where(Job.batch_id == batch_id, Job.state.not_in(TERMINAL_STATES), Job.next_wake_at.is_(None))
                .values(next_wake_at=now, updated_at=now)
            )
            ids = session.scalars(
                select(Job.id).where(Job.batch_id == batch_id, Job.state.not_in(TERMINAL_STATES))
            ).all()
        return sorted(ids)

    def retry_batch(self, batch_id: int, *, only_failed: bool) -> list[int]:
        """Start new attempts of finished jobs that did not succeed (or only failed ones)."""
        now = self._now()
        states = ("failed",) if only_failed else ("failed", "cancelled", "expired", "incomplete")
        with self._sessions.begin() as session:
            session.execute(
                update(Batch).where(Batch.id == batch_id).values(status="active", stop_reason=None, updated_at=now)
            )
            ids = session.scalars(
                update(Job)
                .where(Job.batch_id == batch_id, Job.state.in_(states))
                .values(
                    state="pending",
                    run_id=None,
                    step_retries=0,
                    error_code=None,
                    error_message=None,
                    finished_at=None,
                    next_wake_at=now,
                    updated_at=now,
                    version=Job.version + 1,
                )
                .returning(Job.id)
            ).all()
        return sorted(ids)

    # -- claiming and transitions -----------------------------------------------------------------

    def claim(self, job_id: int, *, now: datetime, lease_until: datetime) -> JobView | None:
        # One statement (the lease and everything the step needs to know): a step's first round trip.
        batch_of_job = Batch.id == Job.batch_id
        with self._sessions.begin() as session:
            row = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.state.not_in(TERMINAL_STATES),
                    Job.next_wake_at <= now + _WAKE_TOLERANCE,
                )
                .values(version=Job.version + 1, next_wake_at=lease_until, updated_at=now)
                .returning(
                    *_JOB_VIEW_COLUMNS,
                    select(Batch.name).where(batch_of_job).scalar_subquery().label("batch_name"),
                    select(Batch.status).where(batch_of_job).scalar_subquery().label("batch_status"),
                )
                .execution_options(synchronize_session=False)
            ).first()
        if row is None:
            return None
        values = dict(row._mapping)
        values["spec"] = JobSpec.from_json(values["spec"])
        return JobView(**values)

    def _cas(self, session: Session, job: JobView, **values: Any) -> int:
        values.setdefault("updated_at", self._now())
        result = session.execute(
            update(Job)
            .where(Job.id == job.id, Job.version == job.version)
            .values(version=job.version + 1, **values)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
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
        with self._sessions.begin() as session:
            version = self._cas(session, job, **values)
        return replace(
            job, version=version, step_retries=step_retries if step_retries is not None else job.step_retries
        )

    def wake_for_run(self, job_id: int, run_id: str) -> bool:
        """Make job ``job_id`` due now if it is still waiting on run ``run_id``; True when it was.

        Rarely a worker holds the job's lease at that moment (a fallback poll): the wake-up then lets a
        second worker claim the job, the first one's step loses its lease and is dropped, and the second
        looks at the run again. One extra request, never a lost or doubled record.
        """
        now = self._now()
        with self._sessions.begin() as session:
            result = session.execute(
                update(Job)
                .where(Job.id == job_id, Job.run_id == run_id, Job.state == "running", Job.next_wake_at > now)
                .values(next_wake_at=now, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def park(self, job: JobView) -> JobView:
        """Leave the job where it is with no wake-up (its batch is stopped); ``resume_batch`` wakes it."""
        return self.release(job, next_wake_at=None)

    def begin_run_creation(self, job: JobView, *, estimated_tokens: int, thread_id: str | None = None) -> JobView:
        """Mark the job ``creating_run`` for its next attempt, committing ``thread_id`` with it if given."""
        attempt = job.attempt + 1
        thread = thread_id or job.thread_id
        with self._sessions.begin() as session:
            version = self._cas(
                session,
                job,
                state="creating_run",
                attempt=attempt,
                run_id=None,
                estimated_tokens=estimated_tokens,
                thread_id=thread,
            )
        return replace(
            job,
            version=version,
            state="creating_run",
            attempt=attempt,
            run_id=None,
            estimated_tokens=estimated_tokens,
            thread_id=thread,
        )

    def record_run_created(
        self, job: JobView, snapshot: RunSnapshot, *, reschedule_at: datetime | None = None
    ) -> JobView:
        """Commit the new run; ``reschedule_at`` also sets the job's next wake-up in the same transaction."""
        now = self._now()
        wake = {"next_wake_at": reschedule_at} if reschedule_at is not None else {}
        with self._sessions.begin() as session:
            version = self._cas(session, job, state="running", run_id=snapshot.run_id, step_retries=0, **wake)
            stmt = (
                self._insert(session, Run)
                .values(
                    job_id=job.id,
                    attempt=job.attempt,
                    recorded_at=now,
                    **self._run_columns(snapshot),
                )
                .on_conflict_do_nothing(index_elements=["api_run_id"])
            )
            session.execute(stmt)
        return replace(job, version=version, state="running", run_id=snapshot.run_id, step_retries=0)

    def record_poll(
        self, job: JobView, snapshot: RunSnapshot, *, state: str | None = None, reschedule_at: datetime | None = None
    ) -> JobView:
        """Commit what a poll saw; ``reschedule_at`` also sets the job's next wake-up in the same transaction."""
        new_state = state or job.state
        wake = {"next_wake_at": reschedule_at} if reschedule_at is not None else {}
        with self._sessions.begin() as session:
            version = self._cas(session, job, state=new_state, step_retries=0, **wake)
            session.execute(
                update(Run)
                .where(Run.api_run_id == snapshot.run_id)
                .values(status=snapshot.status, started_at=snapshot.started_at)
                .execution_options(synchronize_session=False)
            )
        return replace(job, version=version, state=new_state, step_retries=0)

    def run_pk(self, api_run_id: str) -> int | None:
        with self._sessions() as session:
            return session.scalar(select(Run.id).where(Run.api_run_id == api_run_id))

    def record_tool_results(self, job: JobView, results: list[ToolResult]) -> JobView:
        with self._sessions.begin() as session:
            version = self._cas(session, job)
            run_pk = session.scalar(select(Run.id).where(Run.api_run_id == job.run_id))
            for result in results:
                session.add(
                    ToolInvocation(
                        job_id=job.id,
                        run_pk=run_pk,
                        tool_call_id=result.tool_call_id,
                        name=result.name,
                        arguments=result.arguments,
                        output=result.output,
                        error=result.error,
                        outcome=result.outcome,
                        started_at=result.started_at,
                        duration_seconds=result.duration_seconds,
                    )
                )
        return replace(job, version=version)

    def record_terminal(self, job: JobView, snapshot: RunSnapshot) -> JobView:
        """The run ended at the API: keep what it said and collect its outputs next (state ``collecting``)."""
        with self._sessions.begin() as session:
            version = self._cas(session, job, state="collecting", step_retries=0)
            session.execute(update(Run).where(Run.api_run_id == snapshot.run_id).values(**self._run_columns(snapshot)))
        return replace(job, version=version, state="collecting", step_retries=0)

    def load_snapshot(self, api_run_id: str) -> RunSnapshot | None:
        with self._sessions() as session:
            run = session.scalar(select(Run).where(Run.api_run_id == api_run_id))
        if run is None:
            return None
        usage = None
        if run.total_tokens is not None:
            usage = UsageRecord(run.prompt_tokens or 0, run.completion_tokens or 0, run.total_tokens)
        return RunSnapshot(
            run_id=run.api_run_id,
            thread_id=run.thread_id or "",
            assistant_id=run.assistant_id or "",
            status=run.status,
            model=run.model,
            created_at=run.created_at,
            started_at=run.started_at,
            completed_at=run.completed_at,
            failed_at=run.failed_at,
            cancelled_at=run.cancelled_at,
            expires_at=run.expires_at,
            last_error_code=run.last_error_code,
            last_error_message=run.last_error_message,
            incomplete_reason=run.incomplete_reason,
            usage=usage,
        )

    def has_steps(self, api_run_id: str) -> bool:
        with self._sessions() as session:
            found = session.scalar(
                select(RunStep.id).join(Run, Run.id == RunStep.run_pk).where(Run.api_run_id == api_run_id).limit(1)
            )
        return found is not None

    def record_steps(self, job: JobView, api_run_id: str, steps: list[StepRecord]) -> JobView:
        with self._sessions.begin() as session:
            version = self._cas(session, job, step_retries=0)
            run_pk = session.scalar(select(Run.id).where(Run.api_run_id == api_run_id))
            self._store_steps(session, run_pk, steps)
        return replace(job, version=version, step_retries=0)

    def record_finished(
        self, job: JobView, snapshot: RunSnapshot, messages: list[MessageRecord], *, state: str, retry: bool
    ) -> JobView:
        """Store a finished run's output messages and move the job on, in one transaction."""
        now = self._now()
        with self._sessions.begin() as session:
            session.execute(update(Run).where(Run.api_run_id == snapshot.run_id).values(finished_recorded_at=now))
            run_pk = session.scalar(select(Run.id).where(Run.api_run_id == snapshot.run_id))
            self._store_messages(session, job.id, run_pk, messages)
            usage = snapshot.usage
            job_values: dict[str, Any] = {
                "state": state,
                "step_retries": 0,
                "prompt_tokens": Job.prompt_tokens + (usage.prompt_tokens if usage else 0),
                "completion_tokens": Job.completion_tokens + (usage.completion_tokens if usage else 0),
                "total_tokens": Job.total_tokens + (usage.total_tokens if usage else 0),
            }
            if retry:
                job_values.update(
                    next_wake_at=now,
                    run_id=None,
                    error_code=snapshot.last_error_code,
                    error_message=snapshot.last_error_message,
                )
            else:
                job_values.update(
                    next_wake_at=None,
                    finished_at=now,
                    output_text=output_text(messages) or None,
                    error_code=snapshot.last_error_code
                    or (snapshot.incomplete_reason if state == "incomplete" else None),
                    error_message=snapshot.last_error_message,
                )
            version = self._cas(session, job, **job_values)
            if not retry and job.target_thread_id:
                self._unlock_thread(session, job.target_thread_id, job.id)
        return replace(job, version=version, state=state)

    def finish_without_run(self, job: JobView, *, state: str, code: str, message: str) -> None:
        now = self._now()
        with self._sessions.begin() as session:
            self._cas(
                session, job, state=state, error_code=code, error_message=message, next_wake_at=None, finished_at=now
            )
            if job.target_thread_id:
                self._unlock_thread(session, job.target_thread_id, job.id)

    def _store_steps(self, session: Session, run_pk: int | None, steps: list[StepRecord]) -> None:
        for step in steps:
            values: dict[str, Any] = {
                "run_pk": run_pk,
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
            session.execute(
                self._insert(session, RunStep).values(**values).on_conflict_do_nothing(index_elements=["api_step_id"])
            )

    def _store_messages(self, session: Session, job_id: int, run_pk: int | None, messages: list[MessageRecord]) -> None:
        for message in messages:
            values = {
                "job_id": job_id,
                "run_pk": run_pk,
                "api_message_id": message.message_id,
                "role": message.role,
                "content_text": message.text,
                "content": message.content,
                "created_at": message.created_at,
            }
            session.execute(
                self._insert(session, Message)
                .values(**values)
                .on_conflict_do_nothing(index_elements=["api_message_id"])
            )

    @staticmethod
    def _run_columns(snapshot: RunSnapshot) -> dict[str, Any]:
        usage = snapshot.usage
        return {
            "api_run_id": snapshot.run_id,
            "thread_id": snapshot.thread_id,
            "assistant_id": snapshot.assistant_id,
            "model": snapshot.model,
            "status": snapshot.status,
            "created_at": snapshot.created_at,
            "started_at": snapshot.started_at,
            "completed_at": snapshot.completed_at,
            "failed_at": snapshot.failed_at,
            "cancelled_at": snapshot.cancelled_at,
            "expires_at": snapshot.expires_at,
            "last_error_code": snapshot.last_error_code,
            "last_error_message": snapshot.last_error_message,
            "incomplete_reason": snapshot.incomplete_reason,
            "prompt_tokens": usage.prompt_tokens if usage else None,
            "completion_tokens": usage.completion_tokens if usage else None,
            "total_tokens": usage.total_tokens if usage else None,
        }

    # -- thread locks (one active run per thread) -------------------------------------------------

    def try_lock_thread(self, thread_id: str, job_id: int) -> bool:
        with self._sessions.begin() as session:
            session.execute(
                self._insert(session, ThreadLock)
                .values(thread_id=thread_id, job_id=job_id, acquired_at=self._now())
                .on_conflict_do_nothing(index_elements=["thread_id"])
            )
            holder = session.scalar(select(ThreadLock.job_id).where(ThreadLock.thread_id == thread_id))
            if holder == job_id:
                return True
            # A lock whose holder already finished is stale (it crashed before unlocking): take it over.
            holder_state = session.scalar(select(Job.state).where(Job.id == holder))
            if holder_state is None or holder_state in TERMINAL_STATES:
                session.execute(
                    update(ThreadLock)
                    .where(ThreadLock.thread_id == thread_id, ThreadLock.job_id == holder)
                    .values(job_id=job_id, acquired_at=self._now())
                )
                return True
            return False

    @staticmethod
    def _unlock_thread(session: Session, thread_id: str, job_id: int) -> None:
        session.execute(delete(ThreadLock).where(ThreadLock.thread_id == thread_id, ThreadLock.job_id == job_id))

    # -- sweeper ----------------------------------------------------------------------------------

    def claim_overdue(
        self, *, now: datetime, grace: timedelta, limit: int = 1000, starting: bool | None = None
    ) -> list[int]:
        """Jobs whose wake-up is overdue by more than ``grace``: mark them due now and return them.

        ``starting`` limits the claim to jobs waiting to start (True) or to jobs in flight (False).

        ``FOR UPDATE SKIP LOCKED`` (ignored on SQLite, which serialises writers) lets several sweepers
        run at once without re-driving the same job twice.
        """
        with self._sessions.begin() as session:
            candidates = select(Job.id).where(Job.state.not_in(TERMINAL_STATES), Job.next_wake_at < now - grace)
            if starting is not None:
                candidates = candidates.where((Job.state == "pending") if starting else (Job.state != "pending"))
            candidates = candidates.order_by(Job.next_wake_at).limit(limit).with_for_update(skip_locked=True)
            ids = list(session.scalars(candidates).all())
            if ids:
                session.execute(update(Job).where(Job.id.in_(ids)).values(next_wake_at=now))
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

    def iter_jobs(self, batch_id: int, *, chunk_size: int = 1000) -> Iterator[Job]:
        last_id = 0
        while True:
            with self._sessions() as session:
                rows = session.scalars(
                    select(Job).where(Job.batch_id == batch_id, Job.id > last_id).order_by(Job.id).limit(chunk_size)
                ).all()
            if not rows:
                return
            yield from rows
            last_id = rows[-1].id

    def recent_run_durations(self, limit: int = 1000) -> list[tuple[str, str | None, float]]:
        """(assistant, model, seconds) of the latest completed runs, oldest first."""
        with self._sessions() as session:
            rows = session.execute(
                select(Run.assistant_id, Run.model, Run.created_at, Run.completed_at)
                .where(Run.status == "completed", Run.created_at.is_not(None), Run.completed_at.is_not(None))
                .order_by(Run.id.desc())
                .limit(limit)
            ).all()
        return [
            (assistant or "", model, (completed - created).total_seconds())
            for assistant, model, created, completed in reversed(rows)
            if created is not None and completed is not None
        ]

    def latest_runs(self, job_ids: list[int]) -> dict[int, Run]:
        if not job_ids:
            return {}
        with self._sessions() as session:
            rows = session.scalars(select(Run).where(Run.job_id.in_(job_ids)).order_by(Run.job_id, Run.attempt)).all()
        return {run.job_id: run for run in rows}

    def unfinished_job_ids(self, batch_id: int | None = None) -> list[int]:
        with self._sessions() as session:
            stmt = select(Job.id).where(Job.state.not_in(TERMINAL_STATES), Job.next_wake_at.is_not(None))
            if batch_id is not None:
                stmt = stmt.where(Job.batch_id == batch_id)
            return list(session.scalars(stmt).all())

    @staticmethod
    def _insert(session: Session, table: Any) -> Any:
        dialect = session.get_bind().dialect.name
        return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


__all__ = ["TERMINAL_STATES", "JobView", "LeaseLost", "Repository"]
