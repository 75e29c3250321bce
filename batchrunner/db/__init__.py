"""Persistence: tables (``models``), engines and sessions (``engine``), migrations (``migrate``),
usage views (``views``) and every query (``repository``).

Nothing here connects to a database at import time.
"""

from batchrunner.db.base import Base, UtcDateTime
from batchrunner.db.engine import make_engine, make_session_factory, normalize_url

__all__ = ["Base", "UtcDateTime", "make_engine", "make_session_factory", "normalize_url"]
