"""Initial schema: batches, jobs, runs, run_steps, tool_invocations, messages, thread_locks, usage views.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Self-contained on purpose: types, names and view SQL are spelled out here rather than imported
from batchrunner, so this revision keeps building the same schema however the code changes.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _big_pk() -> sa.types.TypeEngine[int]:
    # INTEGER on SQLite, where only that spelling makes the key an autoincrementing rowid.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _now() -> sa.TextClause:
    return sa.text("CURRENT_TIMESTAMP")


def _counter(name: str, type_: type[sa.Integer] = sa.Integer) -> sa.Column[int]:
    return sa.Column(name, type_(), nullable=False, server_default=sa.text("0"))


def _usage_columns(nullable: bool) -> list[sa.Column[int]]:
    default = None if nullable else sa.text("0")
    return [
        sa.Column(name, sa.BigInteger(), nullable=nullable, server_default=default)
        for name in ("prompt_tokens", "completion_tokens", "total_tokens")
    ]


def _create_tables() -> None:
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(32), nullable=False, server_default=sa.text("'active'")),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("source_file", sa.Text(), nullable=True),
        sa.Column("created_at", _ts(), nullable=False, server_default=_now()),
        sa.Column("updated_at", _ts(), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.UniqueConstraint("name", name="uq_batches_name"),
    )
    op.create_table(
        "jobs",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("custom_id", sa.String(512), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("assistant_id", sa.String(128), nullable=False),
        sa.Column("target_thread_id", sa.String(128), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        _counter("attempt"),
        sa.Column("thread_id", sa.String(128), nullable=True),
        sa.Column("run_id", sa.String(128), nullable=True),
        sa.Column("next_wake_at", _ts(), nullable=True),
        _counter("version"),
        _counter("step_retries"),
        _counter("estimated_tokens", sa.BigInteger),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("output_text", sa.Text(), nullable=True),
        *_usage_columns(nullable=False),
        sa.Column("created_at", _ts(), nullable=False, server_default=_now()),
        sa.Column("updated_at", _ts(), nullable=False, server_default=_now()),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["batch_id"], ["batches.id"], name="fk_jobs_batch_id_batches", ondelete="CASCADE"),
        sa.UniqueConstraint("batch_id", "custom_id", name="uq_jobs_batch_id_custom_id"),
    )
    op.create_index("ix_jobs_state_next_wake_at", "jobs", ["state", "next_wake_at"])
    op.create_index("ix_jobs_next_wake_at", "jobs", ["next_wake_at"])
    op.create_index("ix_jobs_batch_id_state", "jobs", ["batch_id", "state"])
    op.create_index("ix_jobs_target_thread_id", "jobs", ["target_thread_id"])

    op.create_table(
        "runs",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("api_run_id", sa.String(128), nullable=False),
        sa.Column("thread_id", sa.String(128), nullable=True),
        sa.Column("assistant_id", sa.String(128), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        *(
            sa.Column(name, _ts(), nullable=True)
            for name in ("created_at", "started_at", "completed_at", "failed_at", "cancelled_at", "expires_at")
        ),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        sa.Column("last_error_message", sa.Text(), nullable=True),
        sa.Column("incomplete_reason", sa.String(64), nullable=True),
        *_usage_columns(nullable=True),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("finished_recorded_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_runs_job_id_jobs", ondelete="CASCADE"),
        sa.UniqueConstraint("api_run_id", name="uq_runs_api_run_id"),
        sa.UniqueConstraint("job_id", "attempt", name="uq_runs_job_id_attempt"),
    )

    op.create_table(
        "run_steps",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("api_step_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("step_details", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=True),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        *_usage_columns(nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_run_steps"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.id"], name="fk_run_steps_run_pk_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("api_step_id", name="uq_run_steps_api_step_id"),
    )
    op.create_index("ix_run_steps_run_pk", "run_steps", ["run_pk"])

    op.create_table(
        "tool_invocations",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("run_pk", sa.BigInteger(), nullable=False),
        sa.Column("tool_call_id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("output", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tool_invocations"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_tool_invocations_job_id_jobs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.id"], name="fk_tool_invocations_run_pk_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_tool_invocations_job_id", "tool_invocations", ["job_id"])
    op.create_index("ix_tool_invocations_run_pk", "tool_invocations", ["run_pk"])

    op.create_table(
        "messages",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("run_pk", sa.BigInteger(), nullable=True),
        sa.Column("api_message_id", sa.String(128), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("content", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_messages_job_id_jobs", ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.id"], name="fk_messages_run_pk_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("api_message_id", name="uq_messages_api_message_id"),
    )
    op.create_index("ix_messages_job_id", "messages", ["job_id"])
    op.create_index("ix_messages_run_pk", "messages", ["run_pk"])

    op.create_table(
        "thread_locks",
        sa.Column("thread_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name="pk_thread_locks"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_thread_locks_job_id_jobs", ondelete="CASCADE"),
    )


# Usage is summed over runs (each attempt was paid for); sums are cast so Postgres returns integers,
# not NUMERIC. A run's day is the UTC date the API created it, else the date it was recorded.
_SUMS = """
    COUNT(r.id) AS runs,
    CAST(COALESCE(SUM(r.prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
    CAST(COALESCE(SUM(r.completion_tokens), 0) AS BIGINT) AS completion_tokens,
    CAST(COALESCE(SUM(r.total_tokens), 0) AS BIGINT) AS total_tokens"""

_DAY = {
    "postgresql": "CAST((COALESCE(r.created_at, r.recorded_at) AT TIME ZONE 'UTC') AS DATE)",
    # SQLite stores these as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC.
    "sqlite": "date(COALESCE(r.created_at, r.recorded_at))",
}


def _view_sql(dialect: str) -> dict[str, str]:
    if dialect not in _DAY:
        raise NotImplementedError(f"usage views are written for Postgres and SQLite, not {dialect}")
    day = _DAY[dialect]
    return {
        "usage_by_batch": f"""
SELECT b.id AS batch_id, b.name AS batch_name, COUNT(DISTINCT j.id) AS jobs,{_SUMS}
FROM batches b
LEFT JOIN jobs j ON j.batch_id = b.id
LEFT JOIN runs r ON r.job_id = j.id
GROUP BY b.id, b.name""",
        "usage_by_assistant": f"""
SELECT j.batch_id AS batch_id, COALESCE(r.assistant_id, j.assistant_id) AS assistant_id,{_SUMS}
FROM runs r
JOIN jobs j ON j.id = r.job_id
GROUP BY j.batch_id, COALESCE(r.assistant_id, j.assistant_id)""",
        "usage_by_model": f"""
SELECT j.batch_id AS batch_id, r.model AS model,{_SUMS}
FROM runs r
JOIN jobs j ON j.id = r.job_id
GROUP BY j.batch_id, r.model""",
        "usage_by_day": f"""
SELECT j.batch_id AS batch_id, {day} AS day, r.model AS model,{_SUMS}
FROM runs r
JOIN jobs j ON j.id = r.job_id
GROUP BY j.batch_id, {day}, r.model""",
    }


_VIEWS = ("usage_by_batch", "usage_by_assistant", "usage_by_model", "usage_by_day")


def upgrade() -> None:
    _create_tables()
    dialect = op.get_context().dialect.name
    for name, select in _view_sql(dialect).items():
        op.execute(f"CREATE VIEW {name} AS {select}")


def downgrade() -> None:
    for name in reversed(_VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")
    for table in ("thread_locks", "messages", "tool_invocations", "run_steps", "runs", "jobs", "batches"):
        op.drop_table(table)
