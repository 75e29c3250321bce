"""The sweeper re-drives overdue jobs once each, to the queue their state needs, and spares busy queues."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from batchrunner.db.models import Job
from batchrunner.db.repository import Repository
from batchrunner.sweeper import BUSY_GRACE_FACTOR, Sweeper
from batchrunner.testing.harness import job

GRACE_S = 60.0


class RecordingQueue:
    def __init__(self, ready: dict[bool, int | None] | None = None) -> None:
        self.calls: list[tuple[int, bool]] = []
        self.ready = ready or {True: 0, False: 0}

    def wake(self, job_id: int, delay_s: float = 0.0, *, starting: bool = False) -> None:
        self.calls.append((job_id, starting))

    def ready_messages(self, *, starting: bool) -> int | None:
        return self.ready[starting]


def _jobs_overdue_by(sessions: sessionmaker[Session], overdue: dict[str, tuple[str, float]]) -> dict[str, int]:
    """Insert one job per name in ``state``, its wake-up that many seconds ago; return their ids."""
    repository = Repository(sessions)
    batch_id = repository.get_or_create_batch("sweep")
    ids = dict(zip(overdue, repository.insert_jobs(batch_id, [job(name) for name in overdue]), strict=True))
    now = datetime.now(UTC)
    with sessions.begin() as session:
        for name, (state, seconds) in overdue.items():
            due = now - timedelta(seconds=seconds)
            session.execute(update(Job).where(Job.id == ids[name]).values(state=state, next_wake_at=due))
    return ids


def test_overdue_jobs_are_redriven_once_to_the_queue_their_state_needs(sessions: sessionmaker[Session]) -> None:
    ids = _jobs_overdue_by(
        sessions, {"waiting": ("pending", 300), "in-flight": ("running", 300), "recent": ("pending", 10)}
    )
    queue = RecordingQueue()
    sweeper = Sweeper(Repository(sessions), queue, grace_s=GRACE_S)

    assert sweeper.sweep_once() == 2
    assert sorted(queue.calls) == sorted([(ids["waiting"], True), (ids["in-flight"], False)])
    # Re-driven jobs are due now, so a second sweep within the grace leaves them to their new message.
    assert sweeper.sweep_once() == 0
    assert len(queue.calls) == 2


def test_a_busy_queue_gets_a_longer_grace(sessions: sessionmaker[Session]) -> None:
    long_overdue = GRACE_S * BUSY_GRACE_FACTOR + 60
    ids = _jobs_overdue_by(
        sessions,
        {
            "queued-start": ("pending", 300),
            "lost-start": ("pending", long_overdue),
            "in-flight": ("running", 300),
        },
    )
    # The start queue is busy; the in-flight queue is not, and its length is unknown to the second sweeper.
    queue = RecordingQueue({True: 5000, False: None})
    sweeper = Sweeper(Repository(sessions), queue, grace_s=GRACE_S, busy_queue_messages=100)

    assert sweeper.sweep_once() == 2
    assert sorted(queue.calls) == sorted([(ids["lost-start"], True), (ids["in-flight"], False)])
    queue.ready[True] = 0
    assert sweeper.sweep_once() == 1
    assert queue.calls[-1] == (ids["queued-start"], True)
