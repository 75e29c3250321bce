"""``batchrunner health``: do the database and the broker answer?"""

from __future__ import annotations

import sqlalchemy as sa

from batchrunner.db.engine import normalize_url, safe_url
from batchrunner.settings import Settings


def _database_problem(url: str, timeout_s: float) -> str | None:
    connect_args = {"connect_timeout": max(1, int(timeout_s))} if url.startswith("postgres") else {}
    try:
        engine = sa.create_engine(normalize_url(url), connect_args=connect_args, poolclass=sa.NullPool)
    except Exception as error:
        return f"database URL is not usable: {type(error).__name__}"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as error:
        first_line = str(error).splitlines()[0] if str(error) else ""
        return f"database {safe_url(url)}: {type(error).__name__}: {first_line}"
    finally:
        engine.dispose()
    return None


def _broker_problem(url: str, timeout_s: float) -> str | None:
    if not url:
        return None  # embedded mode: the broker lives in the process
    if url.startswith(("redis://", "rediss://", "unix://")):
        import redis

        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            client.ping()
        except Exception as error:
            return f"broker: {type(error).__name__}"
        finally:
            client.close()
        return None
    if url.startswith(("amqp://", "amqps://")):
        import socket
        from urllib.parse import urlsplit

        parts = urlsplit(url)
        try:
            with socket.create_connection((parts.hostname or "localhost", parts.port or 5672), timeout=timeout_s):
                return None
        except OSError as error:
            return f"broker: {type(error).__name__}"
    return "broker: unsupported URL scheme"


def check_health(settings: Settings, *, timeout_s: float = 5.0) -> list[str]:
    """Every problem found; empty when healthy. Messages carry no password or key."""
    problems = [_database_problem(settings.database_url, timeout_s), _broker_problem(settings.broker_url, timeout_s)]
    return [problem for problem in problems if problem]
