"""Alembic environment for batchrunner: one history for Postgres and SQLite.

The database comes, in order, from a connection in ``config.attributes["connection"]`` (how
``batchrunner.db.migrate`` runs it), ``config.attributes["url"]``, ``alembic -x url=...``, or the
ini file's ``sqlalchemy.url``. On SQLite, operations are rendered as batch operations, since SQLite
alters little in place.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from batchrunner.db.engine import normalize_url
from batchrunner.db.migrate import migration_connection
from batchrunner.db.models import Base

config = context.config
target_metadata = Base.metadata

# Only the `alembic` command line configures logging; a program that migrates keeps its own.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _url() -> str:
    url = (
        config.attributes.get("url")
        or context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
    )
    if not url:
        raise RuntimeError("no database URL: pass -x url=... or set sqlalchemy.url")
    return normalize_url(str(url))


def _run(connection: Connection) -> None:
    sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=sqlite,
        # batchrunner's SQLite engine begins real transactions (BEGIN IMMEDIATE), and SQLite's DDL is
        # transactional, so a failed migration rolls back there too.
        transactional_ddl=True if sqlite else None,
        compare_type=True,
        compare_server_default=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Write the migration SQL instead of running it (``alembic upgrade --sql``)."""
    url = _url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    with migration_connection(_url()) as own_connection:
        _run(own_connection)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
