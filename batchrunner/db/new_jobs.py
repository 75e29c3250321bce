"""Writing a chunk of new jobs (``job_rows``) into ``jobs``, skipping custom_ids the batch already holds.

On Postgres the chunk is copied (``COPY ... FROM STDIN``) into a temporary table of this connection,
emptied at every commit, and moved from there with one ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``;
elsewhere (SQLite) the rows are inserted as one executemany. Both run in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from batchrunner.db.job_rows import ROW_COLUMNS, parse_row
from batchrunner.db.models import Job
from batchrunner.states import JobState

# Named for its columns: a connection kept from before a column was added still holds the old table.
_STAGING = "batchrunner_new_jobs_v2"
_COLUMNS = ", ".join(ROW_COLUMNS)
_CREATE_STAGING = (
    f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGING} (custom_id text, line_no integer, backend text,"
    " assistant_id text, target_container_id text, deadline_at timestamptz, lane text, spec jsonb)"
    " ON COMMIT DELETE ROWS"
)
_COPY = f"COPY {_STAGING} ({_COLUMNS}) FROM STDIN"
_MOVE = text(
    f"INSERT INTO jobs (batch_id, {_COLUMNS}, state, next_wake_at, created_at, updated_at)"
    f" SELECT :batch_id, {_COLUMNS}, :state, :now, :now, :now FROM {_STAGING} ORDER BY line_no"
    " ON CONFLICT (batch_id, custom_id) DO NOTHING RETURNING id"
)


def insert_job_rows(session: Session, batch_id: int, rows: list[bytes], now: datetime) -> list[int]:
    """Insert ``rows`` as pending jobs of ``batch_id``, due at ``now``; the ids of those that were new."""
    if not rows:
        return []
    if session.get_bind().dialect.name == "postgresql":
        return _copied(session, batch_id, rows, now)
    return _inserted(session, batch_id, rows, now)


def _copied(session: Session, batch_id: int, rows: list[bytes], now: datetime) -> list[int]:
    connection = session.connection()
    connection.exec_driver_sql(_CREATE_STAGING)
    driver = connection.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
        copy.write(b"".join(rows))
    found = connection.execute(_MOVE, {"batch_id": batch_id, "state": JobState.PENDING.value, "now": now})
    return sorted(found.scalars())


def _inserted(session: Session, batch_id: int, rows: list[bytes], now: datetime) -> list[int]:
    values = [
        {**parse_row(row), "batch_id": batch_id, "state": JobState.PENDING.value, "next_wake_at": now}
        | {"created_at": now, "updated_at": now}
        for row in rows
    ]
    statement = sqlite_insert(Job).on_conflict_do_nothing(index_elements=["batch_id", "custom_id"]).returning(Job.id)
    return sorted(session.scalars(statement, values).all())


__all__ = ["insert_job_rows"]
