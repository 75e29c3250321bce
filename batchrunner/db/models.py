"""The tables. Column names are a contract with the repository, the views and users' SQL.

Schema changes go through a new Alembic migration; ``tests/db`` fails when these classes and the
migrations drift apart. States and statuses are plain strings (not database enums) so a new state
needs no migration. Timestamps are aware UTC datetimes (``UtcDateTime``) on every dialect.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from batchrunner.db.base import Base, UtcDateTime, big_pk_type, json_type, utc_now

_NOW = text("CURRENT_TIMESTAMP")
_ZERO = text("0")


def _created_at() -> Mapped[datetime]:
    return mapped_column(UtcDateTime(), nullable=False, default=utc_now, server_default=_NOW)


def _updated_at() -> Mapped[datetime]:
    return mapped_column(UtcDateTime(), nullable=False, default=utc_now, onupdate=utc_now, server_default=_NOW)


def _counter(type_: type[Integer] = Integer) -> Mapped[int]:
    return mapped_column(type_(), nullable=False, default=0, server_default=_ZERO)


class Batch(Base):
    """A named set of jobs, usually one job file; ``status`` is active|stopped|cancelled|finished."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="active", server_default=text("'active'"))
    stop_reason: Mapped[str | None] = mapped_column(Text())
    source_file: Mapped[str | None] = mapped_column(Text())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()


class Job(Base):
    """One line of a job file and where it stands; updates are compare-and-set on ``version``.

    ``container_id`` is what the job's API objects live in (an Assistants thread, a Responses
    conversation, or nothing); ``object_id`` is the API object the job looks at next (a run, or the
    newest response of the attempt's chain).
    """

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("batch_id", "custom_id"),
        # The leading column also serves lookups by state alone.
        Index(None, "state", "next_wake_at"),
        # Terminal jobs have no wake-up, so this range-scans only live jobs (the sweeper's query).
        Index(None, "next_wake_at"),
        Index(None, "batch_id", "state"),
        Index(None, "target_container_id"),
    )

    id: Mapped[int] = mapped_column(big_pk_type(), primary_key=True, autoincrement=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), nullable=False)
    custom_id: Mapped[str] = mapped_column(String(512), nullable=False)
    line_no: Mapped[int] = mapped_column(Integer(), nullable=False)
    backend: Mapped[str] = mapped_column(String(32), nullable=False)
    spec: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False)
    assistant_id: Mapped[str] = mapped_column(String(128), nullable=False)
    target_container_id: Mapped[str | None] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(32), nullable=False)
    attempt: Mapped[int] = _counter()
    # Tool rounds answered in the current attempt (bounded by BATCHRUNNER_MAX_TOOL_ROUNDS).
    tool_rounds: Mapped[int] = _counter()
    container_id: Mapped[str | None] = mapped_column(String(128))
    object_id: Mapped[str | None] = mapped_column(String(128))
    next_wake_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The cost lane the job runs in (``lanes.Lane``), resolved when it was enqueued; NULL: standard.
    lane: Mapped[str | None] = mapped_column(String(16))
    # The Batch API submission (``api_batches.id``) whose input file holds the job's current attempt.
    api_batch_pk: Mapped[int | None] = mapped_column(Integer())
    version: Mapped[int] = _counter()
    step_retries: Mapped[int] = _counter()
    # Tokens reserved from the rate-limit budget for the current attempt (the estimate, before usage is known).
    estimated_tokens: Mapped[int] = _counter(BigInteger)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text())
    output_text: Mapped[str | None] = mapped_column(Text())
    prompt_tokens: Mapped[int] = _counter(BigInteger)
    completion_tokens: Mapped[int] = _counter(BigInteger)
    total_tokens: Mapped[int] = _counter(BigInteger)
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiBatch(Base):
    """One Batch API submission: an input file of batch-lane jobs of one batch and one model.

    Its row (and its jobs' ``api_batch_pk``) is committed before the file is uploaded, the file id before
    the batch is created, and the batch id as soon as it is known: a crash in between is resumed from
    here (``key`` is the batch's ``metadata.batchrunner_submission``, which finds a batch created just
    before a crash). ``phase`` is ``batch_lane.SubmissionPhase``; ``api_status`` the Batch API's status.
    """

    __tablename__ = "api_batches"
    __table_args__ = (Index(None, "phase", "next_check_at"),)

    id: Mapped[int] = mapped_column(Integer(), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id", ondelete="CASCADE"), nullable=False)
    model: Mapped[str] = mapped_column(String(128), nullable=False)
    phase: Mapped[str] = mapped_column(String(32), nullable=False)
    version: Mapped[int] = _counter()
    lines: Mapped[int] = _counter()
    # Tokens the lines are estimated to take: what counts against the model's enqueued-token limit.
    estimated_tokens: Mapped[int] = _counter(BigInteger)
    input_file_id: Mapped[str | None] = mapped_column(String(128))
    api_batch_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    api_status: Mapped[str | None] = mapped_column(String(32))
    output_file_id: Mapped[str | None] = mapped_column(String(128))
    error_file_id: Mapped[str | None] = mapped_column(String(128))
    completed_lines: Mapped[int] = _counter()
    failed_lines: Mapped[int] = _counter()
    error_message: Mapped[str | None] = mapped_column(Text())
    # When a driver should look at it next; a driver holding it moves this past its work (a lease).
    next_check_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _updated_at()
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ApiObject(Base):
    """One API object an attempt made: an Assistants run, or one response of a Responses chain.

    ``round`` is the object's place in its attempt (0 for the object that started it; a Responses tool
    round adds one). Usage is the object's own: a job's usage is the sum over its objects.
    """

    __tablename__ = "api_objects"
    # The unique constraint's leading column indexes job_id.
    __table_args__ = (UniqueConstraint("job_id", "attempt", "round"),)

    id: Mapped[int] = mapped_column(big_pk_type(), primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(BigInteger(), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    attempt: Mapped[int] = mapped_column(Integer(), nullable=False)
    round: Mapped[int] = _counter()
    backend: Mapped[str] = mapped_column(String(32), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    api_id: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    container_id: Mapped[str | None] = mapped_column(String(128))
    assistant_id: Mapped[str | None] = mapped_column(String(128))
    model: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    # The job state the object's end means (its backend's reading of ``status``); NULL until it ends.
    outcome: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())  # the API's created_at
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text())
    incomplete_reason: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger())
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger())
    total_tokens: Mapped[int | None] = mapped_column(BigInteger())
    cached_tokens: Mapped[int | None] = mapped_column(BigInteger())
    reasoning_tokens: Mapped[int | None] = mapped_column(BigInteger())
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utc_now)
    finished_recorded_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The lane the object was created in (NULL: standard) and the service tier the API reported for it.
    lane: Mapped[str | None] = mapped_column(String(16))
    service_tier: Mapped[str | None] = mapped_column(String(16))


class AssistantRunStep(Base):
    """The Assistants backend's own record: a step of a run (message creation or tool calls)."""

    __tablename__ = "assistant_run_steps"

    id: Mapped[int] = mapped_column(big_pk_type(), primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("api_objects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    api_step_id: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    type: Mapped[str] = mapped_column(String(32), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False)
    step_details: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error_code: Mapped[str | None] = mapped_column(String(64))
    prompt_tokens: Mapped[int | None] = mapped_column(BigInteger())
    completion_tokens: Mapped[int | None] = mapped_column(BigInteger())
    total_tokens: Mapped[int | None] = mapped_column(BigInteger())


class ResponseOutputItem(Base):
    """The Responses backend's own record: one item of a response's ``output``, as the API sent it."""

    __tablename__ = "response_output_items"
    __table_args__ = (UniqueConstraint("object_pk", "position"),)

    id: Mapped[int] = mapped_column(big_pk_type(), primary_key=True, autoincrement=True)
    object_pk: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("api_objects.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer(), nullable=False)
    api_item_id: Mapped[str | None] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str | None] = mapped_column(String(32))
    item: Mapped[dict[str, Any]] = mapped_column(json_type(), nullable=False)


class ToolInvocation(Base):
    """One tool call answered by a handler: arguments, output or error, outcome and duration."""

    __tablename__ = "tool_invocations"

    id: Mapped[int] = mapped_column(big_pk_type(), primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    object_pk: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("api_objects.id", ondelete="CASCADE"), nullable=False, index=True
    )
    tool_call_id: Mapped[str] = mapped_column(String(128), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    arguments: Mapped[str] = mapped_column(Text(), nullable=False)
    output: Mapped[str | None] = mapped_column(Text())
    error: Mapped[str | None] = mapped_column(Text())
    outcome: Mapped[str] = mapped_column(String(32), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    duration_seconds: Mapped[float] = mapped_column(Float(), nullable=False)


class Message(Base):
    """An assistant message an API object produced (the job's output)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(big_pk_type(), primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(
        BigInteger(), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    )
    object_pk: Mapped[int | None] = mapped_column(
        BigInteger(), ForeignKey("api_objects.id", ondelete="CASCADE"), index=True
    )
    api_message_id: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content_text: Mapped[str] = mapped_column(Text(), nullable=False)
    content: Mapped[list[dict[str, Any]]] = mapped_column(json_type(), nullable=False)
    created_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ContainerLock(Base):
    """Which job holds an existing thread or conversation: one active API object per container."""

    __tablename__ = "container_locks"

    container_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger(), ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False)
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, default=utc_now)


__all__ = [
    "ApiBatch",
    "ApiObject",
    "AssistantRunStep",
    "Base",
    "Batch",
    "ContainerLock",
    "Job",
    "Message",
    "ResponseOutputItem",
    "ToolInvocation",
]
