"""``Repository.result_pages``: a batch's jobs a page at a time, each with its newest object and count."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from batchrunner.db.engine import make_engine, make_session_factory
from batchrunner.db.models import ApiObject
from batchrunner.db.repository import Repository
from batchrunner.jobs import JobSpec
from batchrunner.results import iter_results


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


def _spec(line_no: int, custom_id: str) -> JobSpec:
    return JobSpec(line_no, custom_id, "asst_1", {"messages": []}, None, {})


def test_pages_give_each_job_its_newest_object_and_count_even_with_another_batch_interleaved(
    database_url: str,
) -> None:
    """Pages cut between a job's objects' neighbours, ids shared with another batch: every count is right."""
    repository = Repository(make_session_factory(make_engine(database_url, pool_size=2)))
    ours = repository.get_or_create_batch("ours")
    theirs = repository.get_or_create_batch("theirs")
    job_ids: list[int] = []
    for n in range(5):  # ids alternate between the two batches
        (job_id,) = repository.insert_jobs(ours, [_spec(n + 1, f"ours-{n}")])
        repository.insert_jobs(theirs, [_spec(n + 1, f"theirs-{n}")])
        job_ids.append(job_id)
    objects = {job_ids[0]: 1, job_ids[1]: 3, job_ids[3]: 2, job_ids[4]: 1}  # job 2 has none yet
    engine = sa.create_engine(database_url)
    with engine.begin() as conn:
        for job_id, count in objects.items():
            for attempt in range(1, count + 1):
                conn.execute(
                    sa.insert(ApiObject).values(
                        job_id=job_id,
                        attempt=attempt,
                        backend="assistants",
                        kind="run",
                        api_id=f"run_{job_id}_{attempt}",
                        status="completed" if attempt == count else "failed",
                    )
                )
        # The other batch's jobs have objects too: none may be counted for ours.
        conn.execute(
            sa.text(
                "INSERT INTO api_objects (job_id, attempt, round, backend, kind, api_id, status, recorded_at)"
                " SELECT id, 1, 0, 'assistants', 'run', 'other_' || id, 'completed', CURRENT_TIMESTAMP"
                " FROM jobs WHERE batch_id = :theirs"
            ),
            {"theirs": theirs},
        )
    engine.dispose()

    pages = list(repository.result_pages(ours, page_size=2))
    assert [len(page) for page in pages] == [2, 2, 1]
    latest = [row.latest for page in pages for row in page]
    assert latest == [
        (f"run_{job_ids[0]}_1", "completed", 1),
        (f"run_{job_ids[1]}_3", "completed", 3),
        (None, None, 0),
        (f"run_{job_ids[3]}_2", "completed", 2),
        (f"run_{job_ids[4]}_1", "completed", 1),
    ]
    results = list(iter_results(repository, ours))
    assert [r["custom_id"] for r in results] == [f"ours-{n}" for n in range(5)]
    assert [r["api_objects"] for r in results] == [1, 3, 0, 2, 1]
    assert results[2]["api_object_id"] is None and results[2]["api_status"] is None
