"""A batch's finished jobs with their newest API object whole (its output items too), a page at a time:
what ``results --format openai-batch`` writes as the Batch API's output lines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from batchrunner.db.models import ApiObject, Job, ResponseOutputItem
from batchrunner.db.repository import TERMINAL_STATES

_JOB_COLUMNS = (Job.id, Job.line_no, Job.custom_id, Job.state, Job.error_code, Job.error_message, Job.spec)
_OBJECT_COLUMNS = (
    ApiObject.job_id,
    ApiObject.id,
    ApiObject.api_id,
    ApiObject.kind,
    ApiObject.status,
    ApiObject.model,
    ApiObject.created_at,
    ApiObject.finished_at,
    ApiObject.error_code,
    ApiObject.error_message,
    ApiObject.incomplete_reason,
    ApiObject.prompt_tokens,
    ApiObject.completion_tokens,
    ApiObject.total_tokens,
    ApiObject.cached_tokens,
    ApiObject.reasoning_tokens,
    ApiObject.service_tier,
)


@dataclass(frozen=True)
class RecordedObject:
    """An API object as recorded, with its output items (Responses) in order."""

    api_id: str
    kind: str
    status: str
    model: str | None
    created_at: datetime | None
    finished_at: datetime | None
    error_code: str | None
    error_message: str | None
    incomplete_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cached_tokens: int | None
    reasoning_tokens: int | None
    service_tier: str | None
    output: list[dict[str, Any]]


@dataclass(frozen=True)
class FinishedJob:
    line_no: int
    custom_id: str
    state: str
    error_code: str | None
    error_message: str | None
    latest: RecordedObject | None
    # The request the job sent (Responses backend), whose settings a response object repeats.
    request: dict[str, Any] | None = None


def finished_job_pages(engine: Engine, batch_id: int, *, page_size: int = 2000) -> Iterator[list[FinishedJob]]:
    """The batch's finished jobs in id order, ``page_size`` at a time: three queries a page."""
    last_id = 0
    while True:
        with engine.connect() as connection:
            jobs = connection.execute(
                select(*_JOB_COLUMNS)
                .where(Job.batch_id == batch_id, Job.id > last_id)
                .order_by(Job.id)
                .limit(page_size)
            ).all()
            if not jobs:
                return
            objects = connection.execute(
                select(*_OBJECT_COLUMNS)
                .where(ApiObject.job_id.between(jobs[0].id, jobs[-1].id))
                .order_by(ApiObject.job_id, ApiObject.attempt, ApiObject.round)
            ).all()
            latest = {row.job_id: row for row in objects}  # the last of each job's objects wins
            items = connection.execute(
                select(ResponseOutputItem.object_pk, ResponseOutputItem.item)
                .where(ResponseOutputItem.object_pk.in_([row.id for row in latest.values()]))
                .order_by(ResponseOutputItem.object_pk, ResponseOutputItem.position)
            ).all()
        outputs: dict[int, list[dict[str, Any]]] = {}
        for object_pk, item in items:
            outputs.setdefault(object_pk, []).append(item)
        yield [
            FinishedJob(
                job.line_no,
                job.custom_id,
                job.state,
                job.error_code,
                job.error_message,
                _recorded(latest[job.id], outputs.get(latest[job.id].id, [])) if job.id in latest else None,
                _request_of(job.spec),
            )
            for job in jobs
            if job.state in TERMINAL_STATES
        ]
        last_id = jobs[-1].id


def _request_of(spec: Any) -> dict[str, Any] | None:
    request = spec.get("request") if isinstance(spec, dict) else None
    return request if isinstance(request, dict) else None


def _recorded(row: Any, output: list[dict[str, Any]]) -> RecordedObject:
    return RecordedObject(
        api_id=row.api_id,
        kind=row.kind,
        status=row.status,
        model=row.model,
        created_at=row.created_at,
        finished_at=row.finished_at,
        error_code=row.error_code,
        error_message=row.error_message,
        incomplete_reason=row.incomplete_reason,
        prompt_tokens=row.prompt_tokens,
        completion_tokens=row.completion_tokens,
        total_tokens=row.total_tokens,
        cached_tokens=row.cached_tokens,
        reasoning_tokens=row.reasoning_tokens,
        service_tier=row.service_tier,
        output=output,
    )


__all__ = ["FinishedJob", "RecordedObject", "finished_job_pages"]
