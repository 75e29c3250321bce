"""The usage views sum token usage over every run (attempt), grouped as documented."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session, sessionmaker

from batchrunner.db.models import ApiObject, Batch, Job
from batchrunner.db.views import usage_by_assistant, usage_by_batch, usage_by_day, usage_by_model

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
# 23:30 UTC on 1 March is already 2 March east of UTC: the day must still be the UTC one.
LATE_EVENING = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)


@dataclass(frozen=True)
class RunRow:
    job: str
    attempt: int
    model: str | None
    assistant_id: str | None
    created_at: datetime | None
    usage: tuple[int, int] | None  # (prompt, completion)


BATCHES = {"alpha": ["a1", "a2", "a3"], "beta": ["b1"], "empty": []}
JOB_ASSISTANT = {"a1": "asst_x", "a2": "asst_y", "a3": "asst_x", "b1": "asst_y"}
RUNS = [
    RunRow("a1", 1, "gpt-4o", "asst_x", T0, (100, 10)),
    RunRow("a1", 2, "gpt-4o", "asst_x", T0 + timedelta(days=1), (120, 30)),  # a retry: paid for too
    RunRow("a2", 1, "gpt-4o-mini", None, LATE_EVENING, (7, 3)),  # assistant falls back to the job's
    RunRow("a2", 2, "gpt-4o-mini", "asst_y", None, None),  # no usage, no API timestamp
    RunRow("b1", 1, "gpt-4o", "asst_y", T0, (1000, 500)),
    RunRow("b1", 2, "gpt-4o-mini", "asst_y", T0, (50, 5)),
]
RECORDED_AT = datetime(2025, 3, 5, 12, 0, tzinfo=UTC)


def _insert(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions.begin() as session:
        batch_ids: dict[str, int] = {}
        job_ids: dict[str, int] = {}
        for batch_name, jobs in BATCHES.items():
            batch = Batch(name=batch_name)
            session.add(batch)
            session.flush()
            batch_ids[batch_name] = batch.id
            for line_no, custom_id in enumerate(jobs, start=1):
                job = Job(
                    batch_id=batch.id,
                    custom_id=custom_id,
                    line_no=line_no,
                    spec={},
                    assistant_id=JOB_ASSISTANT[custom_id],
                    state="succeeded",
                    backend="assistants",
                )
                session.add(job)
                session.flush()
                job_ids[custom_id] = job.id
        for row in RUNS:
            run = ApiObject(
                job_id=job_ids[row.job],
                attempt=row.attempt,
                backend="assistants",
                kind="run",
                api_id=f"run_{row.job}_{row.attempt}",
                model=row.model,
                assistant_id=row.assistant_id,
                status="completed",
                created_at=row.created_at,
                recorded_at=RECORDED_AT,
            )
            if row.usage is not None:
                run.prompt_tokens, run.completion_tokens = row.usage
                run.total_tokens = sum(row.usage)
            session.add(run)
    return batch_ids


def _batch_of(custom_id: str) -> str:
    return next(name for name, jobs in BATCHES.items() if custom_id in jobs)


def _expected(key: Any) -> dict[Any, tuple[int, int, int, int]]:
    """Runs and token sums per group, computed in Python from RUNS."""
    sums: dict[Any, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in RUNS:
        prompt, completion = row.usage or (0, 0)
        group = sums[key(row)]
        group[0] += 1
        group[1] += prompt
        group[2] += completion
        group[3] += prompt + completion
    return {k: (v[0], v[1], v[2], v[3]) for k, v in sums.items()}


def _rows(engine: Engine, view: Any, keys: list[str]) -> dict[Any, tuple[int, int, int, int]]:
    sums = [view.c.attempts, view.c.prompt_tokens, view.c.completion_tokens, view.c.total_tokens]
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # A session far east of UTC: days must not follow the session's time zone.
            connection.execute(text("SET TIME ZONE 'Asia/Tokyo'"))
        result = connection.execute(select(*(view.c[k] for k in keys), *sums)).all()
    return {
        tuple(str(v) if k == "day" else v for k, v in zip(keys, row[: len(keys)], strict=True)): tuple(row[len(keys) :])
        for row in result
    }


def test_usage_by_batch_counts_every_attempt_and_every_batch(
    db_engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Per batch: runs and tokens of all attempts, jobs in the batch, and zeros for a batch without runs."""
    ids = _insert(sessions)
    by_batch = _expected(lambda row: ids[_batch_of(row.job)])
    expected = {
        (batch_id, name, len(BATCHES[name])): by_batch.get(batch_id, (0, 0, 0, 0)) for name, batch_id in ids.items()
    }
    assert _rows(db_engine, usage_by_batch, ["batch_id", "batch_name", "jobs"]) == expected


def test_usage_by_assistant_uses_the_jobs_assistant_when_the_run_has_none(
    db_engine: Engine, sessions: sessionmaker[Session]
) -> None:
    """Per batch and assistant: the run's assistant id, else the job's."""
    ids = _insert(sessions)
    expected = _expected(lambda row: (ids[_batch_of(row.job)], row.assistant_id or JOB_ASSISTANT[row.job]))
    assert _rows(db_engine, usage_by_assistant, ["batch_id", "assistant_id"]) == expected


def test_usage_by_model_sums_per_batch_and_model(db_engine: Engine, sessions: sessionmaker[Session]) -> None:
    """Per batch and model: the runs and their token sums, with NULL usage counted as zero."""
    ids = _insert(sessions)
    expected = _expected(lambda row: (ids[_batch_of(row.job)], row.model))
    assert _rows(db_engine, usage_by_model, ["batch_id", "model"]) == expected


def test_usage_by_day_groups_by_utc_date(db_engine: Engine, sessions: sessionmaker[Session]) -> None:
    """Per batch, UTC day (of the API's created_at, else recorded_at) and model."""
    ids = _insert(sessions)

    def key(row: RunRow) -> tuple[int, str, str | None]:
        day = (row.created_at or RECORDED_AT).astimezone(UTC).date().isoformat()
        return ids[_batch_of(row.job)], day, row.model

    assert _rows(db_engine, usage_by_day, ["batch_id", "day", "model"]) == _expected(key)


def test_usage_sums_are_integers(db_engine: Engine, sessions: sessionmaker[Session]) -> None:
    """Sums come back as Python ints on every dialect (not Decimal from Postgres NUMERIC)."""
    _insert(sessions)
    with db_engine.connect() as connection:
        row = connection.execute(text("SELECT attempts, total_tokens FROM usage_by_model LIMIT 1")).one()
    assert all(type(value) is int for value in row)
