"""Scenario 7: `batchrunner enqueue` of a file with a bad line enqueues nothing and says where the error is."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from batchrunner.simulator.config import SimConfig
from batchrunner.testing.jobgen import generate_jobs, write_job_file
from tests.crash.conftest import MakeStack

pytestmark = pytest.mark.crash

BAD_LINE = 4


def _row_counts(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)
            for table in ("batches", "jobs", "api_objects")
        }


def test_enqueue_with_a_bad_line_enqueues_nothing(make_stack: MakeStack) -> None:
    """A bad line makes enqueue exit non-zero naming file, line and field, with no rows and no broker message."""
    stack = make_stack(SimConfig(seed=707))
    jobs = generate_jobs(8, tool_share=0.25, shared_thread_jobs=1, seed=707)
    jobs[BAD_LINE - 1]["params"] = {"temperature": 3.5}
    path = write_job_file(stack.workdir / "bad.jsonl", jobs)

    done = stack.cli("enqueue", str(path), "--batch", "bad-input")

    assert done.returncode != 0
    assert f"{path}:{BAD_LINE}: params.temperature" in done.stderr, done.stderr
    assert "Nothing was enqueued" in done.stderr
    assert _row_counts(stack.engine) == {"batches": 0, "jobs": 0, "api_objects": 0}
    assert sorted(stack.redis_client.scan_iter(f"dramatiq:*{stack.queue_name}*")) == []

    # The same file with the line fixed goes in whole: the failure above was the bad line, not the setup.
    jobs[BAD_LINE - 1]["params"] = {"temperature": 0.5}
    write_job_file(path, jobs)
    fixed = stack.cli("enqueue", str(path), "--batch", "bad-input")
    assert fixed.returncode == 0, fixed.stderr
    assert _row_counts(stack.engine)["jobs"] == len(jobs)
    # New jobs wait on the start queue, behind runs in flight.
    assert stack.redis_client.llen(f"dramatiq:{stack.queue_name}.start") == len(jobs)
