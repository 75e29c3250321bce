"""The Batch API lane end to end on the simulator: input files, submission, following, recording, crashes."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
import pytest

from batchrunner.batch_lane import BatchLaneConfig
from batchrunner.jobs import BackendName, JobSpec
from batchrunner.simulator.config import SimConfig
from batchrunner.testing.harness import Crash, StepHarness, crash_once_at, job, query_rows, step_harness
from batchrunner.tokens import estimate_run_tokens

FAST_BATCHES = SimConfig(
    run_duration_min_s=2,
    run_duration_max_s=8,
    batch_validating_s=5,
    batch_line_s=2,
    batch_finalizing_s=5,
)


def _responses_job(custom_id: str, **fields: Any) -> JobSpec:
    return job(custom_id, backend=BackendName.RESPONSES, **fields)


def _jobs(url: str) -> dict[str, Any]:
    rows = query_rows(
        url,
        "SELECT custom_id, lane, state, attempt, total_tokens, output_text, error_code, api_batch_pk FROM jobs",
    )
    return {row.custom_id: row for row in rows}


def _sim_batches(harness: StepHarness) -> list[dict[str, Any]]:
    with httpx.Client(transport=harness.transport, base_url="http://sim") as client:
        return list(client.get("/v1/batches", params={"limit": 100}).json()["data"])


def _objects(url: str, custom_id: str) -> list[Any]:
    query = (
        "SELECT o.attempt, o.round, o.lane, o.status, o.total_tokens, o.kind FROM api_objects o"
        " JOIN jobs j ON j.id = o.job_id WHERE j.custom_id = :custom_id ORDER BY o.attempt, o.round"
    )
    return query_rows(url, query, custom_id=custom_id)


@pytest.mark.parametrize("database", ["sqlite_url", "postgres_url"])
def test_tool_less_jobs_with_a_day_to_spare_run_as_one_batch_per_model(
    request: pytest.FixtureRequest, database: str
) -> None:
    """Jobs due in two days go to the Batch API, one file per model; tool and near-deadline jobs do not."""
    url = request.getfixturevalue(database)
    specs = [
        _responses_job("a", deadline="2d", line_no=1),
        _responses_job("b", deadline="2d", line_no=2),
        _responses_job("mini", deadline="2d", params={"model": "gpt-4o"}, line_no=3),
        _responses_job("tools", assistant_id="asst_math", text="What is 6 * 7?", deadline="2d", line_no=4),
        _responses_job("soon", deadline="3h", line_no=5),
    ]
    with step_harness(url, FAST_BATCHES) as harness:
        harness.enqueue(specs)
        harness.drain()
        batches = _sim_batches(harness)
    jobs = _jobs(url)
    assert {name: (row.lane, row.state) for name, row in jobs.items()} == {
        "a": ("batch", "succeeded"),
        "b": ("batch", "succeeded"),
        "mini": ("batch", "succeeded"),
        "tools": ("background-8h", "succeeded"),
        "soon": ("background-2h", "succeeded"),
    }
    # One batch per model, each completed, each line answered.
    assert sorted((b["status"], b["request_counts"]["total"]) for b in batches) == [("completed", 1), ("completed", 2)]
    for name in ("a", "b", "mini"):
        row = jobs[name]
        assert row.output_text and row.total_tokens > 0 and row.attempt == 1
        objects = _objects(url, name)
        assert [(o.attempt, o.round, o.lane, o.status, o.kind) for o in objects] == [
            (1, 0, "batch", "completed", "response")
        ]
        assert objects[0].total_tokens == row.total_tokens
    assert jobs["a"].api_batch_pk == jobs["b"].api_batch_pk != jobs["mini"].api_batch_pk
    submissions = query_rows(url, "SELECT phase, api_status, lines, input_file_id, api_batch_id FROM api_batches")
    assert sorted((s.phase, s.api_status, s.lines) for s in submissions) == [
        ("done", "completed", 1),
        ("done", "completed", 2),
    ]
    messages = query_rows(
        url, "SELECT m.content_text FROM messages m JOIN jobs j ON j.id = m.job_id WHERE j.custom_id = 'a'"
    )
    assert [m.content_text for m in messages] == [jobs["a"].output_text]


def test_input_files_keep_within_the_line_limit(sqlite_url: str) -> None:
    specs = [_responses_job(f"j{n}", deadline="2d", line_no=n) for n in range(1, 6)]
    config = BatchLaneConfig(max_file_lines=2)
    with step_harness(sqlite_url, FAST_BATCHES, batch_lane=config) as harness:
        harness.enqueue(specs)
        harness.drain()
        batches = _sim_batches(harness)
    assert sorted(b["request_counts"]["total"] for b in batches) == [1, 2, 2]
    assert {row.state for row in _jobs(sqlite_url).values()} == {"succeeded"}


@pytest.mark.parametrize("point", ["after_batch_upload", "after_batch_create"])
def test_a_crash_between_upload_create_and_commit_submits_no_second_batch(sqlite_url: str, point: str) -> None:
    """The driver dies after the upload or the create, before the id is committed; the next round adopts."""
    hook, crashed = crash_once_at(point)
    specs = [_responses_job(f"j{n}", deadline="2d", line_no=n) for n in range(1, 4)]
    with step_harness(sqlite_url, FAST_BATCHES, fault_hook=hook) as harness:
        harness.enqueue(specs)
        with pytest.raises(Crash):
            harness.drain()
        assert crashed == [point]
        # A new driver takes the submission over once the dead one's lease has run out.
        harness.clock.advance_to(harness.clock.now + timedelta(seconds=BatchLaneConfig().lease_s + 1))
        harness.drain()
        batches = _sim_batches(harness)
    assert len(batches) == 1 and batches[0]["status"] == "completed"
    assert {row.state for row in _jobs(sqlite_url).values()} == {"succeeded"}
    assert {row.attempt for row in _jobs(sqlite_url).values()} == {1}


def test_an_expired_batch_s_lines_finish_in_another_lane_before_the_deadline(sqlite_url: str) -> None:
    """The batch expires before answering: each job gets a second attempt in the lane its time left allows."""
    sim = replace(FAST_BATCHES, batch_expire_rate=1.0)
    specs = [_responses_job(f"j{n}", deadline="25h", line_no=n) for n in range(1, 3)]
    # A round every 30 minutes: the batch's day passes in 48 rounds, not 2,880.
    with step_harness(sqlite_url, sim, batch_lane=BatchLaneConfig(check_interval_s=1800)) as harness:
        harness.enqueue(specs)
        harness.drain()
        batches = _sim_batches(harness)
    assert [b["status"] for b in batches] == ["expired"]
    for name, row in _jobs(sqlite_url).items():
        assert (row.state, row.attempt) == ("succeeded", 2), name
        # The second attempt ran in a lane whose window fit what was left of the deadline.
        assert row.lane in ("standard", "background-2h"), name
        assert [o.lane for o in _objects(sqlite_url, name)] == [row.lane]


def test_cancelling_the_batch_keeps_the_lines_answered_so_far(sqlite_url: str) -> None:
    sim = replace(FAST_BATCHES, batch_line_s=100)
    specs = [_responses_job(f"j{n}", deadline="2d", line_no=n) for n in range(1, 5)]
    with step_harness(sqlite_url, sim) as harness:
        harness.enqueue(specs)
        # Run until the batch has answered some lines, not all (a line every 100 s).
        while not any(b["request_counts"]["completed"] >= 2 for b in _sim_batches(harness)):
            harness.step() if harness.queue and harness.queue[0][0] <= harness.clock.now else harness.batch_round()
            harness.clock.advance_to(harness.clock.now + timedelta(seconds=30))
        harness.cancel_batch()
        harness.drain()
        batches = _sim_batches(harness)
    assert [b["status"] for b in batches] == ["cancelled"]
    states = sorted(row.state for row in _jobs(sqlite_url).values())
    answered = batches[0]["request_counts"]["completed"]
    assert 2 <= answered < 4
    assert states == sorted(["succeeded"] * answered + ["cancelled"] * (4 - answered))


def test_the_enqueued_token_limit_holds_jobs_back_until_a_batch_ends(sqlite_url: str) -> None:
    """With room for one job's tokens at a time, the jobs go in one batch after another, never two at once."""
    specs = [_responses_job(f"j{n}", deadline="3d", line_no=n) for n in range(1, 4)]
    limit = max(estimate_run_tokens(spec) for spec in specs) + 1
    config = BatchLaneConfig(default_enqueued_tokens=limit)
    with step_harness(sqlite_url, FAST_BATCHES, batch_lane=config) as harness:
        harness.enqueue(specs)
        harness.drain()
        batches = sorted(_sim_batches(harness), key=lambda b: b["created_at"])
    assert [b["request_counts"]["total"] for b in batches] == [1, 1, 1]
    for earlier, later in itertools.pairwise(batches):
        assert later["created_at"] >= earlier["completed_at"]
    assert {row.state for row in _jobs(sqlite_url).values()} == {"succeeded"}


def test_a_job_larger_than_the_enqueued_token_limit_runs_in_another_lane(sqlite_url: str) -> None:
    """A job that can never fit the model's enqueued-token limit takes the cheapest other lane at once."""
    specs = [_responses_job("big", deadline="3d")]
    config = BatchLaneConfig(default_enqueued_tokens=10)
    with step_harness(sqlite_url, FAST_BATCHES, batch_lane=config) as harness:
        harness.enqueue(specs)
        harness.drain()
        assert _sim_batches(harness) == []
    row = _jobs(sqlite_url)["big"]
    assert (row.state, row.attempt, row.lane, row.error_code) == ("succeeded", 2, "background-8h", None)


class _RefuseBatchCreation(httpx.BaseTransport):
    """Answers every ``POST /v1/batches`` 400, as the API does for a batch it will not take."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/batches":
            self.refused += 1
            error = {"message": "The batch cannot be created for this organization.", "type": "invalid_request_error"}
            return httpx.Response(400, json={"error": {**error, "code": "batch_not_allowed", "param": None}})
        return self._inner.handle_request(request)


def test_a_batch_the_api_refuses_sends_its_jobs_to_another_lane(sqlite_url: str) -> None:
    """A 400 on creating the batch is not retried forever: the jobs' next attempt runs in the cheapest other lane."""
    specs = [_responses_job(f"j{n}", deadline="3d", line_no=n) for n in range(1, 3)]
    with step_harness(sqlite_url, FAST_BATCHES) as harness:
        refusing = _RefuseBatchCreation(harness.outage._inner)
        harness.outage._inner = refusing
        harness.enqueue(specs)
        harness.drain()
    assert refusing.refused == 1
    jobs = _jobs(sqlite_url)
    assert {(row.state, row.attempt, row.lane) for row in jobs.values()} == {("succeeded", 2, "background-8h")}
    [submission] = query_rows(sqlite_url, "SELECT phase, api_batch_id, error_message FROM api_batches")
    assert submission.phase == "done" and submission.api_batch_id is None
    assert "cannot be created" in submission.error_message


def test_jobs_join_a_submission_in_slices_of_ids(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file's jobs are assigned a slice of ids per statement (SQLite binds at most 32,766): all of them."""
    monkeypatch.setattr("batchrunner.db.api_batches._IDS_PER_STATEMENT", 2)
    specs = [_responses_job(f"j{n}", deadline="2d", line_no=n) for n in range(1, 6)]
    with step_harness(sqlite_url, FAST_BATCHES) as harness:
        harness.enqueue(specs)
        harness.drain()
        batches = _sim_batches(harness)
    assert [b["request_counts"]["total"] for b in batches] == [5]
    assert {row.state for row in _jobs(sqlite_url).values()} == {"succeeded"}


class _SpoilSecondLine(httpx.BaseTransport):
    """Uploads the first input file with its second line sent to another endpoint: the batch fails validation."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self.spoiled = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/files" and not self.spoiled:
            self.spoiled = True
            content = request.read()
            first = content.index(b'"url":"/v1/responses"')
            second = content.index(b'"url":"/v1/responses"', first + 1)
            spoiled = content[:second] + b'"url":"/v1/responsez"' + content[second + 21 :]
            request = httpx.Request(request.method, request.url, headers=request.headers, content=spoiled)
        return self._inner.handle_request(request)


def test_a_batch_that_fails_validation_fails_the_line_it_names_and_moves_the_others(sqlite_url: str) -> None:
    """The failed batch's errors name line 2: that job fails with the API's reason, the others run elsewhere."""
    specs = [_responses_job(f"j{n}", deadline="3d", line_no=n) for n in range(1, 4)]
    with step_harness(sqlite_url, FAST_BATCHES) as harness:
        harness.outage._inner = _SpoilSecondLine(harness.outage._inner)
        harness.enqueue(specs)
        harness.drain()
        batches = sorted(_sim_batches(harness), key=lambda batch: batch["created_at"])
    assert [(b["status"], b["request_counts"]["total"]) for b in batches] == [("failed", 0), ("completed", 2)]
    [error] = batches[0]["errors"]["data"]
    assert (error["code"], error["line"]) == ("mismatched_endpoint", 2)
    jobs = _jobs(sqlite_url)
    assert (jobs["j2"].state, jobs["j2"].error_code) == ("failed", "mismatched_endpoint")
    for name in ("j1", "j3"):
        # Another attempt; the batch lane again (time is left), in a file whose lines are intact this time.
        assert (jobs[name].state, jobs[name].attempt) == ("succeeded", 2), name


class _RefuseFirstLook(httpx.BaseTransport):
    """Answers the first ``GET /v1/batches/{id}`` 400 (a server's hiccup once the batch exists)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self._inner = inner
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.startswith("/v1/batches/") and not self.refused:
            self.refused += 1
            return httpx.Response(400, json={"error": {"message": "Bad request.", "type": "invalid_request_error"}})
        return self._inner.handle_request(request)


def test_a_refusal_once_the_batch_exists_keeps_its_jobs_in_it(sqlite_url: str) -> None:
    """A 400 while following a created batch is retried: its jobs are not sent to another lane (they would
    run twice)."""
    specs = [_responses_job(f"j{n}", deadline="3d", line_no=n) for n in range(1, 3)]
    with step_harness(sqlite_url, FAST_BATCHES) as harness:
        refusing = _RefuseFirstLook(harness.outage._inner)
        harness.outage._inner = refusing
        harness.enqueue(specs)
        harness.drain()
        batches = _sim_batches(harness)
    assert refusing.refused == 1
    assert [(b["status"], b["request_counts"]["total"]) for b in batches] == [("completed", 2)]
    assert {(row.state, row.attempt, row.lane) for row in _jobs(sqlite_url).values()} == {("succeeded", 1, "batch")}
