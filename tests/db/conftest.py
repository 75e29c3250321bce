"""Fixtures for the persistence tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from batchrunner.db.engine import make_engine, make_session_factory


@pytest.fixture
def db_engine(database_url: str) -> Iterator[Engine]:
    """An engine on a fresh migrated database, once per dialect."""
    engine = make_engine(database_url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(db_engine: Engine) -> sessionmaker[Session]:
    """A session factory on ``db_engine``."""
    return make_session_factory(db_engine)
