"""The Batch API lane under crashes: workers die between the upload, the batch's creation and their commits.

Two worker processes run a driver each (they race for the same queued jobs); fault points make them
``os._exit`` right after an input file is uploaded or a batch created, before the id is committed. The
supervisor restarts them and the next driver takes the submission over once its lease has run out.
Every job must succeed in its first attempt, and the API must hold exactly one batch per submission:
no line submitted twice.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from batchrunner.faults import CRASH_LOG_MARK
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import query_rows
from batchrunner.testing.jobgen import generate_jobs
from tests.crash.conftest import MakeStack

pytestmark = pytest.mark.crash


def _sim_batches(root_url: str) -> list[dict[str, Any]]:
    batches: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 100}
    while True:
        page = httpx.get(f"{root_url}/v1/batches", params=params, timeout=10).json()
        batches.extend(page["data"])
        if not page["has_more"]:
            return batches
        params["after"] = page["last_id"]


def test_crashes_between_upload_create_and_commit_submit_no_line_twice(make_stack: MakeStack) -> None:
    sim = SimConfig(seed=303, batch_validating_s=0.5, batch_line_s=0.02, batch_finalizing_s=0.5)
    stack = make_stack(sim, BATCHRUNNER_BACKEND="responses")
    jobs = [
        {**line, "lane": "batch"}
        for line in generate_jobs(40, tool_share=0.0, shared_thread_jobs=0, seed=303, prefix="bl")
    ]
    supervisor = stack.supervise(
        processes=2,
        threads=2,
        BATCHRUNNER_FAULT_POINTS="after_batch_upload=0.35,after_batch_create=0.35",
        # A dead driver's submission is taken over after five step leases: keep them short.
        BATCHRUNNER_STEP_LEASE_SECONDS="1",
        BATCHRUNNER_BATCH_CHECK_SECONDS="0.3",
        BATCHRUNNER_BATCH_FILE_MAX_LINES="4",
    )
    stack.enqueue(jobs, "batch-lane-crash")

    stack.wait_finished("batch-lane-crash", timeout=300, supervisor=supervisor)

    crashes = supervisor.fault_crashes()
    assert crashes >= 2, f"the fault points fired only {crashes} times"
    url = stack.engine.url.render_as_string(hide_password=False)
    states = query_rows(url, "SELECT state, attempt, lane, COUNT(*) AS n FROM jobs GROUP BY state, attempt, lane")
    assert [(row.state, row.attempt, row.lane, row.n) for row in states] == [("succeeded", 1, "batch", 40)]
    submissions = query_rows(url, "SELECT phase, lines, input_file_id, api_batch_id FROM api_batches")
    batches = _sim_batches(stack.simulator.root_url)
    assert {s.phase for s in submissions} == {"done"}
    # One batch per submission, each from the submission's own input file, and every line in exactly one.
    assert sorted(b["id"] for b in batches) == sorted(s.api_batch_id for s in submissions)
    by_batch = {s.api_batch_id: s for s in submissions}
    for batch in batches:
        assert batch["status"] == "completed"
        assert batch["input_file_id"] == by_batch[batch["id"]].input_file_id
        assert batch["request_counts"]["total"] == by_batch[batch["id"]].lines
    assert sum(b["request_counts"]["total"] for b in batches) == len(jobs)
    log = supervisor.log_text()
    if f"{CRASH_LOG_MARK}: after_batch_create" in log:  # a batch created before a crash was found again
        assert "adopted batch" in log
