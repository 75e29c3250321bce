"""Migration 0002 carries a database written by the Assistants-only schema forward without losing a record."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from batchrunner.db.engine import make_engine
from batchrunner.db.migrate import downgrade, upgrade

_OLD_ROWS = [
    "INSERT INTO batches (id, name) VALUES (1, 'old')",
    "INSERT INTO jobs (id, batch_id, custom_id, line_no, spec, assistant_id, state, attempt, thread_id, run_id,"
    " target_thread_id, total_tokens) VALUES (1, 1, 'a', 1, '{}', 'asst_1', 'succeeded', 2, 'thread_1', 'run_2',"
    " 'thread_1', 30)",
    "INSERT INTO runs (id, job_id, attempt, api_run_id, thread_id, assistant_id, model, status, created_at,"
    " failed_at, last_error_code, prompt_tokens, completion_tokens, total_tokens, recorded_at) VALUES"
    " (1, 1, 1, 'run_1', 'thread_1', 'asst_1', 'gpt-4o', 'failed', '2026-11-01 10:00:00', '2026-11-01 10:00:05',"
    " 'server_error', 5, 5, 10, '2026-11-01 10:00:06')",
    "INSERT INTO runs (id, job_id, attempt, api_run_id, thread_id, assistant_id, model, status, created_at,"
    " completed_at, prompt_tokens, completion_tokens, total_tokens, recorded_at) VALUES"
    " (2, 1, 2, 'run_2', 'thread_1', 'asst_1', 'gpt-4o', 'completed', '2026-11-01 10:01:00',"
    " '2026-11-01 10:01:09', 12, 8, 20, '2026-11-01 10:01:10')",
    "INSERT INTO run_steps (id, run_pk, api_step_id, type, status, step_details) VALUES"
    " (1, 2, 'step_1', 'message_creation', 'completed', '{}')",
    "INSERT INTO tool_invocations (id, job_id, run_pk, tool_call_id, name, arguments, outcome, started_at,"
    " duration_seconds) VALUES (1, 1, 2, 'call_1', 'calculate', '{}', 'ok', '2026-11-01 10:01:01', 0.1)",
    "INSERT INTO messages (id, job_id, run_pk, api_message_id, role, content_text, content) VALUES"
    " (1, 1, 2, 'msg_1', 'assistant', 'hello', '[]')",
    "INSERT INTO thread_locks (thread_id, job_id, acquired_at) VALUES ('thread_1', 1, '2026-11-01 10:00:00')",
]


def _migrated_old_database(url: str) -> sa.Engine:
    """A database at 0001 holding ``_OLD_ROWS``, then migrated to head; the caller disposes of the engine."""
    upgrade(url, "0001")
    engine = make_engine(url, pool_size=1)
    with engine.begin() as conn:
        for statement in _OLD_ROWS:
            conn.execute(sa.text(statement))
    upgrade(url)
    return engine


def _rows(engine: sa.Engine, query: str) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(query)).all())


def test_upgrading_moves_runs_steps_and_locks_into_the_neutral_tables(empty_database_url: str) -> None:
    """Runs become API objects (finished_at, outcome, backend filled), and every child row follows its run."""
    engine = _migrated_old_database(empty_database_url)
    try:
        (job,) = _rows(engine, "SELECT backend, container_id, object_id, target_container_id, tool_rounds FROM jobs")
        assert tuple(job) == ("assistants", "thread_1", "run_2", "thread_1", 0)
        objects = _rows(
            engine,
            "SELECT id, api_id, backend, kind, round, status, outcome, finished_at, error_code, total_tokens"
            " FROM api_objects ORDER BY id",
        )
        assert [(o.api_id, o.backend, o.kind, o.round, o.outcome, o.error_code, o.total_tokens) for o in objects] == [
            ("run_1", "assistants", "run", 0, "failed", "server_error", 10),
            ("run_2", "assistants", "run", 0, "succeeded", None, 20),
        ]
        assert all(o.finished_at is not None for o in objects)
        assert _rows(engine, "SELECT object_pk, api_step_id FROM assistant_run_steps") == [(2, "step_1")]
        assert _rows(engine, "SELECT object_pk FROM tool_invocations") == [(2,)]
        assert _rows(engine, "SELECT object_pk FROM messages") == [(2,)]
        assert _rows(engine, "SELECT container_id, job_id FROM container_locks") == [("thread_1", 1)]
        usage = _rows(engine, "SELECT attempts, api_objects, total_tokens FROM usage_by_batch")
        assert usage == [(2, 2, 30)]
        # New rows get ids past the copied ones (Postgres sequences were moved on).
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_objects (job_id, attempt, round, backend, kind, api_id, status, recorded_at)"
                    " VALUES (1, 3, 0, 'responses', 'response', 'resp_1', 'queued', '2026-11-02 00:00:00')"
                )
            )
        assert _rows(engine, "SELECT id FROM api_objects WHERE api_id = 'resp_1'") == [(3,)]
    finally:
        engine.dispose()


def test_downgrading_keeps_each_attempts_first_object(empty_database_url: str) -> None:
    """Down to 0001, runs come back from the round-0 objects; later rounds of a chain are dropped."""
    engine = _migrated_old_database(empty_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO api_objects (id, job_id, attempt, round, backend, kind, api_id, status, recorded_at)"
                    " VALUES (10, 1, 2, 1, 'responses', 'response', 'resp_9', 'completed', '2026-11-02 00:00:00')"
                )
            )
        downgrade(empty_database_url, "0001")
        runs = _rows(engine, "SELECT api_run_id, status, completed_at IS NOT NULL, failed_at IS NOT NULL FROM runs")
        assert sorted(tuple(r) for r in runs) == [("run_1", "failed", False, True), ("run_2", "completed", True, False)]
        assert _rows(engine, "SELECT run_pk FROM run_steps") == [(2,)]
        assert _rows(engine, "SELECT thread_id, run_id FROM jobs") == [("thread_1", "run_2")]
    finally:
        engine.dispose()
