"""A new worker's poll policy starts from the durations of runs already recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from batchrunner.db.models import ApiObject
from batchrunner.db.repository import Repository
from batchrunner.runtime import learned_durations
from batchrunner.testing.harness import job


def test_recorded_runs_seed_the_duration_tracker(sessions: sessionmaker[Session]) -> None:
    repository = Repository(sessions)
    batch_id = repository.get_or_create_batch("durations")
    job_ids = repository.insert_jobs(batch_id, [job(f"job-{n}") for n in range(7)])
    start = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    durations = [40, 30, 50, 45, 35]  # completed runs of asst_a
    with sessions.begin() as session:
        for n, seconds in enumerate(durations):
            session.add(_run(job_ids[n], f"run_a{n}", "asst_a", "completed", start, seconds))
        # Neither a failed run nor a run of another model says anything about asst_a on gpt-4o.
        session.add(_run(job_ids[5], "run_failed", "asst_a", "failed", start, 2))
        session.add(_run(job_ids[6], "run_other", "asst_a", "completed", start, 3, model="gpt-4o-mini"))

    tracker = learned_durations(repository)

    assert tracker.earliest_finish("asst_a", "gpt-4o") == 30 * 0.9
    assert tracker.earliest_finish("asst_a", "gpt-4o-mini") is None  # one run is not enough
    assert tracker.earliest_finish("asst_b", "gpt-4o") is None


def _run(
    job_id: int, run_id: str, assistant: str, status: str, created: datetime, seconds: int, model: str = "gpt-4o"
) -> ApiObject:
    ended = created + timedelta(seconds=seconds)
    return ApiObject(
        job_id=job_id,
        attempt=1,
        backend="assistants",
        kind="run",
        api_id=run_id,
        assistant_id=assistant,
        model=model,
        status=status,
        created_at=created,
        outcome={"completed": "succeeded", "failed": "failed"}.get(status),
        finished_at=ended if status in ("completed", "failed") else None,
    )


def test_an_unreachable_database_gives_an_empty_tracker() -> None:
    from batchrunner.db.engine import make_engine, make_session_factory

    engine = make_engine("postgresql://postgres@127.0.0.1:1/nowhere", pool_size=1)
    try:
        tracker = learned_durations(Repository(make_session_factory(engine)))
    finally:
        engine.dispose()
    assert tracker.earliest_finish("asst_a", "gpt-4o") is None
