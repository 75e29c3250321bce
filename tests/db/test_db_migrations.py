"""The Alembic history builds the schema on both dialects, and takes it down again."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from batchrunner.db.engine import make_engine
from batchrunner.db.migrate import (
    current_revision,
    downgrade,
    head_revisions,
    is_up_to_date,
    migration_connection,
    upgrade,
)
from batchrunner.db.models import Base
from batchrunner.db.views import USAGE_VIEWS


def _tables_and_views(url: str) -> tuple[set[str], set[str]]:
    engine = make_engine(url, pool_size=1)
    try:
        inspector = inspect(engine)
        return set(inspector.get_table_names()), set(inspector.get_view_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_creates_every_table_and_view(empty_database_url: str) -> None:
    """Upgrading an empty database reaches head and creates the models' tables and the usage views."""
    assert current_revision(empty_database_url) is None
    assert not is_up_to_date(empty_database_url)

    upgrade(empty_database_url)

    assert {current_revision(empty_database_url)} == head_revisions()
    assert is_up_to_date(empty_database_url)
    tables, views = _tables_and_views(empty_database_url)
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    assert views == set(USAGE_VIEWS)


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    """A second upgrade of a current database changes nothing and does not fail."""
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert is_up_to_date(empty_database_url)


def test_downgrade_to_base_removes_everything_and_upgrade_rebuilds(empty_database_url: str) -> None:
    """Downgrading to base drops every table and view; the history then applies again cleanly."""
    upgrade(empty_database_url)

    downgrade(empty_database_url, "base")

    assert current_revision(empty_database_url) is None
    tables, views = _tables_and_views(empty_database_url)
    assert tables <= {"alembic_version"}
    assert views == set()

    upgrade(empty_database_url)
    assert is_up_to_date(empty_database_url)


def test_sqlite_migrations_run_with_foreign_keys_off(empty_sqlite_url: str) -> None:
    """Batch migrations rebuild tables; with foreign keys off, dropping the old copy cascades nothing."""
    with migration_connection(empty_sqlite_url) as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 0


def test_in_memory_sqlite_is_refused() -> None:
    """Migrating ``sqlite://`` would build a private database that vanishes at once, so it is an error."""
    with pytest.raises(ValueError, match="in-memory"):
        upgrade("sqlite://")
