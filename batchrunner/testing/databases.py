"""Scratch databases for tests, and pytest fixtures built on them.

Load the fixtures with ``pytest_plugins = ["batchrunner.testing.databases"]`` in a root
``conftest.py``. Tests that need Postgres skip when it is unreachable, unless the fixture
``services_required`` (``False`` here; override it, e.g. from ``CI=true``) says a missing service
is a failure.

Speed decides the database each fixture hands out:

- ``postgres_url``: one database per test session, migrated once and emptied (``TRUNCATE ...
  RESTART IDENTITY``, after ending other connections to it) before each test. Creating and dropping
  a database per test costs most of a second on Postgres (a drop forces a checkpoint); emptying
  costs milliseconds. A test that changes the schema must use ``empty_postgres_url`` instead.
- ``empty_postgres_url``: a new, unmigrated database for the test, dropped after it (migration tests).
- ``sqlite_url``: a copy of a SQLite file migrated once per session; ``empty_sqlite_url``: a path.

Databases are named ``batchrunner_test_<random>`` so concurrent test sessions on one server never
collide, and are dropped ``WITH (FORCE)`` even when a test left connections open.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from batchrunner.db.engine import normalize_url
from batchrunner.db.migrate import upgrade
from batchrunner.db.models import Base

# The server tests use: $BATCHRUNNER_TEST_POSTGRES_URL (a server URL, no database), its maintenance database.
POSTGRES_SERVER_URL = os.environ.get("BATCHRUNNER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip(
    "/"
)
DEFAULT_POSTGRES_ADMIN_URL = normalize_url(f"{POSTGRES_SERVER_URL}/postgres")
DATABASE_NAME_PREFIX = "batchrunner_test_"


def postgres_available(admin_url: str = DEFAULT_POSTGRES_ADMIN_URL, *, timeout_seconds: int = 3) -> bool:
    """Whether a Postgres server accepts connections at ``admin_url``."""
    engine = create_engine(normalize_url(admin_url), connect_args={"connect_timeout": timeout_seconds})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        return False
    finally:
        engine.dispose()


def _quote(name: str) -> str:
    # Names are generated here or by the caller's code, never user input; quoting keeps them literal.
    return '"' + name.replace('"', '""') + '"'


def _database_url(admin_url: str, database: str) -> str:
    url: URL = make_url(normalize_url(admin_url)).set(database=database)
    return url.render_as_string(hide_password=False)


def _execute_autocommit(admin_url: str, statement: str) -> None:
    engine = create_engine(normalize_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.exec_driver_sql(statement)
    finally:
        engine.dispose()


@contextmanager
def temporary_postgres_url(
    admin_url: str = DEFAULT_POSTGRES_ADMIN_URL, *, template: str | None = None
) -> Iterator[str]:
    """Create a uniquely named database (a copy of ``template`` if given), yield its URL, drop it."""
    name = f"{DATABASE_NAME_PREFIX}{uuid.uuid4().hex[:16]}"
    create = f"CREATE DATABASE {_quote(name)}"
    if template is not None:
        create += f" TEMPLATE {_quote(template)}"
    _execute_autocommit(admin_url, create)
    try:
        yield _database_url(admin_url, name)
    finally:
        _execute_autocommit(admin_url, f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


def reset_postgres_database(url: str) -> None:
    """Empty every table of batchrunner's schema in the database at ``url`` and restart its sequences.

    Other sessions on the database are ended first: a connection a previous test left open (or a
    worker process still exiting) would otherwise block the ``TRUNCATE`` on its locks.
    """
    tables = ", ".join(_quote(table.name) for table in Base.metadata.sorted_tables)
    engine = create_engine(normalize_url(url))
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    finally:
        engine.dispose()


def sqlite_url_for(path: Path) -> str:
    """The SQLAlchemy URL of the SQLite file at ``path``."""
    return f"sqlite:///{path.resolve()}"


_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


@contextmanager
def temporary_sqlite_url(directory: Path, *, copy_of: Path | None = None) -> Iterator[str]:
    """A new SQLite file in ``directory`` (a copy of the database ``copy_of`` if given); deleted after."""
    path = directory / f"{DATABASE_NAME_PREFIX}{uuid.uuid4().hex[:16]}.db"
    if copy_of is not None:
        shutil.copyfile(copy_of, path)
        wal = Path(f"{copy_of}-wal")  # committed pages not yet checkpointed into the file
        if wal.exists():
            shutil.copyfile(wal, f"{path}-wal")
    try:
        yield sqlite_url_for(path)
    finally:
        for suffix in ("", *_SQLITE_SIDE_FILES):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


# -- pytest fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def services_required() -> bool:
    """Whether a missing service (Postgres, Redis) fails a test instead of skipping it."""
    return False


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    """A URL to the maintenance database of the Postgres server tests use."""
    return DEFAULT_POSTGRES_ADMIN_URL


@pytest.fixture(scope="session")
def postgres_server(postgres_admin_url: str, services_required: bool) -> str:
    """The admin URL of a reachable Postgres server; skips (or fails when required) otherwise."""
    if not postgres_available(postgres_admin_url):
        message = f"PostgreSQL is not reachable at {make_url(postgres_admin_url).render_as_string()}"
        if services_required:
            pytest.fail(message)
        pytest.skip(message)
    return postgres_admin_url


@pytest.fixture(scope="session")
def postgres_session_database(postgres_server: str) -> Iterator[str]:
    """The URL of a database migrated to head once per test session (``postgres_url`` empties it)."""
    with temporary_postgres_url(postgres_server) as url:
        upgrade(url)
        yield url


@pytest.fixture
def postgres_url(postgres_session_database: str) -> str:
    """A Postgres database at head with every table empty (the session's, emptied for this test)."""
    reset_postgres_database(postgres_session_database)
    return postgres_session_database


@pytest.fixture
def empty_postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty Postgres database (no migrations run), for this test only."""
    with temporary_postgres_url(postgres_server) as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session, which ``sqlite_url`` copies."""
    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.db"
    upgrade(sqlite_url_for(path))
    return path


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """A fresh SQLite file migrated to head, for this test only."""
    with temporary_sqlite_url(tmp_path, copy_of=sqlite_template) as url:
        yield url


@pytest.fixture
def empty_sqlite_url(tmp_path: Path) -> Iterator[str]:
    """A path for a SQLite database that does not exist yet."""
    with temporary_sqlite_url(tmp_path) as url:
        yield url


DIALECTS = ("sqlite", "postgresql")


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh migrated database, once per dialect."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture(params=DIALECTS)
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database with no tables, once per dialect."""
    name = "empty_sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    return str(request.getfixturevalue(name))


__all__ = [
    "DEFAULT_POSTGRES_ADMIN_URL",
    "postgres_available",
    "reset_postgres_database",
    "sqlite_url_for",
    "temporary_postgres_url",
    "temporary_sqlite_url",
]
