"""Backend-neutral records: jobs, attempts and the API objects each attempt made.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

- ``runs`` becomes ``api_objects``: one row per API object (an Assistants run, or each response of a
  Responses chain), with ``backend``, ``kind`` and ``round`` (its place in the attempt). The
  Assistants-only timestamps (``completed_at``, ``failed_at``, ``cancelled_at``, ``expires_at``) fold
  into ``finished_at``; ``last_error_*`` become ``error_*``; ``cached_tokens`` and
  ``reasoning_tokens`` are new.
- Each backend's own detail gets its own table: ``run_steps`` becomes ``assistant_run_steps`` and
  ``response_output_items`` is new.
- ``jobs`` gains ``backend`` (existing jobs are Assistants jobs) and ``tool_rounds``; ``thread_id``,
  ``run_id`` and ``target_thread_id`` become ``container_id``, ``object_id`` and
  ``target_container_id``; ``thread_locks`` becomes ``container_locks``.
- The usage views sum over ``api_objects`` and count ``attempts`` and ``api_objects`` (``runs`` is gone).

Downgrading keeps only each attempt's first API object (round 0) and drops the Responses detail.
Self-contained like 0001: nothing is imported from batchrunner.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VIEWS = ("usage_by_batch", "usage_by_assistant", "usage_by_model", "usage_by_day")


def _big_pk() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _tokens(*names: str) -> list[sa.Column[int]]:
    return [sa.Column(name, sa.BigInteger(), nullable=True) for name in names]


def _is_postgres() -> bool:
    return op.get_context().dialect.name == "postgresql"


def _bump_sequence(table: str) -> None:
    """Rows were copied with their ids: move the table's id sequence past them (SQLite needs nothing)."""
    if _is_postgres():
        op.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
        )


def _drop_views() -> None:
    for name in reversed(_VIEWS):
        op.execute(f"DROP VIEW IF EXISTS {name}")


# -- upgrade ------------------------------------------------------------------------------------


def _create_api_objects() -> None:
    op.create_table(
        "api_objects",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("backend", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("api_id", sa.String(128), nullable=False),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("assistant_id", sa.String(128), nullable=True),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("created_at", _ts(), nullable=True),
        sa.Column("started_at", _ts(), nullable=True),
        sa.Column("finished_at", _ts(), nullable=True),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("incomplete_reason", sa.String(64), nullable=True),
        *_tokens("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens", "reasoning_tokens"),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("finished_recorded_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_objects"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_api_objects_job_id_jobs", ondelete="CASCADE"),
        sa.UniqueConstraint("api_id", name="uq_api_objects_api_id"),
        sa.UniqueConstraint("job_id", "attempt", "round", name="uq_api_objects_job_id_attempt_round"),
    )
    op.execute(
        """
INSERT INTO api_objects (id, job_id, attempt, round, backend, kind, api_id, container_id, assistant_id, model,
    status, outcome, created_at, started_at, finished_at, error_code, error_message, incomplete_reason,
    prompt_tokens, completion_tokens, total_tokens, recorded_at, finished_recorded_at)
SELECT id, job_id, attempt, 0, 'assistants', 'run', api_run_id, thread_id, assistant_id, model,
    status,
    CASE status WHEN 'completed' THEN 'succeeded' WHEN 'failed' THEN 'failed' WHEN 'cancelled' THEN 'cancelled'
        WHEN 'expired' THEN 'expired' WHEN 'incomplete' THEN 'incomplete' END,
    created_at, started_at,
    COALESCE(completed_at, failed_at, cancelled_at, CASE WHEN status = 'expired' THEN expires_at END),
    last_error_code, last_error_message, incomplete_reason,
    prompt_tokens, completion_tokens, total_tokens, recorded_at, finished_recorded_at
FROM runs"""
    )
    _bump_sequence("api_objects")


def _create_backend_records() -> None:
    op.create_table(
        "assistant_run_steps",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("object_pk", sa.BigInteger(), nullable=False),
        sa.Column("api_step_id", sa.String(128), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("step_details", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=True),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.Column("last_error_code", sa.String(64), nullable=True),
        *_tokens("prompt_tokens", "completion_tokens", "total_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_assistant_run_steps"),
        sa.ForeignKeyConstraint(
            ["object_pk"], ["api_objects.id"], name="fk_assistant_run_steps_object_pk_api_objects", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("api_step_id", name="uq_assistant_run_steps_api_step_id"),
    )
    op.create_index("ix_assistant_run_steps_object_pk", "assistant_run_steps", ["object_pk"])
    op.execute(
        """
INSERT INTO assistant_run_steps (id, object_pk, api_step_id, type, status, step_details, created_at, completed_at,
    last_error_code, prompt_tokens, completion_tokens, total_tokens)
SELECT id, run_pk, api_step_id, type, status, step_details, created_at, completed_at,
    last_error_code, prompt_tokens, completion_tokens, total_tokens
FROM run_steps"""
    )
    _bump_sequence("assistant_run_steps")
    op.drop_table("run_steps")

    op.create_table(
        "response_output_items",
        sa.Column("id", _big_pk(), nullable=False, autoincrement=True),
        sa.Column("object_pk", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("api_item_id", sa.String(128), nullable=True),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("item", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_response_output_items"),
        sa.ForeignKeyConstraint(
            ["object_pk"],
            ["api_objects.id"],
            name="fk_response_output_items_object_pk_api_objects",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("object_pk", "position", name="uq_response_output_items_object_pk_position"),
    )


def _repoint_to_objects(table: str, nullable: bool) -> None:
    """``table.run_pk`` (a key of ``runs``) becomes ``object_pk`` (the same key, now of ``api_objects``)."""
    with op.batch_alter_table(table) as batch:
        batch.drop_index(f"ix_{table}_run_pk")
        batch.drop_constraint(f"fk_{table}_run_pk_runs", type_="foreignkey")
        batch.alter_column("run_pk", new_column_name="object_pk", existing_type=sa.BigInteger(), nullable=nullable)
    # A second batch: on SQLite the first one's renamed column exists only once that table is rebuilt.
    with op.batch_alter_table(table) as batch:
        batch.create_foreign_key(
            f"fk_{table}_object_pk_api_objects", "api_objects", ["object_pk"], ["id"], ondelete="CASCADE"
        )
        batch.create_index(f"ix_{table}_object_pk", ["object_pk"])


def _container_locks() -> None:
    op.create_table(
        "container_locks",
        sa.Column("container_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("container_id", name="pk_container_locks"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_container_locks_job_id_jobs", ondelete="CASCADE"),
    )
    op.execute(
        "INSERT INTO container_locks (container_id, job_id, acquired_at)"
        " SELECT thread_id, job_id, acquired_at FROM thread_locks"
    )
    op.drop_table("thread_locks")


def _neutral_jobs() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_target_thread_id")
        batch.add_column(sa.Column("backend", sa.String(32), nullable=False, server_default=sa.text("'assistants'")))
        batch.add_column(sa.Column("tool_rounds", sa.Integer(), nullable=False, server_default=sa.text("0")))
        batch.alter_column("thread_id", new_column_name="container_id", existing_type=sa.String(128))
        batch.alter_column("run_id", new_column_name="object_id", existing_type=sa.String(128))
        batch.alter_column("target_thread_id", new_column_name="target_container_id", existing_type=sa.String(128))
    # Every job is written with its backend from now on; the default only labelled the existing ones.
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_target_container_id", ["target_container_id"])
        batch.alter_column("backend", existing_type=sa.String(32), existing_nullable=False, server_default=None)


# Usage is summed over every API object (each was paid for); ``attempts`` counts the objects that
# started an attempt. Sums are cast so Postgres returns integers, not NUMERIC.
_SUMS = """
    CAST(COALESCE(SUM(CASE WHEN o.round = 0 THEN 1 ELSE 0 END), 0) AS BIGINT) AS attempts,
    COUNT(o.id) AS api_objects,
    CAST(COALESCE(SUM(o.prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
    CAST(COALESCE(SUM(o.completion_tokens), 0) AS BIGINT) AS completion_tokens,
    CAST(COALESCE(SUM(o.total_tokens), 0) AS BIGINT) AS total_tokens"""

_DAY = {
    "postgresql": "CAST((COALESCE(o.created_at, o.recorded_at) AT TIME ZONE 'UTC') AS DATE)",
    "sqlite": "date(COALESCE(o.created_at, o.recorded_at))",
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
LEFT JOIN api_objects o ON o.job_id = j.id
GROUP BY b.id, b.name""",
        "usage_by_assistant": f"""
SELECT j.batch_id AS batch_id, COALESCE(o.assistant_id, j.assistant_id) AS assistant_id,{_SUMS}
FROM api_objects o
JOIN jobs j ON j.id = o.job_id
GROUP BY j.batch_id, COALESCE(o.assistant_id, j.assistant_id)""",
        "usage_by_model": f"""
SELECT j.batch_id AS batch_id, o.model AS model,{_SUMS}
FROM api_objects o
JOIN jobs j ON j.id = o.job_id
GROUP BY j.batch_id, o.model""",
        "usage_by_day": f"""
SELECT j.batch_id AS batch_id, {day} AS day, o.model AS model,{_SUMS}
FROM api_objects o
JOIN jobs j ON j.id = o.job_id
GROUP BY j.batch_id, {day}, o.model""",
    }


def upgrade() -> None:
    _drop_views()
    _create_api_objects()
    _create_backend_records()
    _repoint_to_objects("tool_invocations", nullable=False)
    _repoint_to_objects("messages", nullable=True)
    op.drop_table("runs")
    _container_locks()
    _neutral_jobs()
    for name, select in _view_sql(op.get_context().dialect.name).items():
        op.execute(f"CREATE VIEW {name} AS {select}")


# -- downgrade ----------------------------------------------------------------------------------

_OLD_SUMS = """
    COUNT(r.id) AS runs,
    CAST(COALESCE(SUM(r.prompt_tokens), 0) AS BIGINT) AS prompt_tokens,
    CAST(COALESCE(SUM(r.completion_tokens), 0) AS BIGINT) AS completion_tokens,
    CAST(COALESCE(SUM(r.total_tokens), 0) AS BIGINT) AS total_tokens"""


def _old_view_sql(dialect: str) -> dict[str, str]:
    day = _DAY[dialect].replace("o.", "r.")
    return {
        "usage_by_batch": f"""
SELECT b.id AS batch_id, b.name AS batch_name, COUNT(DISTINCT j.id) AS jobs,{_OLD_SUMS}
FROM batches b
LEFT JOIN jobs j ON j.batch_id = b.id
LEFT JOIN runs r ON r.job_id = j.id
GROUP BY b.id, b.name""",
        "usage_by_assistant": f"""
SELECT j.batch_id AS batch_id, COALESCE(r.assistant_id, j.assistant_id) AS assistant_id,{_OLD_SUMS}
FROM runs r
JOIN jobs j ON j.id = r.job_id
GROUP BY j.batch_id, COALESCE(r.assistant_id, j.assistant_id)""",
        "usage_by_model": f"""
SELECT j.batch_id AS batch_id, r.model AS model,{_OLD_SUMS}
FROM runs r
JOIN jobs j ON j.id = r.job_id
GROUP BY j.batch_id, r.model""",
        "usage_by_day": f"""
SELECT j.batch_id AS batch_id, {day} AS day, r.model AS model,{_OLD_SUMS}
FROM runs r
JOIN jobs j ON j.id = r.job_id
GROUP BY j.batch_id, {day}, r.model""",
    }


def _restore_runs() -> None:
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
        *_tokens("prompt_tokens", "completion_tokens", "total_tokens"),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("finished_recorded_at", _ts(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_runs_job_id_jobs", ondelete="CASCADE"),
        sa.UniqueConstraint("api_run_id", name="uq_runs_api_run_id"),
        sa.UniqueConstraint("job_id", "attempt", name="uq_runs_job_id_attempt"),
    )
    op.execute(
        """
INSERT INTO runs (id, job_id, attempt, api_run_id, thread_id, assistant_id, model, status, created_at, started_at,
    completed_at, failed_at, cancelled_at, expires_at, last_error_code, last_error_message, incomplete_reason,
    prompt_tokens, completion_tokens, total_tokens, recorded_at, finished_recorded_at)
SELECT id, job_id, attempt, api_id, container_id, assistant_id, model, status, created_at, started_at,
    CASE WHEN status = 'completed' THEN finished_at END, CASE WHEN status = 'failed' THEN finished_at END,
    CASE WHEN status = 'cancelled' THEN finished_at END, CASE WHEN status = 'expired' THEN finished_at END,
    error_code, error_message, incomplete_reason, prompt_tokens, completion_tokens, total_tokens,
    recorded_at, finished_recorded_at
FROM api_objects WHERE round = 0"""
    )
    _bump_sequence("runs")
    for table in ("tool_invocations", "messages"):
        op.execute(f"DELETE FROM {table} WHERE object_pk IS NOT NULL AND object_pk NOT IN (SELECT id FROM runs)")
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_object_pk")
            batch.drop_constraint(f"fk_{table}_object_pk_api_objects", type_="foreignkey")
            batch.alter_column("object_pk", new_column_name="run_pk", existing_type=sa.BigInteger())
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(f"fk_{table}_run_pk_runs", "runs", ["run_pk"], ["id"], ondelete="CASCADE")
            batch.create_index(f"ix_{table}_run_pk", ["run_pk"])
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
        *_tokens("prompt_tokens", "completion_tokens", "total_tokens"),
        sa.PrimaryKeyConstraint("id", name="pk_run_steps"),
        sa.ForeignKeyConstraint(["run_pk"], ["runs.id"], name="fk_run_steps_run_pk_runs", ondelete="CASCADE"),
        sa.UniqueConstraint("api_step_id", name="uq_run_steps_api_step_id"),
    )
    op.create_index("ix_run_steps_run_pk", "run_steps", ["run_pk"])
    op.execute(
        """
INSERT INTO run_steps (id, run_pk, api_step_id, type, status, step_details, created_at, completed_at,
    last_error_code, prompt_tokens, completion_tokens, total_tokens)
SELECT id, object_pk, api_step_id, type, status, step_details, created_at, completed_at,
    last_error_code, prompt_tokens, completion_tokens, total_tokens
FROM assistant_run_steps WHERE object_pk IN (SELECT id FROM runs)"""
    )
    _bump_sequence("run_steps")


def downgrade() -> None:
    _drop_views()
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_target_container_id")
        batch.drop_column("backend")
        batch.drop_column("tool_rounds")
        batch.alter_column("container_id", new_column_name="thread_id", existing_type=sa.String(128))
        batch.alter_column("object_id", new_column_name="run_id", existing_type=sa.String(128))
        batch.alter_column("target_container_id", new_column_name="target_thread_id", existing_type=sa.String(128))
    with op.batch_alter_table("jobs") as batch:
        batch.create_index("ix_jobs_target_thread_id", ["target_thread_id"])
    op.create_table(
        "thread_locks",
        sa.Column("thread_id", sa.String(128), nullable=False),
        sa.Column("job_id", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name="pk_thread_locks"),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_thread_locks_job_id_jobs", ondelete="CASCADE"),
    )
    op.execute(
        "INSERT INTO thread_locks (thread_id, job_id, acquired_at)"
        " SELECT container_id, job_id, acquired_at FROM container_locks"
    )
    op.drop_table("container_locks")
    _restore_runs()
    op.drop_table("response_output_items")
    op.drop_table("assistant_run_steps")
    op.drop_table("api_objects")
    for name, select in _old_view_sql(op.get_context().dialect.name).items():
        op.execute(f"CREATE VIEW {name} AS {select}")
