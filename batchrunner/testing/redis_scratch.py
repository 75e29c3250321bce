"""Redis databases a test (or benchmark) has to itself, on a Redis server others use too.

``scratch_redis_db()`` finds a numbered database that is empty, claims it with a key only one
claimant can set (``SET NX``: two test sessions racing for one database cannot both win), yields its
URL, and at the end deletes the keys written there and its claim. Nothing here flushes a database:
another program's data is never touched, even one that writes into a database just claimed (the
claim is then given up and the next database tried). A claim left by a killed process expires after
``CLAIM_TTL_S``; its leftover keys keep that database out of use until the server restarts.

The server is ``$BATCHRUNNER_TEST_REDIS_URL`` (default ``redis://127.0.0.1:6379``); database 0 is
left to everything else.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import redis

REDIS_URL = os.environ.get("BATCHRUNNER_TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
CLAIM_KEY = "batchrunner:test:claim"
CLAIM_TTL_S = 4 * 3600
_DEFAULT_DATABASES = 16


def _database_count(client: redis.Redis) -> int:
    try:
        return int(client.config_get("databases").get("databases") or _DEFAULT_DATABASES)
    except redis.ResponseError:  # CONFIG may be disabled on a managed server
        return _DEFAULT_DATABASES


def delete_all_keys(client: redis.Redis, *, keep: str | None = CLAIM_KEY) -> int:
    """Delete every key of ``client``'s database but ``keep``, without FLUSHDB; how many went."""
    deleted = 0
    batch: list[bytes] = []
    for key in client.scan_iter(count=1000):
        if keep is not None and key == keep.encode():
            continue
        batch.append(key)
        if len(batch) >= 1000:
            deleted += int(client.unlink(*batch))
            batch.clear()
    if batch:
        deleted += int(client.unlink(*batch))
    return deleted


def _try_claim(client: redis.Redis, owner: str) -> bool:
    if client.dbsize() != 0:
        return False
    if not client.set(CLAIM_KEY, owner, nx=True, ex=CLAIM_TTL_S):
        return False
    if client.dbsize() == 1:
        return True
    client.delete(CLAIM_KEY)  # something else wrote here at the same moment: leave it that database
    return False


@contextmanager
def scratch_redis_db() -> Iterator[str]:
    """The URL of an empty Redis database claimed for the caller; its keys are deleted afterwards."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    admin = redis.Redis.from_url(f"{REDIS_URL}/0", socket_connect_timeout=3)
    try:
        count = _database_count(admin)
    finally:
        admin.close()
    for db in range(1, count):
        url = f"{REDIS_URL}/{db}"
        client = redis.Redis.from_url(url, socket_connect_timeout=3)
        if not _try_claim(client, owner):
            client.close()
            continue
        try:
            yield url
        finally:
            delete_all_keys(client)
            if client.get(CLAIM_KEY) == owner.encode():
                client.delete(CLAIM_KEY)
            client.close()
        return
    raise RuntimeError(f"no empty Redis database to claim at {REDIS_URL} (databases 1 to {count - 1} are in use)")


__all__ = ["CLAIM_KEY", "REDIS_URL", "delete_all_keys", "scratch_redis_db"]
