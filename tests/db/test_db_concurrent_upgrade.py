"""Migrations are safe to start from several places at once (a release step per pod)."""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Iterator
from multiprocessing.pool import Pool

import pytest
from sqlalchemy import make_url, text

from batchrunner.db.engine import make_engine
from batchrunner.db.migrate import MIGRATION_LOCK_ID, current_revision, head_revisions, is_up_to_date, upgrade


def _upgrade_concurrently(url: str, count: int) -> list[BaseException]:
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            upgrade(url)
        except BaseException as error:  # collected: a thread's exception would otherwise vanish
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors


def test_concurrent_upgrades_of_one_fresh_database_all_succeed(empty_database_url: str) -> None:
    """Several upgrades racing on one empty database all succeed and leave it at head."""
    assert _upgrade_concurrently(empty_database_url, 3) == []
    assert is_up_to_date(empty_database_url)


def _upgrade_then_set(url: str, done: threading.Event) -> None:
    upgrade(url)
    done.set()


def test_upgrade_waits_for_the_migration_lock(empty_postgres_url: str) -> None:
    """While another session holds the Postgres migration lock, upgrade waits, then completes."""
    holder = make_engine(empty_postgres_url, pool_size=1)
    finished = threading.Event()
    try:
        with holder.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            migrator = threading.Thread(target=_upgrade_then_set, args=(empty_postgres_url, finished))
            migrator.start()
            time.sleep(0.5)
            assert not finished.is_set()
            assert current_revision(empty_postgres_url) is None
            connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": MIGRATION_LOCK_ID})
            migrator.join(timeout=60)
    finally:
        holder.dispose()
    assert finished.is_set()
    assert {current_revision(empty_postgres_url)} == head_revisions()


def test_upgrade_never_logs_the_password(empty_postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """The URL in migration logs has its password masked (the local server ignores it: trust auth)."""
    password = "do-not-log-this-9f2c"
    url = make_url(empty_postgres_url).set(password=password).render_as_string(hide_password=False)
    with caplog.at_level(logging.DEBUG):
        upgrade(url)
    assert is_up_to_date(url)
    assert caplog.records, "upgrade logged nothing, so the check below would prove nothing"
    assert password not in caplog.text


@pytest.fixture(scope="module")
def process_pool() -> Iterator[Pool]:
    """Two fresh interpreters (spawned, not forked: no inherited connections), started once per module."""
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        yield pool


def test_concurrent_upgrades_from_separate_processes_all_succeed(empty_database_url: str, process_pool: Pool) -> None:
    """Upgrades racing from two processes (two release steps) both succeed and leave the database at head."""
    process_pool.map(upgrade, [empty_database_url] * 2)
    assert is_up_to_date(empty_database_url)
