"""Run the Alembic migrations from code: the release step, ``batchrunner db upgrade`` and tests.

On Postgres the migration holds a session advisory lock, so releases started at the same time (two
pods, a Procfile release and a CLI call) take turns and the later ones find the schema current. On
SQLite the migration's ``BEGIN IMMEDIATE`` transaction serialises them instead, and foreign keys are
off while it runs: batch migrations rebuild tables, and dropping the old copy with foreign keys on
would cascade deletes into the child tables. Within one process migrations also take turns, on a
lock, because Alembic keeps the running command's state in module globals.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.engine import make_url

from batchrunner.db.engine import is_sqlite_memory, make_engine, normalize_url, safe_url

logger = logging.getLogger(__name__)

# Inside the package, so an installed wheel migrates as a checkout does.
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant works as long as every release uses the same one: the bytes of "batchrun".
MIGRATION_LOCK_ID = int.from_bytes(b"batchrun", "big")
# ``alembic.context`` and ``alembic.op`` are module-global proxies of the running command.
_ALEMBIC_COMMAND_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the project's migrations that runs on ``connection``.

    The ini file is not read: the script location is set here and the database is handed over as a
    connection, so nothing depends on the working directory or the environment.
    """
    config = Config()
    # Config values go through configparser interpolation, where "%" is special.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def migration_connection(url: str) -> Iterator[Connection]:
    """A connection to run migrations on, holding the migration lock (Postgres) for its lifetime."""
    if is_sqlite_memory(make_url(normalize_url(url))):
        # Each engine would migrate its own private database, which vanishes with it.
        raise ValueError("an in-memory SQLite database cannot be migrated by URL; use a file")
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            if connection.dialect.name == "sqlite":
                # Must run outside a transaction, on the driver connection, where SQLAlchemy begins none.
                connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            if postgres:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
                # Leave no transaction open: Alembic then begins and commits its own.
                connection.commit()
            try:
                yield connection
            finally:
                if postgres:
                    connection.rollback()
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
                    connection.commit()
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``; safe to run from several processes at once."""
    logger.info("migrating %s up to %s", safe_url(url), revision)
    with _ALEMBIC_COMMAND_LOCK, migration_connection(url) as connection:
        command.upgrade(alembic_config(connection), revision)
        connection.commit()


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` drops everything)."""
    logger.info("migrating %s down to %s", safe_url(url), revision)
    with _ALEMBIC_COMMAND_LOCK, migration_connection(url) as connection:
        command.downgrade(alembic_config(connection), revision)
        connection.commit()


def head_revisions() -> set[str]:
    """The revisions the migration scripts end at."""
    return set(ScriptDirectory.from_config(alembic_config()).get_heads())


def _current_heads(url: str) -> set[str]:
    engine = make_engine(url, pool_size=1)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at, or ``None`` before the first migration."""
    heads = _current_heads(url)
    if len(heads) > 1:
        raise RuntimeError(f"database {safe_url(url)} is at several revisions: {sorted(heads)}")
    return next(iter(heads), None)


def is_up_to_date(url: str) -> bool:
    """Whether the database at ``url`` is at the newest revision."""
    return _current_heads(url) == head_revisions()


__all__ = [
    "MIGRATIONS_DIR",
    "MIGRATION_LOCK_ID",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revisions",
    "is_up_to_date",
    "migration_connection",
    "upgrade",
]
