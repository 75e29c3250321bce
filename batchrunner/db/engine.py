"""Engines and sessions for Postgres (production) and SQLite (embedded mode).

SQLite transactions start with ``BEGIN IMMEDIATE``: every transaction takes the write lock when it
begins, so concurrent writers queue on ``busy_timeout`` instead of failing with "database is
locked" when a read-then-write transaction finds its snapshot stale, and DDL runs inside the
transaction (migrations are atomic). A pooled Postgres connection is checked before use so workers
survive a database restart: a server that closed it (restart, idle timeout) leaves its socket readable,
which a zero-timeout poll sees without the round trip of ``pool_pre_ping`` (a step opens two or three
transactions, and each round trip also waits for the GIL). A backend told to stop but not yet gone
still looks alive: the step that meets it fails, Dramatiq retries the message, and a job whose lease
that step had already taken is re-driven by the sweeper once the lease ends.
"""

from __future__ import annotations

import select
import sqlite3
import time
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, StaticPool

from batchrunner.db import storable

SQLITE_BUSY_TIMEOUT_MS = 30_000
_WAL_RETRY_SECONDS = 0.02
_POSTGRES_DRIVER = "postgresql+psycopg"


def normalize_url(url: str) -> str:
    """``postgres://`` and ``postgresql://`` URLs use psycopg 3; any other URL is returned unchanged."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return f"{_POSTGRES_DRIVER}://{url[len(prefix) :]}"
    return url


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for logs and messages."""
    return make_url(normalize_url(url) if isinstance(url, str) else url).render_as_string(hide_password=True)


def is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def make_engine(url: str, *, echo: bool = False, pool_size: int = 10) -> Engine:
    """An engine for ``url``; ``pool_size`` should cover the threads that share it.

    Postgres pools allow as many overflow connections again as ``pool_size``. An in-memory SQLite
    URL (``sqlite://``) gives one connection shared by the engine, for single-threaded tests.
    """
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, echo=echo, pool_size=pool_size)
    engine = create_engine(
        parsed,
        echo=echo,
        json_serializer=storable.json_serializer,
        pool_size=pool_size,
        max_overflow=pool_size,
        # Recycle well before common idle-connection timeouts of proxies and managed databases.
        pool_recycle=1800,
    )

    @event.listens_for(engine, "checkout")
    def _check_alive(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
        if closed_by_server(dbapi_connection):
            # The pool discards this connection and checks out another (a new one if need be).
            raise exc.DisconnectionError("the database closed this pooled connection")

    return storable.install(engine)


def closed_by_server(dbapi_connection: Any) -> bool:
    """Whether an idle connection is gone: closed, broken, or its socket readable (EOF or a FATAL notice).

    An idle, healthy connection has nothing to read: the server speaks only when asked.
    """
    if getattr(dbapi_connection, "closed", False) or getattr(dbapi_connection, "broken", False):
        return True
    fileno = getattr(dbapi_connection, "fileno", None)
    if fileno is None:  # a driver that shows no socket: its errors on use will tell
        return False
    try:
        fd = fileno()
    except Exception:
        return True
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))


def _sqlite_engine(url: URL, *, echo: bool, pool_size: int) -> Engine:
    memory = is_sqlite_memory(url)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if memory:
        # One shared connection: each new connection to ":memory:" would be a new, empty database.
        options["poolclass"] = StaticPool
    else:
        options.update(pool_size=pool_size, max_overflow=pool_size)
    engine = create_engine(url, echo=echo, json_serializer=storable.json_serializer, **options)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # Turn off the driver's own transaction handling; ``_begin`` below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                _switch_to_wal(cursor)
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return storable.install(engine)


def _switch_to_wal(cursor: Any) -> None:
    """Put the database in WAL mode, retrying while another connection holds the lock the switch needs.

    Two connections switching a fresh file at once both hold a shared lock and both want the exclusive
    one: SQLite answers one of them "database is locked" at once, without calling the busy handler
    (waiting could deadlock), so the wait is done here.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(_WAL_RETRY_SECONDS)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (they are handed to other layers)."""
    return sessionmaker(bind=engine, expire_on_commit=False)


__all__ = ["closed_by_server", "is_sqlite_memory", "make_engine", "make_session_factory", "normalize_url", "safe_url"]
