"""Engines, sessions and the UTC timestamp type behave the same on Postgres and SQLite."""

from __future__ import annotations

import multiprocessing
import socket
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from batchrunner.db.engine import closed_by_server, make_engine, make_session_factory, normalize_url, safe_url
from batchrunner.db.models import Batch, Job


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u:p@h:5432/db", "postgresql+psycopg://u:p@h:5432/db"),
        ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql+psycopg2://u@h/db"),
        ("sqlite:///batchrunner.db", "sqlite:///batchrunner.db"),
    ],
)
def test_normalize_url_selects_psycopg_for_plain_postgres_urls(url: str, expected: str) -> None:
    """Heroku-style and driverless Postgres URLs use psycopg 3; explicit drivers and SQLite are kept."""
    assert normalize_url(url) == expected


def test_safe_url_hides_the_password() -> None:
    """The password never appears in a URL meant for logs."""
    rendered = safe_url("postgres://user:s3cret-pw@db.example:5432/prod")
    assert "s3cret-pw" not in rendered
    assert "user" in rendered and "db.example" in rendered


def test_timestamps_come_back_as_aware_utc(sessions: sessionmaker[Session]) -> None:
    """A datetime in any zone is stored as its instant and read back as aware UTC; naive means UTC."""
    east = timezone(timedelta(hours=5, minutes=30))
    aware = datetime(2025, 3, 1, 10, 0, 0, 123456, tzinfo=east)
    naive = datetime(2025, 3, 1, 10, 0, 0)
    with sessions.begin() as session:
        batch = Batch(name="b", created_at=aware, updated_at=naive)
        session.add(batch)
    with sessions() as session:
        stored = session.scalars(select(Batch)).one()
    assert stored.created_at == aware
    assert stored.created_at.tzinfo is UTC
    assert stored.updated_at == naive.replace(tzinfo=UTC)
    assert stored.updated_at.tzinfo is UTC


def test_server_defaults_fill_rows_inserted_with_plain_sql(db_engine: Engine, sessions: sessionmaker[Session]) -> None:
    """A row inserted by SQL alone gets status 'active', zero counters and current UTC timestamps."""
    before = datetime.now(UTC) - timedelta(seconds=5)
    with db_engine.begin() as connection:
        connection.execute(text("INSERT INTO batches (name) VALUES ('plain')"))
        batch_id = connection.scalar(text("SELECT id FROM batches WHERE name = 'plain'"))
        connection.execute(
            text(
                "INSERT INTO jobs (batch_id, custom_id, line_no, spec, assistant_id, state, backend)"
                " VALUES (:b, 'c', 1, '{}', 'asst', 'pending', 'responses')"
            ),
            {"b": batch_id},
        )
    with sessions() as session:
        batch = session.scalars(select(Batch)).one()
        job = session.scalars(select(Job)).one()
    assert batch.status == "active"
    assert (job.attempt, job.version, job.step_retries, job.total_tokens, job.tool_rounds) == (0, 0, 0, 0, 0)
    assert before <= batch.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert job.created_at.tzinfo is UTC


def test_compare_and_set_on_version_lets_one_writer_win(sessions: sessionmaker[Session]) -> None:
    """An update conditioned on the version a writer read matches no row once another writer moved it."""
    with sessions.begin() as session:
        batch = Batch(name="b")
        session.add(batch)
        session.flush()
        job = Job(
            batch_id=batch.id,
            custom_id="c",
            line_no=1,
            spec={},
            assistant_id="a",
            state="pending",
            backend="assistants",
        )
        session.add(job)
    matched = []
    for _ in range(2):
        with sessions.begin() as session:
            result = session.execute(
                update(Job).where(Job.id == job.id, Job.version == 0).values(version=Job.version + 1)
            )
            matched.append(result.rowcount)  # type: ignore[attr-defined]
    assert matched == [1, 0]


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(sqlite_url: str) -> None:
    """Every SQLite connection is configured: WAL journal, 30 s busy timeout, foreign keys on."""
    engine = make_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            settings = [
                connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
    finally:
        engine.dispose()
    assert settings == ["wal", 30_000, 1]


def test_sqlite_read_then_write_transactions_from_threads_lose_no_update(sqlite_url: str) -> None:
    """Threads incrementing a counter by read-then-write all succeed and every increment counts."""
    engine = make_engine(sqlite_url, pool_size=8)
    sessions = make_session_factory(engine)
    with sessions.begin() as session:
        session.add(Batch(name="counter", stop_reason="0"))
    threads, increments = 8, 15
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(increments):
                with sessions.begin() as session:
                    value = int(session.scalars(select(Batch.stop_reason)).one() or 0)
                    session.execute(update(Batch).values(stop_reason=str(value + 1)))
        except BaseException as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    with sessions() as session:
        final = session.scalars(select(Batch.stop_reason)).one()
    engine.dispose()
    assert errors == []
    assert final == str(threads * increments)


def test_postgres_engine_uses_psycopg_and_the_requested_pool_size(postgres_url: str) -> None:
    """A driverless Postgres URL connects through psycopg 3 with a pool of the size asked for."""
    engine = make_engine(postgres_url.replace("postgresql+psycopg://", "postgresql://"), pool_size=7)
    try:
        assert isinstance(engine.pool, QueuePool)
        assert engine.pool.size() == 7
        assert engine.dialect.driver == "psycopg"
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT 1")) == 1
    finally:
        engine.dispose()


def test_postgres_engine_survives_a_dropped_connection(postgres_url: str) -> None:
    """After the server ends a pooled connection (a restart), the next checkout reconnects transparently.

    The connection is found closed at checkout by its socket, not by a query that fails.
    """
    engine = make_engine(postgres_url, pool_size=1)
    try:
        with engine.connect() as connection:
            first_pid = connection.scalar(text("SELECT pg_backend_pid()"))
        assert engine.pool.checkedin() == 1, "the connection went back to the pool"  # type: ignore[attr-defined]
        killer = make_engine(postgres_url, pool_size=1)
        with killer.begin() as connection:
            # Wait (up to 5 s) until the backend has exited: a restart closes connections before it serves again.
            assert connection.scalar(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": first_pid})
        killer.dispose()
        with engine.connect() as connection:  # would raise "server closed the connection" if reused
            second_pid = connection.scalar(text("SELECT pg_backend_pid()"))
    finally:
        engine.dispose()
    assert second_pid != first_pid


def test_a_healthy_idle_connection_is_kept(postgres_url: str) -> None:
    """An idle connection the server still holds is reused as it is: no reconnect, no ping."""
    engine = make_engine(postgres_url, pool_size=1)
    try:
        pids = set()
        for _ in range(5):
            with engine.connect() as connection:
                pids.add(connection.scalar(text("SELECT pg_backend_pid()")))
        assert len(pids) == 1
    finally:
        engine.dispose()


class _SocketConnection:
    """The part of a DBAPI connection ``closed_by_server`` reads: a socket handle."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.closed = False

    def fileno(self) -> int:
        return self._sock.fileno()


def test_closed_by_server_reads_the_socket_without_consuming_it() -> None:
    """Idle and open: alive; peer closed or data waiting: gone; a driver with no socket handle: alive."""
    ours, server = socket.socketpair()
    try:
        connection = _SocketConnection(ours)
        assert not closed_by_server(connection)
        server.close()
        assert closed_by_server(connection)
        connection.closed = True
        assert closed_by_server(connection)
        assert not closed_by_server(object())
    finally:
        ours.close()


def _first_statement_on(path: str) -> str | None:
    engine = make_engine(f"sqlite:///{path}", pool_size=1)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as error:  # returned, not raised: the parent counts them
        return repr(error)
    finally:
        engine.dispose()


def test_processes_opening_a_fresh_sqlite_file_at_once_all_connect(tmp_path: Path) -> None:
    """Connections racing to switch a new file to WAL all succeed (SQLite refuses one at once, unasked to wait)."""
    with multiprocessing.get_context("fork").Pool(8) as pool:
        errors = [
            error
            for trial in range(25)
            for error in pool.map(_first_statement_on, [str(tmp_path / f"race-{trial}.db")] * 8)
            if error is not None
        ]
    assert errors == []
