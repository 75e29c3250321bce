"""The ORM models and the migrations describe the same schema."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from batchrunner.db.models import Base


def test_models_match_migrated_schema(db_engine: Engine) -> None:
    """Autogenerate finds no difference (tables, columns, types, defaults, indexes, constraints)."""
    with db_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []
