"""The schema's constraints reject what the repository relies on them to reject."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from batchrunner.db.models import ApiObject, Batch, ContainerLock, Job, Message

NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _batch(sessions: sessionmaker[Session], name: str) -> int:
    with sessions.begin() as session:
        batch = Batch(name=name)
        session.add(batch)
        session.flush()
        return batch.id


def _job(batch_id: int, custom_id: str) -> Job:
    return Job(
        batch_id=batch_id,
        custom_id=custom_id,
        line_no=1,
        spec={"k": "v"},
        assistant_id="asst",
        state="pending",
        backend="responses",
    )


def _add(sessions: sessionmaker[Session], *rows: object) -> None:
    with sessions.begin() as session:
        session.add_all(rows)


def test_duplicate_custom_id_in_a_batch_is_rejected(sessions: sessionmaker[Session]) -> None:
    """Two jobs with one custom_id in one batch violate the unique constraint."""
    batch_id = _batch(sessions, "b")
    _add(sessions, _job(batch_id, "same"))
    with pytest.raises(IntegrityError):
        _add(sessions, _job(batch_id, "same"))


def test_same_custom_id_in_two_batches_is_allowed(sessions: sessionmaker[Session]) -> None:
    """custom_id is unique per batch, not globally."""
    first, second = _batch(sessions, "one"), _batch(sessions, "two")
    _add(sessions, _job(first, "same"), _job(second, "same"))
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2


def test_duplicate_batch_name_is_rejected(sessions: sessionmaker[Session]) -> None:
    """Batch names are unique."""
    _batch(sessions, "dup")
    with pytest.raises(IntegrityError):
        _batch(sessions, "dup")


def test_api_objects_are_unique_per_api_id_and_per_attempt_round(sessions: sessionmaker[Session]) -> None:
    """An API object id is recorded once, and a job has one object per attempt and round."""
    batch_id = _batch(sessions, "b")
    job = _job(batch_id, "j")
    _add(sessions, job)

    def run(api_id: str, attempt: int, round_: int = 0) -> ApiObject:
        return ApiObject(
            job_id=job.id,
            attempt=attempt,
            round=round_,
            backend="responses",
            kind="response",
            api_id=api_id,
            status="queued",
            recorded_at=NOW,
        )

    _add(sessions, run("resp_1", 1))
    with pytest.raises(IntegrityError):
        _add(sessions, run("resp_1", 2))
    with pytest.raises(IntegrityError):
        _add(sessions, run("resp_2", 1))
    _add(sessions, run("resp_2", 1, round_=1))
    _add(sessions, run("resp_3", 2))


def test_one_lock_per_container(sessions: sessionmaker[Session]) -> None:
    """A thread or conversation can be held by one job at a time."""
    batch_id = _batch(sessions, "b")
    first, second = _job(batch_id, "1"), _job(batch_id, "2")
    _add(sessions, first, second)
    _add(sessions, ContainerLock(container_id="thread_x", job_id=first.id))
    with pytest.raises(IntegrityError):
        _add(sessions, ContainerLock(container_id="thread_x", job_id=second.id))


def test_foreign_keys_are_enforced(sessions: sessionmaker[Session]) -> None:
    """A job of a batch that does not exist is rejected (on SQLite too: foreign keys are switched on)."""
    with pytest.raises(IntegrityError):
        _add(sessions, _job(999_999, "orphan"))


def test_deleting_a_batch_deletes_its_records(sessions: sessionmaker[Session]) -> None:
    """Child rows cascade: removing a batch removes its jobs, runs and messages."""
    batch_id = _batch(sessions, "b")
    job = _job(batch_id, "j")
    _add(sessions, job)
    run = ApiObject(
        job_id=job.id, attempt=1, backend="assistants", kind="run", api_id="run_1", status="completed", recorded_at=NOW
    )
    _add(sessions, run)
    _add(
        sessions,
        Message(
            job_id=job.id,
            object_pk=run.id,
            api_message_id="msg_1",
            role="assistant",
            content_text="hi",
            content=[{"type": "text"}],
        ),
    )
    with sessions.begin() as session:
        session.execute(delete(Batch).where(Batch.id == batch_id))
    with sessions() as session:
        counts = [session.scalar(select(func.count()).select_from(model)) for model in (Job, ApiObject, Message)]
    assert counts == [0, 0, 0]
